"""Where lake files go: local folders and ``s3://bucket/prefix`` URIs, written whole or not at all.

Local files are written to a temporary name, synced, then renamed over the destination (``os.replace`` is
atomic within one filesystem). An S3 object is written with one PUT, and S3 shows an object only once it is
whole. S3 goes through ``pyarrow.fs`` (the ``s3`` extra), imported on first use only, so the Lambda import
path never pays for pyarrow. Credentials, region and endpoint come from the usual AWS environment variables,
read in :func:`s3_settings`; an explicit ``endpoint_url`` overrides the endpoint.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from transform_core.errors import ConfigurationEnvironmentError

__all__ = [
    "S3Settings",
    "check_destination",
    "check_folder",
    "delete_files",
    "is_s3",
    "join",
    "list_files",
    "list_sizes",
    "open_stream",
    "read_bytes",
    "s3_settings",
    "write_atomic",
]

TEMP_PREFIX = "_tmp-"  # Athena, Glue and Spark skip names starting with "_" or "."; Polars does not (see docs/lake.md)


@dataclass(frozen=True, kw_only=True)
class S3Settings:
    """How to reach S3: None everywhere means the AWS SDK's own defaults (role, profile, region lookup)."""

    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


def s3_settings(environ: Mapping[str, str] | None = None, *, endpoint_url: str | None = None) -> S3Settings:
    """Read S3 settings from the environment (``os.environ`` by default); ``endpoint_url`` overrides the endpoint.

    Variables: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION`` (else
    ``AWS_DEFAULT_REGION``), ``AWS_ENDPOINT_URL_S3`` (else ``AWS_ENDPOINT_URL``).
    """
    env = os.environ if environ is None else environ
    return S3Settings(
        access_key=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        endpoint_url=endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
    )


def is_s3(uri: str) -> bool:
    """Whether ``uri`` names an S3 location."""
    return uri.startswith("s3://")


def join(base: str, *parts: str) -> str:
    """Join path parts under a local folder or an S3 prefix with ``/``."""
    return "/".join([base.rstrip("/"), *parts]) if is_s3(base) else str(Path(base, *parts))


