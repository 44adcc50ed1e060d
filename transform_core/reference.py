"""The reference implementation: the same spec, one record at a time, small and obvious.

It is the oracle of the differential tests, the baseline of the benchmarks, and the engine's
exact path for the few records its vectorized path cannot judge alone. Per record, in order:
base64 → UTF-8 → JSON (orjson: no NaN, no 1e400; the values as the json module reads them, every integer
exact) → no duplicate keys → an object → JSON Schema
(fastjsonschema, with transform-core's format checks and integers within int64) → drop rule →
event time → enrichment (dict lookups). :meth:`ReferencePipeline.failures` lists every rule a record breaks in that
order (the schema's rules named by :class:`~transform_core.schema.failures.SchemaFailures`); the first is the
record's reason, for the engine too. Output: the record's JSON with insignificant whitespace
removed, enrichment fields replacing same-named properties or appended, plus a newline. The Firehose response is
written record by record too (:meth:`ReferencePipeline.respond`): each Ok record with its partition keys, or with
an Iceberg destination its table (``otfMetadata``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import orjson

from transform_core.firehose.batch import RecordBatch
from transform_core.firehose.outcomes import DROPPED, FAILED, OK, Result, outcome_schema
from transform_core.firehose.response import otf_metadata
from transform_core.schema import child_path, compile_schema, format_reason, show_value
from transform_core.schema.failures import SchemaFailures, json_type
from transform_core.schema.formats import FORMAT_CHECKS, ecma_pattern, parse_date_time
from transform_core.schema.nesting import DEPTH_MESSAGE, MAX_DEPTH, may_nest_too_deep, nesting_depth
from transform_core.spec import PipelineSpec
from transform_core.spec.bindings import Bindings, bind_fields
from transform_core.spec.model import MAX_EPOCH_US, MIN_EPOCH_US
from transform_core.tables import ReferenceTable, TableCache

__all__ = ["Outcome", "ReferencePipeline", "canonical_base64", "value_at"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WHITESPACE = re.compile(r"[ \t\n\r]")
_INT64 = (-(2**63), 2**63 - 1)
_BIG_FLOAT = 2.0**63
_KEY_END = re.compile(rb'"[ \t\n\r]*:')  # the end of every key, and of any string holding '":' (never fewer)
_FLOAT64_MAX = int(sys.float_info.max)  # an integer beyond it may round to infinity as a 64-bit float


class Outcome(NamedTuple):
    """One record's outcome (a row of the outcome frame)."""

    result: Result
    data: str
    reason: str | None
    partition: tuple[str, ...] | None
    missed: tuple[str, ...] = ()  # an Ok record's tables with ``on_missing: keep`` that hold no row for its key


class _Reject(Exception):
    def __init__(self, path: str, message: str, rule: str) -> None:
        super().__init__(format_reason(path, message, rule))


@dataclass(slots=True)
class _Judged:
    """One record judged: every rule it breaks, or (none broken) whether it is dropped, else what its output needs."""

    reasons: list[str]
    dropped: bool = False
    text: str = ""
    value: dict[str, Any] = field(default_factory=dict)
    partition: tuple[str, ...] = ()
    enrichment: dict[str, str] = field(default_factory=dict)
    missed: tuple[str, ...] = ()  # the tables with ``on_missing: keep`` that hold no row for its key


