"""What a user who gets something wrong sees: one line with one prefix (``--debug`` adds the traceback), the
subcommand's own usage on a bad flag, paths as the user means them, ``output.lake`` on S3 as ``--lake`` takes it, and
a spec the lake refuses that the Lambda handler still runs (docs/spec.md, "Names the lake keeps for itself")."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from transform_core.adapters import firehose
from transform_core.cli import build_parser, main
from transform_core.demo.generate import firehose_event, iot_payloads

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "examples" / "iot" / "pipeline.yaml")
SCHEMA = ROOT / "examples" / "iot" / "schemas" / "iot_event.schema.json"
ERROR = re.compile(r"transform-core(?: [a-z][a-z-]*)*: error: \S")


def command_parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand (``layer build`` included) with its parser, an alias's parser once."""
    pending: list[tuple[str, argparse.ArgumentParser]] = [("", build_parser())]
    seen: set[int] = set()
    while pending:
        name, parser = pending.pop(0)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending += [(f"{name} {sub_name}".strip(), sub) for sub_name, sub in action.choices.items()]
        if name and id(parser) not in seen:
            seen.add(id(parser))
            yield name, parser


COMMANDS = [name for name, _ in command_parsers()]


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.ndjson"
    path.write_bytes(b"\n".join(p.data for p in iot_payloads(60, 0.1, seed=5) if not p.corrupt_base64) + b"\n")
    return path