def write_atomic(dest_uri: str, data: bytes, *, endpoint_url: str | None = None, staging_dir: str | None = None) -> None:
    """Write ``data`` to ``dest_uri`` so that readers see either the old file, or the whole new one.

    Args:
        dest_uri: a local path or ``s3://bucket/key``; local parent folders are created.
        data: the whole file.
        endpoint_url: S3 endpoint, overriding ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``.
        staging_dir: local only: where the temporary file is written (same filesystem as ``dest_uri``;
            default: the destination's folder).

    Raises:
        OSError: the write failed; no temporary file is left behind unless the process died.
        ConfigurationEnvironmentError: an S3 URI without pyarrow installed.
    """
    if is_s3(dest_uri):
        _s3_put(dest_uri, data, endpoint_url)
        return
    dest = Path(dest_uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(staging_dir) if staging_dir is not None else dest.parent
    stage.mkdir(parents=True, exist_ok=True)
    temp = stage / f"{TEMP_PREFIX}{uuid.uuid4().hex}-{dest.name}.tmp"
    try:
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(dest.parent)  # the rename itself survives a power cut only once the folder is synced


def read_bytes(uri: str, *, endpoint_url: str | None = None) -> bytes:
    """The whole content of a local file or an S3 object."""
    if not is_s3(uri):
        return Path(uri).read_bytes()
    fs, path = _s3(uri, endpoint_url)
    with fs.open_input_stream(path, compression=None) as stream:  # the bytes as stored: a .gz name is not unzipped
        data: bytes = stream.read()
    return data


def open_stream(uri: str, *, endpoint_url: str | None = None) -> Any:
    """A local file or an S3 object opened for reading in pieces: ``read(size)`` until ``b""``, then ``close()``.

    Nothing is read ahead and nothing is decompressed (a ``.gz`` name is bytes like any other), so a reader holds only
    the pieces it asks for. An S3 object is fetched by ranged GETs, one per ``read``.

    Raises:
        OSError: the file or object cannot be opened (missing, forbidden, unreachable).
        ConfigurationEnvironmentError: an S3 URI without pyarrow installed.
    """
    if not is_s3(uri):
        return open(uri, "rb", buffering=0)
    fs, path = _s3(uri, endpoint_url)
    return fs.open_input_stream(path, compression=None)


def modified_at(uri: str, *, endpoint_url: str | None = None) -> datetime:
    """When a local file or an S3 object was last written (S3: its LastModified), in UTC, to the microsecond.

    Raises:
        OSError: it does not exist, or its time cannot be read.
    """
    if not is_s3(uri):
        nanos = os.stat(uri).st_mtime_ns
        return datetime.fromtimestamp(nanos // 1_000_000_000, UTC).replace(microsecond=nanos // 1000 % 1_000_000)
    fs, path = _s3(uri, endpoint_url)
    modified = fs.get_file_info(path).mtime
    if modified is None:
        raise OSError(f"{uri}: no modification time")
    stamp: datetime = modified if modified.tzinfo is not None else modified.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def list_files(prefix_uri: str, *, endpoint_url: str | None = None) -> list[str]:
    """Every file under a local folder or an S3 prefix (as a folder), sorted, skipping temporary and hidden names.

    A missing folder or prefix lists nothing.

    Raises:
        NotADirectoryError: a local folder on the way is a file (the error names it).
        ConfigurationEnvironmentError: the S3 bucket does not exist.
        OSError: S3 cannot be reached, or refuses the listing.
    """
    return list(list_sizes(prefix_uri, endpoint_url=endpoint_url))


def list_sizes(prefix_uri: str, *, endpoint_url: str | None = None) -> dict[str, int]:
    """:func:`list_files` with each file's size in bytes (one listing, no reads)."""
    if not is_s3(prefix_uri):
        root = Path(prefix_uri)
        if root.is_file():
            return {str(root): root.stat().st_size}
        if not root.exists():
            check_folder(prefix_uri)
        found = [p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root).parts)]
        return {str(p): p.stat().st_size for p in sorted(found, key=str)}
    import pyarrow.fs as pafs

    fs, path = _s3(prefix_uri, endpoint_url)
    single = fs.get_file_info(path)
    if single.type == pafs.FileType.File:  # the URI names one object, as a local path may name one file
        return {prefix_uri: int(single.size)}
    infos = fs.get_file_info(pafs.FileSelector(path.rstrip("/"), recursive=True, allow_not_found=True))
    if not infos:  # nothing under the prefix: in a bucket, or for want of one?
        _check_bucket(fs, prefix_uri)
    prefix = path.rstrip("/")
    files = [info for info in infos if info.type == pafs.FileType.File and not _hidden(info.path[len(prefix) :].split("/"))]
    return {f"s3://{info.path}": int(info.size) for info in sorted(files, key=lambda info: str(info.path))}


def check_destination(root: str, *, endpoint_url: str | None = None, write: bool = True) -> None:
    """Check, before a job starts, that files can be written under ``root``, rather than fail on every file it writes.

    A local ``root`` (made when missing) gets a one-byte file written, synced and removed in ``<root>/_staging/``:
    a read-only or full file system fails here. With ``write=False`` nothing is made: the closest existing folder
    must be writable. On S3 the bucket must exist and answer (permissions show on the first write).

    Raises:
        NotADirectoryError: ``root``, or a folder on the way to it, is a file.
        ConfigurationEnvironmentError: the S3 bucket does not exist.
        OSError: the folder cannot be written (read-only, no permission, no space), or S3 cannot be reached.
    """
    if is_s3(root):
        fs, _ = _s3(root, endpoint_url)
        _check_bucket(fs, root)
        return
    check_folder(root)
    path = Path(root)
    if not write:
        existing = next(folder for folder in (path, *path.parents) if folder.exists())
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(existing))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(existing))
        return
    probe = path / "_staging" / f"{TEMP_PREFIX}{uuid.uuid4().hex}-probe"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as file:
            file.write(b"\0")
            file.flush()
            os.fsync(file.fileno())
        probe.unlink()
    except OSError as err:  # named by the lake's root, not by the probe's made-up name
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        raise type(err)(err.errno, err.strerror, root) from err