class ReferencePipeline:
    """A pipeline spec applied record by record."""

    def __init__(
        self, spec: PipelineSpec, tables: tuple[ReferenceTable, ...] | None = None, bindings: Bindings | None = None
    ) -> None:
        self.spec = spec
        self.bindings = bindings or bind_fields(spec, compile_schema(spec.schema, file=spec.schema_file))
        if tables is None:
            cache = TableCache()
            tables = tuple(cache.get(t, k) for t, k in zip(spec.enrich, self.bindings.key_types, strict=True))
        self.tables = tables
        self._validator: Callable[[Any], Any] | None = None  # compiled on first use (see _validate)
        self._schema_failures = SchemaFailures(spec.schema, file=spec.schema_file)
        self._drop = {(_kind(v), v) for v in spec.drop.values} if spec.drop else set()
        self._keys = spec.partitioning.keys
        self._enrich_names = [name for t in tables for name in t.spec.fields]
        # the Iceberg table each Ok record goes to, as Firehose reads it
        self._otf = None if (iceberg := spec.output.route) is None else otf_metadata(iceberg)

    def process(self, batch: RecordBatch) -> Any:
        """The outcome frame of a batch (a polars DataFrame; see :mod:`transform_core.firehose.batch`)."""
        import polars as pl

        rows = [self.process_record(d, a) for d, a in zip(batch.data, batch.arrival_ms, strict=True)]
        parts = list(zip(*[r.partition or (None,) * len(self._keys) for r in rows], strict=True)) or [()] * len(self._keys)
        columns = {
            "record_id": batch.record_ids,
            "result": [r.result for r in rows],
            "data": [r.data for r in rows],
            "reason": [r.reason for r in rows],
            **{key: list(parts[i]) for i, key in enumerate(self._keys)},
        }
        return pl.DataFrame(columns, schema=outcome_schema(self._keys))

    def enrich_missed(self, batch: RecordBatch) -> dict[str, int]:
        """Per table with ``on_missing: keep``, in spec order: the batch's Ok records it holds no row for."""
        counts = dict.fromkeys((t.spec.name for t in self.tables if t.spec.on_missing == "keep"), 0)
        for data, arrival in zip(batch.data, batch.arrival_ms, strict=True):
            for name in self.process_record(data, arrival).missed:
                counts[name] += 1
        return counts

    def respond(self, batch: RecordBatch) -> bytes:
        """The Firehose response to a batch, as compact JSON bytes, one entry per record in order.

        An Ok record's ``metadata`` holds its ``partitionKeys``, or with ``output.delivery: iceberg`` the table as
        ``otfMetadata``; other records have none. Nothing is shed: this is the response of a batch that fits in
        Lambda's 6 MB.
        """
        entries: list[dict[str, Any]] = []
        for record_id, data, arrival in zip(batch.record_ids, batch.data, batch.arrival_ms, strict=True):
            outcome = self.process_record(data, arrival)
            entry: dict[str, Any] = {"recordId": record_id, "result": outcome.result, "data": outcome.data}
            if outcome.result == OK:
                keys = dict(zip(self._keys, outcome.partition or (), strict=True))
                entry["metadata"] = {"otfMetadata": self._otf} if self._otf else {"partitionKeys": keys}
            entries.append(entry)
        return orjson.dumps({"records": entries})

    def process_record(self, data: str, arrival_ms: int | None) -> Outcome:
        """Judge one record; never raises for bad data."""
        try:
            payload = _decode_base64(data)
        except _Reject as rejection:
            return Outcome(FAILED, data, str(rejection), None)
        judged = self._judge(payload, arrival_ms, validate=True)
        if judged.reasons:
            return Outcome(FAILED, data, judged.reasons[0], None)
        if judged.dropped:
            return Outcome(DROPPED, data, None, None)
        out = _output(_minify(judged.text), judged.value, judged.enrichment)
        return Outcome(OK, base64.b64encode(out.encode()).decode(), None, judged.partition, judged.missed)

    def failures(self, payload: bytes, arrival_ms: int | None = None) -> list[str]:
        """Every rule the record ``payload`` (its bytes, base64 decoded) breaks, as reasons, in the order of
        docs/spec.md: the first is the record's reason. Empty for a record that passes (``Ok`` or ``Dropped``).

        A record that is not UTF-8, not JSON, too deep, with a duplicate key or not an object breaks that one rule
        (nothing after it can be read); otherwise every failing schema rule is listed, then, unless the drop rule
        drops it, a bad event time and each reference table that rejects its key.
        """
        return self._judge(payload, arrival_ms, validate=False).reasons

    def first_failure(self, payload: bytes, arrival_ms: int | None = None) -> str | None:
        """The first rule the record ``payload`` breaks in the order of docs/spec.md, the first of :meth:`failures`
        found without listing the rest (a record that reads cleanly is parsed by orjson alone); None if it passes."""
        try:
            value = _quick_value(payload)
        except _Reject as rejection:
            return str(rejection)
        if (first := self._schema_failures.first(value)) is not None:
            return first
        if self._dropped(value):
            return None
        try:
            self._partition(value, arrival_ms)
        except _Reject as rejection:
            return str(rejection)
        for table, key_info in zip(self.tables, self.bindings.enrich_keys, strict=True):
            key = value_at(value, table.spec.record_key)
            if table.spec.on_missing == "reject" and table.texts_for(key) is None:
                return _not_in_table(key, table, key_info.path)
        return None

    def _judge(self, payload: bytes, arrival_ms: int | None, *, validate: bool) -> _Judged:
        """``validate``: the validator decides whether the schema passes (the record's outcome); else the listing
        alone does (a record the engine rejected, whose rules are wanted: fastjsonschema is not imported)."""
        try:
            text, value = _parse(payload)
        except _Reject as rejection:
            return _Judged([str(rejection)])
        reasons = self._check_schema(value) if validate else self._schema_failures.failures(value)
        if self._dropped(value):
            return _Judged(reasons, dropped=not reasons)
        partition: tuple[str, ...] = ()
        try:
            partition = self._partition(value, arrival_ms)
        except _Reject as rejection:
            reasons.append(str(rejection))
        enrichment: dict[str, str] = {}
        missed: list[str] = []
        for table, key_info in zip(self.tables, self.bindings.enrich_keys, strict=True):
            key = value_at(value, table.spec.record_key)
            texts = table.texts_for(key)
            if texts is None and table.spec.on_missing == "reject":
                reasons.append(_not_in_table(key, table, key_info.path))
            elif texts is None:
                missed.append(table.spec.name)
            enrichment.update(zip(table.spec.fields, texts or ("null",) * len(table.spec.fields), strict=True))
        return _Judged(reasons, text=text, value=value, partition=partition, enrichment=enrichment, missed=tuple(missed))

    def _check_schema(self, value: dict[str, Any]) -> list[str]:
        """Every schema rule ``value`` breaks: the validator decides whether any does, the failures list them."""
        import fastjsonschema

        try:
            self._validate(value)
        except fastjsonschema.JsonSchemaValueException as err:
            listed = self._schema_failures.failures(value)
            if listed:
                return listed
            # the validator names a failure the list does not: its own reason, so the record still fails
            path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (err.path or ["data"])[1:])
            message = err.message.removeprefix((err.name or "data") + " ")
            return [format_reason(path, message, err.rule or "schema")]
        return []

    def _validate(self, value: dict[str, Any]) -> None:
        """fastjsonschema's validator of the schema, compiled on first use: listing a rejected record's rules does
        not need it, so an engine that only lists them never imports it."""
        if self._validator is None:
            import fastjsonschema

            schema = {k: v for k, v in _for_fastjsonschema(self.spec.schema).items() if k != "$schema"}
            self._validator = fastjsonschema.compile(schema, formats=FORMAT_CHECKS)
        self._validator(value)

    def _dropped(self, value: dict[str, Any]) -> bool:
        """Whether the drop rule drops the record (``value`` read cleanly)."""
        drop = self.spec.drop
        return drop is not None and _scalar(v := value_at(value, drop.field)) and (_kind(v), v) in self._drop

    def _partition(self, value: dict[str, Any], arrival_ms: int | None) -> tuple[str, ...]:
        spec = self.spec.event_time
        path = self.bindings.event_time.path
        raw = value_at(value, spec.field)
        if raw is None:
            if spec.on_missing == "reject":
                raise _Reject(path, "event time is missing", "event_time")
            if arrival_ms is None:
                raise _Reject(path, "event time is missing and the record has no arrival time", "event_time")
            micros = arrival_ms * 1000
        elif spec.format == "iso8601":
            stamp = parse_date_time(raw) if isinstance(raw, str) else None
            if stamp is None:
                raise _Reject(path, f"{show_value(raw)} is not an RFC 3339 date-time", "event_time")
            micros = (stamp - _EPOCH) // timedelta(microseconds=1)
        else:
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                raise _Reject(path, f"expected epoch {spec.format.removeprefix('epoch_')}, got {json_type(raw)}", "event_time")
            scaled = float(raw) * (1e6 if spec.format == "epoch_seconds" else 1e3)
            micros = math.floor(scaled) if math.isfinite(scaled) else MAX_EPOCH_US + 1  # 1e308 s overflows: out of range
        if not MIN_EPOCH_US <= micros <= MAX_EPOCH_US:
            raise _Reject(path, "event time is outside the years 0001-9999 in UTC", "event_time")
        utc = _EPOCH + timedelta(microseconds=micros)
        return (f"{utc.year:04d}", f"{utc.month:02d}", f"{utc.day:02d}", f"{utc.hour:02d}")[: len(self._keys)]


