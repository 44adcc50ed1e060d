"""`transform-core demo`: generated telemetry through the example pipeline (the default spec) or a given one."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from transform_core import RecordBatch, load_spec
from transform_core.cli import main
from transform_core.demo import run as demo_run
from transform_core.demo.generate import iot_payloads
from transform_core.reference import ReferencePipeline

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"


def test_the_default_spec_runs_and_matches_the_generator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--records", "300"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"transform-core demo: {EXAMPLE_SPEC} (loaded in ")
    assert "generator expected ok 255 / failed 30 / dropped 15: as generated" in out
    assert "top rejection reasons" in out and "partitions hit" in out and "throughput: 300 records" in out
    # the generator's unknown devices: as many as the reference counts on the same records
    payloads = iot_payloads(300, 0.1, 0)
    batch = RecordBatch([str(i) for i in range(300)], [base64.b64encode(p.data).decode() for p in payloads], [None] * 300)
    missed = ReferencePipeline(load_spec(EXAMPLE_SPEC)).enrich_missed(batch)["devices"]
    assert missed > 0 and f"(of the Ok, {missed:,} had no row in reference table 'devices': its fields are null)" in out


def test_options_reach_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--spec", str(EXAMPLE_SPEC), "--records", "40", "--invalid-fraction", "0", "--seed", "3"]
    assert main([*argv, "--batch-records", "7"]) == 0
    out = capsys.readouterr().out
    assert "generated 40 records (0 invalid, " in out and " in 6 Firehose events" in out
    assert ": as generated" in out and "top rejection reasons" not in out


def test_without_a_checkout_the_default_spec_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo_run, "EXAMPLE_SPEC", tmp_path / "examples" / "iot" / "pipeline.yaml")
    assert main(["demo", "--records", "10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("transform-core: error: cannot find the example spec") and "pass --spec PATH" in err


def test_another_spec_gets_records_drawn_from_its_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from tests.helpers.specs import SPECS

    spec = tmp_path / "exotic.yaml"
    spec.write_text(yaml.safe_dump(SPECS["exotic"]))
    assert main(["demo", "--spec", str(spec), "--records", "400", "--invalid-fraction", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "generated 400 records (100 invalid, " in out and " to drop) in 1 Firehose event, " in out
    assert "generator expected ok " in out and ": as generated" in out
    assert "partitions hit" in out and "year=2026/month=11/day=2" in out and "/hour=" in out  # the default window, hourly