def delete_files(uris: Iterable[str], *, endpoint_url: str | None = None) -> None:
    """Remove files (local paths or S3 objects); missing ones are not an error, emptied local folders are removed."""
    for uri in uris:
        if is_s3(uri):
            fs, path = _s3(uri, endpoint_url)
            with contextlib.suppress(FileNotFoundError):
                fs.delete_file(path)
            continue
        file = Path(uri)
        file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            file.parent.rmdir()  # only when empty


def _hidden(parts: tuple[str, ...] | list[str]) -> bool:
    return any(part.startswith((".", "_")) for part in parts)


def check_folder(uri: str) -> None:
    """Raise when a local ``uri``, or the closest existing folder on the way to it, is a file (S3 has no such thing).

    Raises:
        NotADirectoryError: naming the file.
    """
    if is_s3(uri):
        return
    path = Path(uri)
    existing = next((folder for folder in (path, *path.parents) if folder.exists()), None)
    if existing is not None and not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(existing))


def _check_bucket(fs: Any, uri: str) -> None:
    """Raise when the bucket of ``uri`` does not exist (one HEAD request); a bucket this user may not inspect passes."""
    import pyarrow.fs as pafs

    bucket = urlsplit(uri).netloc
    try:
        info = fs.get_file_info(bucket)
    except OSError as err:
        if "ACCESS_DENIED" in str(err) or "HTTP status 403" in str(err):
            return  # a role may write objects without s3:ListBucket; its writes tell
        raise
    if info.type == pafs.FileType.NotFound:
        raise ConfigurationEnvironmentError(f"S3 bucket {bucket!r} does not exist ({uri}): create it, or name another bucket")


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a folder; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _s3_put(dest_uri: str, data: bytes, endpoint_url: str | None) -> None:
    fs, path = _s3(dest_uri, endpoint_url)
    # The whole object in one write, then close: the object appears on S3 at close, whole.
    stream = fs.open_output_stream(path)
    stream.write(data)
    stream.close()


def _s3(uri: str, endpoint_url: str | None) -> tuple[Any, str]:
    """The filesystem for the current settings and the ``bucket/key`` path of ``uri``."""
    parts = urlsplit(uri)
    if not parts.netloc:
        raise ValueError(f"an S3 URI needs a bucket: {uri!r}")
    return _filesystem(s3_settings(endpoint_url=endpoint_url)), f"{parts.netloc}{parts.path}"


@functools.lru_cache(maxsize=8)
def _filesystem(settings: S3Settings) -> Any:
    """One pyarrow S3 filesystem per distinct settings (a warm Lambda reuses its connections)."""
    try:
        import pyarrow.fs as pafs
    except ImportError as err:
        raise ConfigurationEnvironmentError("s3:// destinations need pyarrow: pip install 'transform-core[s3]'") from err
    options: dict[str, Any] = {
        "access_key": settings.access_key,
        "secret_key": settings.secret_key,
        "session_token": settings.session_token,
        "region": settings.region,
        "background_writes": False,  # the write returns once the object is stored
    }
    if settings.endpoint_url:
        endpoint = urlsplit(settings.endpoint_url)
        options["endpoint_override"] = endpoint.netloc or endpoint.path
        options["scheme"] = endpoint.scheme or "https"
        options["region"] = settings.region or "us-east-1"  # no region lookup against a custom endpoint
    return pafs.S3FileSystem(**options)