def _parse(payload: bytes) -> tuple[str, dict[str, Any]]:
    """The record's text and its value: UTF-8, JSON, depth, duplicate keys and an object, in that order."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Reject("$", f"not valid UTF-8 at byte {err.start}", "utf8") from None
    try:
        orjson.loads(payload)  # strict RFC 8259
    except orjson.JSONDecodeError as err:
        if str(err).startswith("depth limit exceeded"):  # orjson stops at 1,024 levels: past the nesting limit
            raise _Reject("$", DEPTH_MESSAGE, "depth") from None
        if str(err).startswith("number is infinity") and (path := _beyond_float64(text)) is not None:
            raise _Reject(path, "number does not fit in a 64-bit float", "float64") from None
        raise _Reject("$", f"not valid JSON: {err}", "json") from None
    if may_nest_too_deep(payload) and nesting_depth(payload) > MAX_DEPTH:  # before a parse that recurses
        raise _Reject("$", DEPTH_MESSAGE, "depth")
    # the values as json reads them: orjson reads an integer beyond 64 bits (-2**63-1, 10**20+1) as the nearest
    # float, which may pass a bound the integer fails (int64, maximum: 1e20)
    value = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    if not isinstance(value, dict):
        raise _Reject("$", f"expected object, got {json_type(value)}", "type")
    return text, value


def _quick_value(payload: bytes) -> dict[str, Any]:
    """The record's value as :func:`_parse` reads it, by orjson alone when that gives the same: not deep, an object,
    as many keys as the text has key ends (a duplicate key collapses; a string holding '":' only sends the record
    the slow way), and no float beyond int64's range (orjson reads an integer beyond 64 bits as a float)."""
    if not may_nest_too_deep(payload):
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            value = None
        if type(value) is dict and len(_KEY_END.findall(payload)) == _keys_if_exact(value):
            return value
    return _parse(payload)[1]


