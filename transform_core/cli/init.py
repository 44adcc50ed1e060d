"""``transform-core init``: a starter pipeline (spec, JSON Schema, reference table) in a new folder."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands", "starter_files"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")  # a table name once '-' becomes '_' (catalog, query)
_TABLE = "devices"

_SPEC = """\
# The pipeline spec: every key is in docs/spec.md; relative paths resolve against this file's folder.
version: 1
name: {name}
schema: schemas/event.schema.json
event_time: {{field: event_time, format: iso8601, on_missing: reject}}
partitioning: {{granularity: day}}
enrich:                         # fields added to each record from a reference table, by key
  - {{name: {table}, source: {table}.csv, key: device_id, fields: [site, model], on_missing: keep}}
drop: {{field: event_type, in: [heartbeat]}}
output: {{lake: lake}}           # the Parquet lake reprocess writes and query reads
"""

_SCHEMA = """\
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Device event",
  "description": "One reading from a device. Replace it with the JSON Schema of your records.",
  "type": "object",
  "properties": {
    "event_id": {"type": "string", "format": "uuid"},
    "device_id": {"type": "string", "pattern": "^dev-[0-9]{4}$"},
    "event_time": {"type": "string", "format": "date-time"},
    "event_type": {"type": "string", "enum": ["reading", "alert", "heartbeat"]},
    "value": {"type": "number", "minimum": -1000, "maximum": 1000},
    "unit": {"type": "string", "enum": ["celsius", "percent", "volt"]}
  },
  "required": ["event_id", "device_id", "event_time", "event_type", "value"],
  "additionalProperties": true
}
"""

_SITES = ("north", "south", "east", "west")
_MODELS = ("TX-100", "TX-200", "RX-9")


def add_commands(commands: Commands) -> None:
    """Register ``init``."""
    cmd = commands.add_parser(
        "init",
        help="write a starter pipeline to a folder: spec, JSON Schema and a reference table",
        description=(
            f"Write DIR/pipeline.yaml, DIR/schemas/event.schema.json and DIR/{_TABLE}.csv: a working pipeline of device "
            "readings (validated, enriched with each device's site and model, partitioned by day, heartbeats dropped) "
            "that catalog, generate, explain, reprocess and query take as it is. Edit them into your own. Existing "
            "files are never overwritten without --force."
        ),
        epilog=("examples:\n  transform-core init my-pipeline\n  transform-core init pipelines/orders --name orders --force"),
    )
    cmd.add_argument("folder", metavar="DIR", help="the pipeline's folder (created if missing)")
    cmd.add_argument("--name", metavar="NAME", help="the pipeline's name: letters, digits, '_' and '-' (default: DIR's own name)")
    cmd.add_argument("--force", action="store_true", help="overwrite the files if they exist")
    cmd.set_defaults(run=_run)


def starter_files(name: str) -> dict[str, str]:
    """The starter's files, by path relative to its folder."""
    rows = [f"dev-{i:04d},{_SITES[i % len(_SITES)]},{_MODELS[i % len(_MODELS)]}" for i in range(20)]
    return {
        "pipeline.yaml": _SPEC.format(name=name, table=_TABLE),
        "schemas/event.schema.json": _SCHEMA,
        f"{_TABLE}.csv": "device_id,site,model\n" + "\n".join(rows) + "\n",
    }


def _run(args: argparse.Namespace) -> int:
    from transform_core.errors import TransformCoreError

    folder = Path(args.folder)
    name = args.name if args.name is not None else folder.resolve().name
    if not _NAME.fullmatch(name):
        where = "--name" if args.name is not None else f"the folder's name {name!r}"
        raise TransformCoreError(
            f"init: {where} cannot name a pipeline: use 1-100 letters, digits, '_' and '-', starting with a letter "
            "(pass --name NAME)"
        )
    files = {folder / path: text for path, text in starter_files(name).items()}
    if not args.force:
        for path in files:
            if path.exists():
                raise TransformCoreError(f"init: {path} exists: choose another folder, or pass --force to overwrite it")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    spec = folder / "pipeline.yaml"
    print(
        f"\nNext: edit {folder / 'schemas/event.schema.json'} to describe your records, then\n"
        f"  transform-core catalog --spec {spec} --location s3://my-lake --database {name.replace('-', '_').lower()}\n"
        f"  transform-core generate --spec {spec} --count 1000 --output records.ndjson\n"
        f"  transform-core explain --spec {spec} --line 1 records.ndjson\n"
        f"  transform-core reprocess --spec {spec} --report rejected.csv records.ndjson\n"
        f'  transform-core query --spec {spec} "SELECT count(*) FROM {name.replace("-", "_").lower()}"'
    )
    return 0
