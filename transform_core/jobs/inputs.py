"""Reprocessing inputs: files of records, read back as :class:`RecordBatch` chunks with stable ids.

Input kinds, detected per file from its first line (``kind=`` overrides), each plain or gzip (by magic bytes):

- ``ndjson``: a record per line; a line that is not JSON is still a record, for the pipeline to reject with a reason.
- ``firehose-backup``: Firehose's S3 backup objects; NDJSON, or JSON values concatenated on a line (``{..}{..}``),
  split into a record each.
- ``processing-failed`` (Firehose's error output) and ``errors`` (transform-core's, with ``recordId`` and
  ``reason``): JSON lines whose ``rawData`` (base64) is replayed as is; a line without one stays a record.

Blank lines are not records. Ids are deterministic, so rerunning the same command rewrites the same files:
a chunk's batch id hashes the file's URI, size and content digest, the kind, ``chunk_size`` and the chunk index,
and a record id is ``<batch_id>-<line>`` (``<line>.<k>`` for the k-th of several values on one backup line).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import zlib
from binascii import b2a_base64
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from glob import glob, has_magic
from itertools import chain
from typing import Any, Literal, NamedTuple, cast, get_args

import orjson

from transform_core.errors import TransformCoreError
from transform_core.firehose.batch import RecordBatch, parse_arrival, plausible_arrival

__all__ = [
    "InputChunk",
    "InputError",
    "InputKind",
    "iter_chunks",
    "list_inputs",
    "list_local_files",
    "read_file_chunks",
    "read_local_bytes",
]

InputKind = Literal["ndjson", "firehose-backup", "processing-failed", "errors"]
KINDS: tuple[str, ...] = get_args(InputKind)
ReadBytes = Callable[[str], bytes]
ListFiles = Callable[[str], Iterable[str]]

_GZIP_MAGIC = b"\x1f\x8b\x08"  # deflate, the only method gzip defines
_CHUNK = 8 << 20  # lines are cut from 8 MiB pieces, so a file is never held twice over
_ERROR_KEYS = ("recordId", "reason")  # transform-core's errors/ lines carry these; Firehose's do not
_VALUE_START = re.compile(r"[^ \t\r]")
_DECODER = json.JSONDecoder()


class InputError(TransformCoreError):
    """An input cannot be read: missing, unlisted, or not decompressible.

    Attributes:
        file: the path, glob or URI at fault.
    """

    def __init__(self, message: str, *, file: str) -> None:
        self.message = message
        self.file = file
        super().__init__(f"{file}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only arguments: rebuild explicitly, or a worker process cannot send it back
        return (_input_error, (self.message, self.file))


def _input_error(message: str, file: str) -> InputError:
    return InputError(message, file=file)


@dataclass(frozen=True, slots=True)
class InputChunk:
    """One chunk of one input file, ready for ``Pipeline.process``.

    Attributes:
        batch: the chunk's records, one engine call; ``data`` is base64 of each record's raw bytes (an error file's ``rawData`` as is).
        source: the file it came from (absolute path or URI).
        first_line: 1-based line number of the chunk's first record.
        batch_id: 16 hex characters, the same on every run over the same input.
        kind: the input kind the file was read as.
        nbytes: uncompressed bytes of its records' lines, newlines not counted (for throughput).
        last: whether this is the file's last chunk.
    """

    batch: RecordBatch
    source: str
    first_line: int
    batch_id: str
    kind: InputKind
    nbytes: int
    last: bool


def read_local_bytes(uri: str) -> bytes:
    """Read a local file whole; ``s3://`` needs the lake's ``read_bytes`` passed in instead."""
    if "://" in uri:
        raise InputError("only local files are readable by default; pass read_bytes= for remote URIs", file=uri)
    try:
        with open(uri, "rb") as file:
            return file.read()
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", file=uri) from err


def list_local_files(prefix: str) -> list[str]:
    """Every file under a local folder, recursively and sorted, skipping names that start with ``.`` or ``_``."""
    if "://" in prefix:
        raise InputError("only local folders are listable by default; pass list_files= for remote URIs", file=prefix)
    found: list[str] = []
    for root, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        found.extend(os.path.join(root, name) for name in files if not _hidden(name))
    return sorted(found)


def list_inputs(paths: Sequence[str], *, list_files: ListFiles = list_local_files) -> list[str]:
    """Expand files, globs, folders and ``s3://`` prefixes into a sorted, de-duplicated list per argument.

    Raises:
        InputError: a path that does not exist, or a glob or prefix that matches no file.
    """
    found: dict[str, None] = {}  # ordered set: the same file named twice is read once
    for path in paths:
        if "://" in path:
            names = [name for name in list_files(path) if not _hidden_below(name, path)]
        elif has_magic(path):
            names = []
            for match in sorted(glob(path, recursive=True)):
                names.extend(_local(match, list_files))
        elif os.path.exists(path):
            names = _local(path, list_files)
        else:
            raise InputError("no such file or folder", file=path)
        if not names:
            raise InputError("matches no input file", file=path)
        found.update(dict.fromkeys(sorted(names)))
    return list(found)


def iter_chunks(
    paths: Sequence[str],
    *,
    chunk_size: int = 10_000,
    kind: str | None = None,
    read_bytes: ReadBytes = read_local_bytes,
    list_files: ListFiles = list_local_files,
) -> Iterator[InputChunk]:
    """Read every input file in turn, one file in memory at a time, as chunks of at most ``chunk_size`` records.

    Raises:
        ValueError: ``chunk_size`` below 1 or an unknown ``kind``.
        InputError: an input is missing or its gzip stream is corrupt.
    """
    forced = _checked(chunk_size, kind)
    for source in list_inputs(paths, list_files=list_files):
        yield from _file_chunks(source, read_bytes(source), chunk_size, forced)


def read_file_chunks(source: str, raw: bytes, *, chunk_size: int = 10_000, kind: str | None = None) -> Iterator[InputChunk]:
    """One input file's records from its bytes, read by the caller (Spark's binaryFile source, say), as chunks.

    The chunks and ids are those :func:`iter_chunks` gives for a file at ``source`` with these bytes.

    Raises:
        ValueError: ``chunk_size`` below 1 or an unknown ``kind`` (at the call, not on first use).
        InputError: while iterating, the gzip stream is corrupt.
    """
    return _file_chunks(source, raw, chunk_size, _checked(chunk_size, kind))


def _checked(chunk_size: int, kind: str | None) -> InputKind | None:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r} (known: {', '.join(KINDS)})")
    return cast("InputKind | None", kind)


