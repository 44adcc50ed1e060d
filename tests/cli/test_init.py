"""`transform-core init`: a starter pipeline that catalog, generate, explain, reprocess and query take as it is."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from transform_core.cli import main
from transform_core.spec import load_spec


def test_the_starter_works_through_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "my-pipeline", "--name", "my-telemetry"]) == 0
    out = capsys.readouterr().out
    written = ["my-pipeline/pipeline.yaml", "my-pipeline/schemas/event.schema.json", "my-pipeline/devices.csv"]
    assert [line.removeprefix("wrote ") for line in out.splitlines()[:3]] == written
    assert "transform-core reprocess --spec my-pipeline/pipeline.yaml --report rejected.csv records.ndjson" in out
    spec = load_spec("my-pipeline/pipeline.yaml")
    assert spec.name == "my-telemetry" and [t.name for t in spec.enrich] == ["devices"]
    spec_arg = ["--spec", "my-pipeline/pipeline.yaml"]

    assert main(["catalog", *spec_arg, "--location", "s3://my-lake", "--database", "telemetry"]) == 0
    assert "`telemetry`.`my_telemetry`" in capsys.readouterr().out
    assert main(["generate", *spec_arg, "--count", "500", "--invalid", "0.1", "--output", "records.ndjson"]) == 0
    assert "500 records for my-telemetry" in capsys.readouterr().out
    assert main(["explain", *spec_arg, "--format", "json", "--line", "1", "records.ndjson"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["outcome"] in ("Ok", "Dropped", "ProcessingFailed")
    assert main(["reprocess", *spec_arg, "--workers", "1", "--quiet", "--report", "rejected.csv", "records.ndjson"]) == 0
    assert "rejected             50" in capsys.readouterr().out
    with open("rejected.csv", newline="", encoding="utf-8") as file:
        assert len(list(csv.DictReader(file))) == 50
    assert main(["query", *spec_arg, "--format", "json", "SELECT count(*) AS n FROM my_telemetry"]) == 0
    valid = len(Path("records.ndjson").read_text(encoding="utf-8").splitlines()) - 50
    assert 0 < json.loads(capsys.readouterr().out)[0]["n"] < valid  # the valid records but the dropped heartbeats


def test_existing_files_are_kept_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "pipe"
    (folder / "schemas").mkdir(parents=True)
    schema = folder / "schemas" / "event.schema.json"
    schema.write_text("{}")
    assert main(["init", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err == f"transform-core: error: init: {schema} exists: choose another folder, or pass --force to overwrite it\n"
    assert schema.read_text() == "{}" and not (folder / "pipeline.yaml").exists()  # nothing written
    assert main(["init", str(folder), "--force"]) == 0
    assert load_spec(str(folder / "pipeline.yaml")).name == "pipe"  # the folder's name


def test_a_name_that_cannot_name_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "p"), "--name", "my telemetry"]) == 1
    assert "--name cannot name a pipeline" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