def spec_file(folder: Path, *, lake: str = "lake", extra_property: str | None = None) -> Path:
    """The example spec's schema (plus ``extra_property``, a string) in ``folder``, its output.lake ``lake``."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = json.loads(SCHEMA.read_text())
    if extra_property is not None:
        schema["properties"][extra_property] = {"type": "string"}
    (folder / "schema.json").write_text(json.dumps(schema))
    spec = {"version": 1, "name": "iot-telemetry", "schema": "schema.json", "event_time": {"field": "event_time"}}
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(spec | {"output": {"lake": lake}}))
    return folder / "pipeline.yaml"


# --- one line, one prefix; --debug shows the traceback ---------------------------------------------------------------


def failing_commands(tmp_path: Path, records: Path) -> dict[str, list[str]]:
    """A command per kind of mistake, each of which must fail in one line."""
    (tmp_path / "a-file").write_text("")
    lake_file = str(tmp_path / "a-file")
    missing = str(tmp_path / "missing.ndjson")
    return {
        "missing spec": ["reprocess", "--spec", str(tmp_path / "nope.yaml"), str(records)],
        "missing input": ["reprocess", "--spec", SPEC, "--dry-run", missing],
        "malformed partition": ["compact", "--spec", SPEC, "--lake", str(tmp_path), "--partition", "2025-12-01"],
        "expire a file": ["expire", "--spec", SPEC, "--lake", lake_file],
        "query a file": ["query", "--spec", SPEC, "--lake", lake_file, "SELECT 1"],
        "dashboard a file": ["dashboard", "--spec", SPEC, "--lake", lake_file, "--output", str(tmp_path / "d.html")],
        "export a file": ["export", "--spec", SPEC, "--lake", lake_file, "--target", "value", "--output", str(tmp_path / "o")],
        "generate missing spec": ["generate", "--spec", str(tmp_path / "nope.yaml")],
        "demo missing spec": ["demo", "--spec", str(tmp_path / "nope.yaml")],
        "local without spec": ["local"],
        "send missing file": ["send", missing],
        "spark missing input": ["spark-reprocess", "--spec", SPEC, "--lake", str(tmp_path / "lake"), missing],
        "reject rate": ["reprocess", "--spec", SPEC, "--dry-run", "--max-reject-rate", "0", str(records)],
    }


@pytest.mark.parametrize(
    "mistake",
    [
        "missing spec",
        "missing input",
        "malformed partition",
        "expire a file",
        "query a file",
        "dashboard a file",
        "export a file",
        "generate missing spec",
        "demo missing spec",
        "local without spec",
        "send missing file",
        "spark missing input",
        "reject rate",
    ],
)
def test_every_error_is_one_line_with_the_one_prefix(
    mistake: str, tmp_path: Path, records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = failing_commands(tmp_path, records)[mistake]
    assert main(argv) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and ERROR.match(errors[0]), err
    assert errors[0] == err.splitlines()[-1] and "Traceback" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_raises_what_the_one_line_describes(where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transform_core.errors import SpecError

    argv = ["reprocess", "--spec", str(tmp_path / "nope.yaml"), "--dry-run", "x.ndjson"]
    assert main(argv) == 1
    line = capsys.readouterr().err
    with pytest.raises(SpecError) as raised:
        main(["--debug", *argv] if where == "before" else [*argv, "--debug"])
    assert line == f"transform-core: error: {raised.value}\n" and "nope.yaml: cannot read spec" in line


def test_debug_prints_the_traceback_of_an_error_a_command_reports_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compact", "--spec", SPEC, "--lake", str(tmp_path), "--partition", "2025-12-01"]
    assert main([*argv, "--debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "ValueError: --partition '2025-12-01'" in err
    assert err.splitlines()[-1].startswith("transform-core compact: error: --partition '2025-12-01': ")
    assert main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err  # and without --debug, the line alone


# --- a bad flag: the subcommand's own usage ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_flag_shows_the_subcommands_own_usage(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--no-such-flag"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    prog = dict(command_parsers())[command].prog  # an alias is told with its command's name
    assert err.startswith(f"usage: {prog} ") and f"\n{prog}: error: " in err, err


@pytest.mark.parametrize("command", ["demo", "local", "layer build"])
def test_a_command_without_required_arguments_names_the_unknown_flag(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command.split(), "--no-such-flag"])
    assert capsys.readouterr().err.endswith(f"transform-core {command}: error: unrecognized arguments: --no-such-flag\n")


# --- paths as the user means them ----------------------------------------------------------------------------------------


def test_a_lake_given_as_dot_slash_is_the_same_lake(
    tmp_path: Path, records: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["reprocess", "--spec", SPEC, "--lake", "./lake//", "--workers", "1", "--quiet", str(records)]) == 0
    out = capsys.readouterr().out
    ok = int(re.search(r"^ok\s+(\d+)", out, re.MULTILINE)[1])  # type: ignore[index]
    assert ok > 0 and "not read in full" not in out
    assert (
        main(["query", "--spec", SPEC, "--lake", "./lake", "--format", "csv", "SELECT count(*) AS n FROM raw_iot_telemetry"]) == 0
    )
    assert capsys.readouterr().out == f"n\n{ok}\n"


def test_paths_in_messages_are_normalised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("")
    assert main(["reprocess", "--spec", SPEC, "--dry-run", "./in//nope.ndjson"]) == 1
    assert capsys.readouterr().err.startswith("transform-core: error: in/nope.ndjson: ")
    assert main(["expire", "--spec", SPEC, "--lake", "./taken//"]) == 1
    assert capsys.readouterr().err == (
        "transform-core expire: error: no lake at taken: a file, not a folder; give --lake the folder compact wrote the "
        "curated table in\n"
    )


# --- output.lake on S3 -------------------------------------------------------------------------------------------------


def test_output_lake_takes_an_s3_prefix_as_lake_does(
    s3_bucket: str, records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transform_core.spec import load_spec

    spec = spec_file(tmp_path / "p", lake=f"s3://{s3_bucket}/lake/")
    assert load_spec(spec).output.lake == f"s3://{s3_bucket}/lake"
    assert main(["reprocess", "--spec", str(spec), "--workers", "1", "--quiet", str(records)]) == 0
    out = capsys.readouterr().out
    ok = int(re.search(r"^ok\s+(\d+)", out, re.MULTILINE)[1])  # type: ignore[index]
    assert main(["query", "--spec", str(spec), "--format", "csv", "SELECT count(*) AS n FROM raw_iot_telemetry"]) == 0
    assert capsys.readouterr().out == f"n\n{ok}\n" and ok > 0


def test_an_s3_output_lake_without_a_bucket_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, lake="s3:///lake")
    assert main(["reprocess", "--spec", str(spec), "--dry-run", "x.ndjson"]) == 1
    assert capsys.readouterr().err == (
        f"transform-core: error: {spec}: output.lake: 's3:///lake' names no bucket: write s3://bucket or s3://bucket/prefix\n"
    )


def test_local_asks_for_a_folder_when_output_lake_is_s3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, lake="s3://bucket/lake")
    assert main(["local", "--spec", str(spec)]) == 1
    assert capsys.readouterr().err == (
        f"transform-core local: error: --lake is required: {spec}'s output.lake is s3://bucket/lake; local writes to a folder\n"
    )


# --- a property named like a lake column: the lake refuses it, the handler runs it ------------------------------------


@pytest.mark.parametrize("dry_run", [True, False])
def test_reprocess_refuses_what_the_handler_runs(
    dry_run: bool, tmp_path: Path, records: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path, extra_property="year")
    assert main(["reprocess", "--spec", str(spec), *(["--dry-run"] if dry_run else []), str(records)]) == 1
    assert "property 'year' has the name of a column the lake adds" in capsys.readouterr().err

    payloads = [p for p in iot_payloads(20, 0.0, seed=9) if json.loads(p.data)["event_type"] != "heartbeat"]
    sent = [dataclasses.replace(p, data=p.data[:-1] + b',"year":"1999"}') for p in payloads]
    monkeypatch.setenv(firehose.SPEC_ENV, str(spec))
    monkeypatch.setattr(firehose, "_PIPELINE", None)  # a new container: the spec is loaded at its first event
    response = json.loads(firehose.handler(firehose_event(sent)))
    assert [r["result"] for r in response["records"]] == ["Ok"] * len(sent)
    back = [json.loads(base64.b64decode(r["data"])) for r in response["records"]]
    assert back == [json.loads(p.data) for p in sent] and back[0]["year"] == "1999"  # its own "year" kept
    first = json.loads(payloads[0].data)["event_time"]
    assert response["records"][0]["metadata"]["partitionKeys"]["year"] == first[:4] != "1999"