def _keys_if_exact(value: Any) -> int:
    """The keys in ``value``, or -1 if it holds a float as large as an int64 (perhaps an integer orjson rounded)."""
    keys = 0
    items = value.values() if type(value) is dict else value
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            inner = _keys_if_exact(item)
            if inner < 0:
                return -1
            keys += inner
        elif kind is float and not -_BIG_FLOAT < item < _BIG_FLOAT:
            return -1
    return keys + len(value) if type(value) is dict else keys


def _beyond_float64(text: str) -> str | None:
    """The path of the first number in ``text`` beyond a 64-bit float (``1e400``, ``-1e400``, 10**400), if the text
    is JSON but for such numbers; else None."""

    def no_constants(name: str) -> Any:
        raise ValueError(name)  # NaN, Infinity: not JSON

    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return None
    pending: list[tuple[str, Any]] = [("$", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            pending.extend(reversed([(child_path(path, k), v) for k, v in item.items()]))
        elif isinstance(item, list):
            pending.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(item)]))
        elif _infinite(item):
            return path
    return None


def _infinite(item: Any) -> bool:
    """A number a 64-bit float reads as infinity."""
    if isinstance(item, float):
        return math.isinf(item)
    if not isinstance(item, int) or isinstance(item, bool) or abs(item) <= _FLOAT64_MAX:
        return False
    try:
        float(item)
    except OverflowError:
        return True
    return False