def _file_chunks(source: str, raw: bytes, chunk_size: int, forced: InputKind | None) -> Iterator[InputChunk]:
    blocks = _line_blocks(source, raw)
    first = next(blocks, None)
    if first is None:
        return
    kind = forced or _detect(first[1][0])
    identity = f"{source}\0{len(raw)}\0{hashlib.sha256(raw).hexdigest()}\0{kind}\0{chunk_size}"
    held = _Records([], [], [], [], [])
    chunk = 0
    for numbers, lines in chain((first,), blocks):
        _add_records(held, numbers, lines, kind)
        while len(held.labels) > chunk_size:  # strictly more: the chunk holding the last record is marked last
            yield _take_chunk(held, chunk_size, source, kind, f"{identity}\0{chunk}", last=False)
            chunk += 1
    yield _take_chunk(held, chunk_size, source, kind, f"{identity}\0{chunk}", last=True)


class _Records(NamedTuple):
    """Records column by column; a label is the line number, or ``<line>.<k>`` for values split from one line."""

    lines: list[int]
    labels: list[str]
    data: list[str]
    arrival: list[int | None]
    sizes: list[int]


def _take_chunk(held: _Records, size: int, source: str, kind: InputKind, key: str, *, last: bool) -> InputChunk:
    """Take the first ``size`` held records off as one chunk, its batch id hashed from ``key``."""
    batch_id = hashlib.sha256(key.encode()).hexdigest()[:16]
    labels, data, arrival, sizes = held.labels[:size], held.data[:size], held.arrival[:size], held.sizes[:size]
    first_line = held.lines[0]
    for column in (held.lines, held.labels, held.data, held.arrival, held.sizes):
        del column[:size]
    batch = RecordBatch(record_ids=[f"{batch_id}-{label}" for label in labels], data=data, arrival_ms=arrival)
    return InputChunk(batch, source, first_line, batch_id, kind, sum(sizes), last)


