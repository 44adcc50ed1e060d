"""Bad configuration fails on the driver before any Spark work; nothing but the Spark adapter imports pyspark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.spark import ROOT, SPEC
from transform_core.cli import main
from transform_core.errors import SpecError


class NoSpark:
    """Stands in for a SparkSession that must not be touched."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Spark was used ({name}) before the configuration was checked")


def test_a_spec_error_stops_the_command_before_a_jvm_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from transform_core.adapters.spark import job

    monkeypatch.setattr(job, "spark_session", NoSpark().__getattr__)
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps({"version": 1, "name": "x", "schema": "missing.schema.json", "event_time": {"field": "t"}}))
    assert main(["spark-reprocess", "--spec", str(spec), str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(spec) in err and "schema" in err and "file not found" in err


def test_a_bad_reference_table_fails_at_start_up_naming_the_table(tmp_path: Path) -> None:
    from transform_core.adapters.spark.job import SparkReprocessOptions, spark_reprocess

    table = tmp_path / "devices.csv"
    table.write_text("device_id,site,model\ndev-0001,a,b\ndev-0001,c,d\n")
    spec = {
        "version": 1,
        "name": "x",
        "schema": str(ROOT / "examples" / "iot" / "schemas" / "iot_event.schema.json"),
        "event_time": {"field": "event_time"},
        "enrich": [{"name": "devices", "source": str(table), "key": "device_id", "fields": ["site"]}],
    }
    (tmp_path / "pipeline.json").write_text(json.dumps(spec))
    options = SparkReprocessOptions(spec=str(tmp_path / "pipeline.json"), lake=str(tmp_path / "lake"))
    with pytest.raises(SpecError, match="more than once") as raised:
        spark_reprocess(NoSpark(), [str(tmp_path)], options)  # type: ignore[arg-type]
    assert raised.value.file == str(table)


def test_a_run_id_that_cannot_name_a_file_is_refused_before_spark_work(tmp_path: Path) -> None:
    from transform_core.adapters.spark.job import SparkReprocessOptions, spark_reprocess

    with pytest.raises(ValueError, match="run id must be a plain name"):
        spark_reprocess(NoSpark(), [str(tmp_path)], SparkReprocessOptions(spec=str(SPEC), run_id="../x"))  # type: ignore[arg-type]


def test_a_property_named_like_an_outcome_column_is_a_spec_error(tmp_path: Path) -> None:
    from transform_core import load_pipeline
    from transform_core.adapters.spark._apply import outcome_schema

    schema = {"type": "object", "properties": {"t": {"type": "string"}, "_reason": {"type": "string"}}}
    pipeline = load_pipeline({"version": 1, "name": "x", "schema": schema, "event_time": {"field": "t"}})
    with pytest.raises(SpecError, match="'_reason' has the name of a column the Spark adapter adds") as raised:
        outcome_schema(pipeline)
    assert raised.value.key == "/properties/_reason"


CHILD = """
import sys
import transform_core.adapters.firehose
from transform_core.cli import build_parser
build_parser().parse_args(["spark-reprocess", "--spec", "s.yaml", "in"])
print(sorted(name for name in ("pyspark", "pyarrow", "py4j") if name in sys.modules))
"""


def test_the_lambda_handler_and_the_command_line_do_not_import_pyspark() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"
