"""An input's bytes as a stream: opening it, its content (gzip undone member by member), the content's hash, its lines.

Every step holds one piece at a time (:data:`PIECE` bytes, and a line longer than that once, whole), so memory does
not grow with the input. A read that fails and a gzip stream that is corrupt or cut short end the content with
:class:`Damage`; what came before it has been handed on already.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol, cast

from transform_core.errors import TransformCoreError

__all__ = [
    "ByteStream",
    "Damage",
    "Identity",
    "InputError",
    "OpenInput",
    "content",
    "file_type",
    "identify",
    "line_blocks",
    "open_local",
    "same_content",
]

PIECE = 8 << 20  # bytes read (or decompressed) at a time: lines are cut from one piece while the next is not yet read
_COMPRESSED = 1 << 20  # compressed bytes fed to zlib at a time; each call's output is bounded by PIECE all the same
_GZIP = b"\x1f\x8b\x08"  # deflate, the only method gzip defines
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib reads the gzip header and checks the trailer's CRC-32 and length
_BOM = b"\xef\xbb\xbf"
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class ByteStream(Protocol):
    """What an input is read through: ``read(size)`` returns at most ``size`` bytes, ``b""`` at the end."""

    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


OpenInput = Callable[[str], ByteStream]


class InputError(TransformCoreError):
    """An input cannot be read, or cannot be read to its end.

    Attributes:
        file: the path, glob or URI at fault.
        line: the line being read when the input broke off (the lines before it were read); None when it was not
            read at all.
    """

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(f"{file}: {message}" if line is None else f"{file}: line {line}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only arguments: rebuild explicitly, or a worker process cannot send it back
        return (_input_error, (self.message, self.file, self.line))


def _input_error(message: str, file: str, line: int | None) -> InputError:
    return InputError(message, file=file, line=line)


class Damage(Exception):
    """The content ends before its end: ``cause`` says why, ``line`` (set by :func:`line_blocks`) where."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause
        self.line = 0


class Identity(NamedTuple):
    """What the first pass over an input found: its id, its content's length, and the damage that ended it, if any."""

    input_id: str
    size: int
    damage: Damage | None


def open_local(uri: str) -> ByteStream:
    """Open a local regular file for reading; never blocks on a FIFO, a socket or a device: those are refused.

    Raises:
        InputError: a URI (pass ``open_input=`` for those), a file that cannot be opened, or one that is not regular.
    """
    if "://" in uri:
        raise InputError("only local files are readable by default; pass open_input= for remote URIs", file=uri)
    try:
        fd = os.open(uri, os.O_RDONLY | _NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except OSError as err:
        raise InputError(f"cannot open: {err.strerror or err}", file=uri) from err
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"not a regular file ({file_type(mode)})", file=uri)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return cast("ByteStream", open(fd, "rb", buffering=0))


def file_type(mode: int) -> str:
    """What a ``stat`` mode names, in words."""
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device")):
        if test(mode):
            return name
    return "block device" if stat.S_ISBLK(mode) else "folder" if stat.S_ISDIR(mode) else "not a file"


def identify(stream: ByteStream) -> Identity:
    """The first pass: sha256 over the decompressed content, as far as it can be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        for piece in content(stream):
            digest.update(piece)
            size += len(piece)
    except Damage as damage:
        return Identity(digest.hexdigest()[:16], size, damage)
    return Identity(digest.hexdigest()[:16], size, None)


def content(stream: ByteStream) -> Iterator[bytes]:
    """The content of a stream in pieces, gunzipped when it starts with gzip's magic bytes.

    Raises:
        Damage: a read fails, or the gzip stream is corrupt or truncated (its pieces up to there are yielded).
    """
    head = _read(stream, PIECE)
    while 0 < len(head) < len(_GZIP) and (more := _read(stream, PIECE)):
        head += more
    if head.startswith(_GZIP):
        yield from _gunzip(head, stream)
        return
    while head:
        yield head
        head = _read(stream, PIECE)


def same_content(pieces: Iterator[bytes], identity: Identity) -> Iterator[bytes]:
    """The second pass: the content the first pass hashed and no more, ending with the first pass's damage, if any.

    Raises:
        Damage: this pass breaks off, the first one did, or the content is not as long as it was.
    """
    left = identity.size
    longer = False
    for piece in pieces:
        if len(piece) > left:
            if left:
                yield piece[:left]
            left, longer = 0, True
            break
        left -= len(piece)
        yield piece
    if identity.damage is not None:
        raise identity.damage
    if left:
        raise Damage("the input changed while it was read (it is shorter now)")
    if longer or next(pieces, b""):
        raise Damage("the input changed while it was read (it is longer now)")


def line_blocks(pieces: Iterator[bytes]) -> Iterator[tuple[int, list[bytes], bytes]]:
    """The lines of the content, a block per piece: the 1-based number of its first line, its lines, and the piece.

    Lines lose their ``\\n`` (a ``\\r`` before it stays), the first line its UTF-8 byte order mark. A last line without
    a newline is a line; when the content breaks off, the line being read is not (it may be cut short). Each line
    of a block but the first lies in its piece; the first may begin in earlier pieces.

    Raises:
        Damage: from ``pieces``, with ``line`` set to the number of the line being read.
    """
    number = 1
    parts: list[bytes] = []  # the line being read, when it spans pieces
    try:
        for piece in pieces:
            lines = piece.split(b"\n")
            tail = lines.pop()
            if not lines:
                parts.append(tail)
                continue
            if parts:
                parts.append(lines[0])
                lines[0] = b"".join(parts)
            parts = [tail] if tail else []
            if number == 1 and lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
            yield number, lines, piece
            number += len(lines)
    except Damage as damage:
        damage.line = number
        raise
    if parts:
        last = b"".join(parts)
        yield number, [last[len(_BOM) :] if number == 1 and last.startswith(_BOM) else last], b""


def _read(stream: ByteStream, size: int) -> bytes:
    try:
        return stream.read(size)
    except OSError as err:  # pyarrow's S3 errors are OSErrors too
        raise Damage(f"read failed: {err.strerror or err}") from err


def _gunzip(data: bytes, stream: ByteStream) -> Iterator[bytes]:
    """gzip members one after the other (as Firehose and ``cat a.gz b.gz`` make them), zero padding between allowed."""
    member: zlib._Decompress | None = None
    while True:
        if not data:
            data = _read(stream, _COMPRESSED)
            if not data:
                if member is None:
                    return
                with contextlib.suppress(zlib.error):
                    yield member.flush()  # the last bytes zlib held back, if any
                raise Damage("the gzip stream is truncated")
        if member is None:
            data = data.lstrip(b"\0")
            if not data:
                continue
            member = zlib.decompressobj(_GZIP_WBITS)
        before = member.copy()
        try:
            piece = member.decompress(data, PIECE)
        except zlib.error as err:
            yield from _salvage(before, data)
            raise Damage(f"corrupt gzip stream: {err}") from err
        if piece:
            yield piece
        if member.eof:
            data, member = member.unused_data, None
        else:
            data = member.unconsumed_tail


def _salvage(member: zlib._Decompress, data: bytes) -> Iterator[bytes]:
    """The output of ``data`` up to the byte where it fails: 4 KiB steps, then bytes, from copies of ``member``."""
    for step in (4096, 1):
        for start in range(0, len(data), step):
            before = member.copy()
            try:
                yield member.decompress(data[start : start + step])
            except zlib.error:
                member, data = before, data[start : start + step]
                break
        else:
            return
