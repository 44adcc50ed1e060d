"""The pipeline template's Glue table (``GlueTable`` in ``deploy/template.yaml``), generated from the spec.

The table is the raw zone as Firehose delivers it: :func:`~transform_core.lake.catalog.glue_table_input` for the
``firehose-parquet`` producer when the template's ``DeliveryFormat`` is ``Parquet`` and ``firehose-json`` when it
is ``JSON``, joined into one resource whose differing fields are ``!If [UseParquet, …, …]``, with the template's own
references for the bucket, the database and the table name. ``transform-core catalog --format cloudformation``
prints it as YAML, or puts it in place of the template's block (:func:`replace_raw_table`);
``tests/deploy/test_glue_table.py`` fails when the two differ.
"""

from __future__ import annotations

import json
import re
from typing import Any

from transform_core.lake.catalog import DEFAULT_YEARS, glue_table_input, table_name
from transform_core.spec import PipelineSpec

__all__ = ["RESOURCE", "raw_table_resource", "raw_table_yaml", "replace_raw_table"]

RESOURCE = "GlueTable"
# the template's names the resource refers to
_BUCKET, _DATABASE, _TABLE, _PARQUET = "RawBucket", "GlueDatabase", "TableName", "UseParquet"
_SENTINEL = "s3://raw-bucket"  # a location to generate with; every string under it becomes a !Sub of the bucket
_DESCRIPTION = "Raw zone written by Firehose; partitions come from projection (no crawler, no MSCK REPAIR)."
_HEADER = (
    "# Generated from the function's spec by `transform-core catalog --spec deploy/function/pipeline.yaml --format\n"
    '# cloudformation` (docs/deploy.md, "Catalog"): regenerate it after a change to the spec; do not edit it by hand.\n'
)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(::[A-Za-z0-9_.\-]+)*")
_KEYWORDS = re.compile(r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL")


def raw_table_resource(spec: PipelineSpec, *, years: tuple[int, int] = DEFAULT_YEARS) -> dict[str, Any]:
    """The ``AWS::Glue::Table`` resource, intrinsic functions in their long form (``{"Ref": …}``, ``{"Fn::If": …}``).

    Raises:
        SpecError: a name Glue cannot hold (see :func:`~transform_core.lake.catalog.glue_columns`).
        ValueError: a spec whose raw folder name is not lowercase: Firehose writes ``raw/<TableName>/`` with the
            template's lowercase ``TableName``, and ``compact`` reads ``raw/<spec name>/``.
    """
    parquet = glue_table_input(spec, _SENTINEL, years=years, producer="firehose-parquet")
    ndjson = glue_table_input(spec, _SENTINEL, years=years, producer="firehose-json")
    root = parquet["StorageDescriptor"]["Location"]
    if root != f"{_SENTINEL}/raw/{table_name(spec)}/":
        raise ValueError(f"the spec's name {spec.name!r} makes a raw folder that is not lowercase, as TableName is")
    table_input = _references(_either(parquet, ndjson), root)
    table_input = {"Name": {"Ref": _TABLE}, "TableType": table_input.pop("TableType"), "Description": _DESCRIPTION} | {
        key: value for key, value in table_input.items() if key != "Name"
    }
    properties = {"CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseName": {"Ref": _DATABASE}, "TableInput": table_input}
    return {"Type": "AWS::Glue::Table", "Properties": properties}


def raw_table_yaml(spec: PipelineSpec, *, years: tuple[int, int] = DEFAULT_YEARS) -> str:
    """:func:`raw_table_resource` as the template's YAML: the ``GlueTable:`` block indented under ``Resources:``,
    with a comment saying how it was made, in the template's short forms (``!Ref``, ``!Sub``, ``!If``)."""
    lines = _HEADER.splitlines() + [f"{RESOURCE}:"] + _block(raw_table_resource(spec, years=years), 1)
    return "".join(f"  {line}\n" for line in lines)


def replace_raw_table(template: str, spec: PipelineSpec, *, years: tuple[int, int] = DEFAULT_YEARS) -> str:
    """The template's text with its ``GlueTable`` block (and the generated comment above it) replaced by
    :func:`raw_table_yaml`; the rest of the text as it was.

    Raises:
        ValueError: the template has no ``GlueTable:`` resource, or more than one; and as :func:`raw_table_resource`.
    """
    lines = template.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == f"  {RESOURCE}:"]
    if len(starts) != 1:
        raise ValueError(f"the template must have one {RESOURCE} resource, found {len(starts)}")
    start = end = starts[0]
    header = [f"  {line}" for line in _HEADER.splitlines()]
    while start > 0 and lines[start - 1].rstrip("\r\n") in header:
        start -= 1
    while end + 1 < len(lines) and (not lines[end + 1].strip() or lines[end + 1].startswith("    ")):
        end += 1
    while not lines[end].strip():  # the blank lines after the block stay
        end -= 1
    return "".join(lines[:start]) + raw_table_yaml(spec, years=years) + "".join(lines[end + 1 :])


def _either(parquet: Any, ndjson: Any) -> Any:
    """One value for both delivery formats: the same where they agree, ``Fn::If`` on ``UseParquet`` where not."""
    if isinstance(parquet, dict) and isinstance(ndjson, dict) and parquet.keys() == ndjson.keys():
        return {key: _either(parquet[key], ndjson[key]) for key in parquet}
    return parquet if parquet == ndjson else {"Fn::If": [_PARQUET, parquet, ndjson]}


def _references(value: Any, root: str) -> Any:
    """Strings under the generated location as ``Fn::Sub`` of the bucket and table (``${!x}`` keeps ``${x}``)."""
    if isinstance(value, dict):
        return {key: _references(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [_references(item, root) for item in value]
    if isinstance(value, str) and value.startswith(root):
        rest = value[len(root) :].replace("${", "${!")
        return {"Fn::Sub": f"s3://${{{_BUCKET}}}/raw/${{{_TABLE}}}/{rest}"}
    return value


def _block(mapping: dict[str, Any], depth: int) -> list[str]:
    """A block mapping; lists of ``{"Name", "Type"}`` are flow mappings one a line, as the template writes them."""
    pad, lines = "  " * depth, []
    for key, value in mapping.items():
        if isinstance(value, dict) and not _intrinsic(value):
            lines += [f"{pad}{_scalar(key)}:", *_block(value, depth + 1)]
        elif isinstance(value, list):
            lines.append(f"{pad}{_scalar(key)}:")
            lines += [f"{pad}  - {{{', '.join(f'{k}: {_scalar(v)}' for k, v in item.items())}}}" for item in value]
        else:
            lines.append(f"{pad}{_scalar(key)}: {_flow(value)}")
    return lines


def _intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in {"Ref", "Fn::Sub", "Fn::If"}


def _flow(value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return f"!Ref {value['Ref']}"
    if isinstance(value, dict) and "Fn::Sub" in value:
        return f"!Sub {json.dumps(value['Fn::Sub'])}"
    if isinstance(value, dict) and "Fn::If" in value:
        return f"!If [{', '.join(_scalar(item) for item in value['Fn::If'])}]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    """A YAML scalar: plain when it reads back as the same string, else double-quoted (JSON's quoting is YAML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and _PLAIN.fullmatch(value) and not _KEYWORDS.fullmatch(value):
        return value
    return json.dumps(value if isinstance(value, str) else str(value))