def _add_records(out: _Records, numbers: list[int], lines: list[bytes], kind: InputKind) -> None:
    if kind == "ndjson":  # the bulk of every large run: whole-list steps only
        out.lines.extend(numbers)
        out.labels.extend(map(str, numbers))
        out.data.extend([b2a_base64(line, newline=False).decode("ascii") for line in lines])
        out.arrival.extend([None] * len(lines))
        out.sizes.extend(map(len, lines))
        return
    for number, line in zip(numbers, lines, strict=True):
        values = _split_values(line) if kind == "firehose-backup" else [line]
        obj = _object(line) if kind in ("processing-failed", "errors") else None
        raw_data = obj.get("rawData") if obj is not None else None
        if isinstance(raw_data, str) and obj is not None:
            out.data.append(raw_data)
            out.arrival.append(_arrival(obj))
        else:  # records, and broken error lines: these stay records (the pipeline rejects them, with a reason)
            out.data.extend(b2a_base64(value, newline=False).decode("ascii") for value in values)
            out.arrival.extend([None] * len(values))
        split = len(values) > 1
        out.lines.extend([number] * len(values))
        out.labels.extend(f"{number}.{k}" if split else str(number) for k in range(len(values)))
        out.sizes.extend(map(len, values))


def _detect(line: bytes) -> InputKind:
    obj = _object(line)
    if obj is not None and "rawData" in obj:
        return "errors" if any(key in obj for key in _ERROR_KEYS) else "processing-failed"
    if obj is None and len(_split_values(line)) > 1:
        return "firehose-backup"
    return "ndjson"


def _line_blocks(source: str, raw: bytes) -> Iterator[tuple[list[int], list[bytes]]]:
    """The non-blank lines, a block per piece, with their 1-based numbers; no newline (a ``\\r`` before it is kept)."""
    number = 1
    rest = b""
    for piece in chain(_pieces(source, raw), [b"\n"]):  # the extra newline ends a last line that has none
        lines = (rest + piece).split(b"\n") if rest else piece.split(b"\n")
        rest = lines.pop()
        numbers = list(range(number, number + len(lines)))
        number += len(lines)
        if b"" in lines or any(map(bytes.isspace, lines)):  # C-speed scans; blank lines are rare
            kept = [(n, line) for n, line in zip(numbers, lines, strict=True) if line and not line.isspace()]
            numbers, lines = [n for n, _ in kept], [line for _, line in kept]
        if lines:
            yield numbers, lines


def _pieces(source: str, raw: bytes) -> Iterator[bytes]:
    if not raw.startswith(_GZIP_MAGIC):
        for start in range(0, len(raw), _CHUNK):
            yield raw[start : start + _CHUNK]
        return
    # gzip.GzipFile reads concatenated members (as Firehose and `cat a.gz b.gz` produce) and checks each CRC
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
        try:
            while piece := stream.read(_CHUNK):
                yield piece
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(f"corrupt gzip stream: {err}", file=source) from err


def _split_values(line: bytes) -> list[bytes]:
    """JSON values concatenated on one line, as raw bytes each; ``[line]`` unless it splits cleanly."""
    if b"}{" not in line and b"} {" not in line:
        return [line]
    values: list[bytes] = []
    try:
        text = line.decode()
        index = 0
        while (value := _VALUE_START.search(text, index)) is not None:
            _, index = _DECODER.raw_decode(text, value.start())
            values.append(text[value.start() : index].encode())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        return [line]
    return values if len(values) > 1 else [line]


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _arrival(obj: dict[str, Any]) -> int | None:
    value = obj.get("approximateArrivalTimestamp", obj.get("arrivalTimestamp"))
    return None if value is None or isinstance(value, bool) else plausible_arrival(parse_arrival(value))


def _local(path: str, list_files: ListFiles) -> list[str]:
    absolute = os.path.abspath(path)  # ids hash the path: the same file gets the same ids from any working folder
    if not os.path.isdir(absolute):
        return [absolute]
    return [name for name in list_files(absolute) if not _hidden_below(name, absolute)]


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _hidden_below(name: str, prefix: str) -> bool:
    relative = name[len(prefix) :] if name.startswith(prefix) else name.rsplit("/", 1)[-1]
    return any(_hidden(part) for part in relative.split("/") if part)
