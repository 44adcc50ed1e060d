"""`transform-core generate`: sample NDJSON for any spec, repeatable for a seed and a window, which reprocess agrees with."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.specs import SPECS
from transform_core.cli import main

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "iot" / "pipeline.yaml"
END = ["--end", "2026-11-20T12:00:00Z"]


def test_records_go_to_stdout_and_the_summary_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--spec", str(EXAMPLE_SPEC), "--count", "60", "--seed", "2", *END]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 60
    assert sum(line.startswith("{") and line.endswith("}") for line in lines) >= 54  # the not_json ones are cut short
    assert captured.err.startswith("60 records for iot-telemetry to stdout, event times from 2026-11-17T12:00:00Z to ")
    assert re.search(r": \d+ valid, \d+ to drop, 6 invalid \(", captured.err)


def test_the_same_seed_and_end_give_the_same_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--spec", str(EXAMPLE_SPEC), "--count", "200", "--invalid", "0.3", *END]
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert main([*argv, "--seed", seed, "--output", str(tmp_path / f"{name}.ndjson")]) == 0
    assert (tmp_path / "a.ndjson").read_bytes() == (tmp_path / "b.ndjson").read_bytes()
    assert (tmp_path / "a.ndjson").read_bytes() != (tmp_path / "c.ndjson").read_bytes()
    assert capsys.readouterr().out.startswith(f"200 records for iot-telemetry to {tmp_path / 'a.ndjson'}, ")


def test_reprocess_counts_what_generate_says(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "exotic.yaml"
    spec.write_text(yaml.safe_dump(SPECS["exotic"]))  # an inline schema, hourly partitions, enrichment that rejects
    records = tmp_path / "records.ndjson"
    assert main(["generate", "--spec", str(spec), "--count", "500", "--invalid", "0.2", "--output", str(records), *END]) == 0
    said = capsys.readouterr().out
    valid, dropped, invalid = (int(n) for n in re.findall(r"(\d+) valid, (\d+) to drop, (\d+) invalid", said)[0])
    assert (valid + dropped, invalid) == (400, 100)
    assert main(["reprocess", "--spec", str(spec), "--dry-run", str(records)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^ok\s+{valid:,}$", out, re.MULTILINE), out
    assert re.search(rf"^rejected\s+{invalid:,}$", out, re.MULTILINE), out
    assert re.search(rf"^dropped\s+{dropped:,}$", out, re.MULTILINE), out


def test_a_spec_without_room_for_some_kinds_gets_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "epoch.json"
    spec.write_text(json.dumps(SPECS["epoch-seconds"]))
    assert main(["generate", "--spec", str(spec), "--count", "20", "--invalid", "1", *END]) == 0
    assert capsys.readouterr().err.endswith("0 valid, 0 to drop, 20 invalid (not_json 10, wrong_type 10)\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--invalid", "2"], "argument --invalid/--invalid-fraction: must be between 0 and 1, got 2.0"),
        (["--count", "-1"], "argument --count: must be at least 0, got -1"),
        (["--end", "tomorrow"], "argument --end: not an ISO 8601 time: 'tomorrow'"),
    ],
)
def test_bad_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--spec", str(EXAMPLE_SPEC), *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_spec_no_record_passes_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    never = {"type": "string", "minLength": 3, "maxLength": 2}
    schema = {"type": "object", "properties": {"a": never, "t": {"type": "string"}}, "required": ["a"]}
    spec = tmp_path / "never.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "name": "never", "schema": schema, "event_time": {"field": "t"}}))
    assert main(["generate", "--spec", str(spec), "--count", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("transform-core: error: ") and "cannot generate a record this pipeline accepts" in err
    assert err.count("\n") == 1