def _not_in_table(key: Any, table: ReferenceTable, path: str) -> str:
    """The reason of a key that ``table`` (with ``on_missing: reject``) does not hold."""
    return format_reason(path, f"{show_value(key)} is not in reference table {table.spec.name!r}", "enrich")


def canonical_base64(data: str) -> bytes | None:
    """The bytes of canonical standard base64 (RFC 4648 §4: padded, no whitespace, zero trailing bits); None for
    anything else."""
    try:
        encoded = data.encode("ascii")
        payload = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return payload if binascii.b2a_base64(payload, newline=False) == encoded else None


def _decode_base64(data: str) -> bytes:
    payload = canonical_base64(data)
    if payload is None:
        raise _Reject("$", "record data is not valid base64", "base64")
    return payload


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)  # in C; the key is looked for only when there is one
    if len(members) == len(pairs):
        return members
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Reject("$", f"duplicate key {key!r} (parsers disagree on which one wins)", "duplicate_key")
        seen.add(key)
    raise AssertionError("unreachable: fewer members than pairs means a repeated key")


def _minify(text: str) -> str:
    """The text without whitespace between tokens (msgspec's formatter keeps every token as written)."""
    if _WHITESPACE.search(text) is None:
        return text
    return msgspec.json.format(text, indent=-1)


def _output(minified: str, value: dict[str, Any], enrichment: dict[str, str]) -> str:
    """The record's minified JSON with enrichment fields replacing or appended, newline-terminated."""
    if not enrichment:
        return minified + "\n"
    if not any(name in value for name in enrichment):
        suffix = "".join(f",{orjson.dumps(k).decode()}:{v}" for k, v in enrichment.items())
        return ("{" + suffix[1:] + "}" if minified == "{}" else minified[:-1] + suffix + "}") + "\n"
    members = {k: bytes(v).decode() for k, v in msgspec.json.decode(minified, type=dict[str, msgspec.Raw]).items()}
    members.update(enrichment)
    return "{" + ",".join(f"{orjson.dumps(k).decode()}:{v}" for k, v in members.items()) + "}\n"


def value_at(value: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted field path (``device.id``) of a record's value; None where the path is absent."""
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)  # type: ignore[assignment]
    return value


def _scalar(value: Any) -> bool:
    """False for an object or an array: they equal no drop value (strings and integers), and cannot be looked up."""
    return not isinstance(value, dict | list)


def _kind(value: Any) -> str:
    """Type tag for JSON equality: 1 == 1.0 but "1" != 1 and true != 1."""
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _for_fastjsonschema(schema: Any) -> Any:
    """A copy of ``schema`` with transform-core's rules made explicit for fastjsonschema.

    Integer-typed subschemas also bound values to int64, and patterns are translated to the
    ECMA-262 reading of ``$`` (see :func:`transform_core.schema.formats.ecma_pattern`).
    """
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            types = node.get("type")
            types = types if isinstance(types, list) else [types]
            if "integer" in types and "number" not in types:
                node["minimum"] = max(node.get("minimum", _INT64[0]), _INT64[0])
                node["maximum"] = min(node.get("maximum", _INT64[1]), _INT64[1])
            if isinstance(node.get("pattern"), str):
                node["pattern"] = ecma_pattern(node["pattern"])
            if isinstance(node.get("patternProperties"), dict):
                node["patternProperties"] = {ecma_pattern(k): v for k, v in node["patternProperties"].items()}
            for key, child in node.items():
                if key not in ("enum", "const", "default", "examples", "required"):
                    visit(child)

    visit(schema)
    return schema
