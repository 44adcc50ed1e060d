"""What the command line makes of an error the environment raised: one line saying what failed, where, and what to do.

A command's own problems are :class:`~transform_core.errors.TransformCoreError` s, printed as they are. The libraries
underneath report a missing bucket, an unreachable endpoint, missing credentials, a full disk or a read-only folder
with their own exceptions; :func:`environment_errors` names those types and :func:`describe` turns one into a line::

    OSError (FileNotFoundError, PermissionError, …; pyarrow's S3 errors)  a path, a bucket, a disk, the network
    botocore: NoCredentialsError, NoRegionError, ConnectionError, …       AWS credentials, region or endpoint
    botocore: ClientError                                                  an AWS service refused the request
    pyiceberg: NoSuchTableError, NoSuchNamespaceError, RESTError, …        the Iceberg catalog
    sqlalchemy: OperationalError                                           the SQLite catalog file

Any other exception is a bug: it is not caught, and Python prints its traceback.
"""

from __future__ import annotations

import errno
import re
import sys
from pathlib import Path

__all__ = ["describe", "environment_errors", "with_advice"]

_BOTOCORE = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "TokenRetrievalError",
    "SSOError",
    "NoRegionError",
    "ConnectionError",  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError
    "HTTPClientError",  # ReadTimeoutError, ConnectionClosedError
    "ClientError",
)
_PYICEBERG = ("NoSuchTableError", "NoSuchNamespaceError", "NotInstalledError", "RESTError")
# pyarrow's S3 errors: "When <doing> for key 'k' in bucket 'b': AWS Error <CODE> during <Op> operation: <detail>"
_ARROW_S3 = re.compile(
    r"(?:key '(?P<key>[^']*)' )?(?:in|for) bucket '(?P<bucket>[^']*)': AWS Error (?P<code>\w+)"
    r"(?: \(HTTP status (?P<status>\d+)\))? during (?P<operation>\w+) operation: (?P<detail>.*)",
    re.DOTALL,
)
_CREDENTIALS = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run where a role gives them"
_ENDPOINT = "check --endpoint-url, the AWS_ENDPOINT_URL variables and the network"
_DENIED = {"ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "EXPIRED_TOKEN", "INVALID_CLIENT_TOKEN_ID"}


def environment_errors() -> tuple[type[BaseException], ...]:
    """The exception types :func:`describe` explains: OSError, and those of botocore, pyiceberg and SQLAlchemy when
    the command imported them (a library never imported raised nothing, so nothing is imported here)."""
    found: list[type[BaseException]] = [OSError]
    for module, names in (
        ("botocore.exceptions", _BOTOCORE),
        ("pyiceberg.exceptions", _PYICEBERG),
        ("sqlalchemy.exc", ("OperationalError",)),
    ):
        loaded = sys.modules.get(module)
        found += [getattr(loaded, name) for name in names if hasattr(loaded, name)] if loaded is not None else []
    return tuple(found)


def describe(err: BaseException) -> str:
    """One line for an exception of :func:`environment_errors`: what failed, the path, bucket or service, what to do."""
    if isinstance(err, OSError):
        return _one_line(_os_error(err))
    module = type(err).__module__
    if module.startswith("botocore"):
        return _one_line(_botocore(err))
    if module.startswith("sqlalchemy"):
        cause = getattr(err, "orig", None) or err
        return _one_line(
            f"the SQL catalog's SQLite file: {cause}: check that the catalog file (--catalog-file, else "
            "<lake>/_catalog/iceberg.db) and its folder are writable and the disk has room"
        )
    return _one_line(f"the Iceberg catalog: {type(err).__name__}: {err}")


def with_advice(err: Exception) -> str:
    """The message of an error transform-core raised, with what to do when AWS's credentials, region or endpoint
    caused it (``Glue: Unable to locate credentials`` says what failed, not what to do)."""
    cause = err.__cause__
    if cause is None or not type(cause).__module__.startswith("botocore") or not isinstance(cause, environment_errors()):
        return str(err)
    advice = _botocore_advice(cause)
    return f"{err}: {advice}" if advice is not None and advice not in str(err) else str(err)


def _os_error(err: OSError) -> str:
    s3 = _ARROW_S3.search(str(err))
    if s3 is not None:
        return _s3_error(s3)
    code, path = err.errno, err.filename
    if code is None and (rust := re.search(r"\(os error (\d+)\)", str(err))):  # Polars' I/O errors
        code = int(rust[1])
    if path is None and code is not None:  # pyarrow's: "[Errno 30] Failed to open local file '/lake/…'. Detail: …"
        quoted = re.search(r"'(/[^']+|[A-Za-z]:\\[^']+)'", str(err))
        path = quoted[1] if quoted else None
    where = f"{path}: " if path is not None else ""
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}no space left on the device: free some space (or write elsewhere) and run the command again"
    if code == errno.EROFS:
        return f"{where}the file system is read-only: write to a folder on a writable one (--lake, --output)"
    if code in (errno.EACCES, errno.EPERM):
        return f"{where}permission denied: give this user access to it, or use another folder"
    if code == errno.ENOTDIR and path is not None:
        return f"{_file_in_the_way(str(path))} is a file, not a folder: name a folder (--lake, --output), or move the file away"
    if code == errno.EISDIR and path is not None:
        return f"{path} is a folder, not a file: name a file"
    if path is not None:
        return f"{path}: {err.strerror or err}"
    return str(err) or type(err).__name__


def _s3_error(found: re.Match[str]) -> str:
    bucket, key, code = found["bucket"], found["key"], found["code"]
    detail = found["detail"].split(" (Request ID:", 1)[0].strip()
    detail = detail.rpartition("Details: ")[2] or detail  # curl's own words, without its code
    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    if code == "NO_SUCH_BUCKET":
        return f"S3 bucket {bucket!r} does not exist ({where}): create it, or name another bucket"
    if code == "NETWORK_CONNECTION":
        return f"cannot reach S3 for {where}: {detail}: {_ENDPOINT}"
    if code in _DENIED or found["status"] in ("401", "403"):
        return f"S3 refused {found['operation']} on {where} ({code}): check the credentials and their permissions"
    return f"S3 {found['operation']} on {where} failed: {code}: {detail}"


def _botocore(err: BaseException) -> str:
    exceptions = sys.modules["botocore.exceptions"]
    if isinstance(err, exceptions.ClientError):
        error = err.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", str(err))
        denied = "AccessDenied" in code or "Unauthorized" in code
        return f"AWS refused {err.operation_name}: {code}: {message}" + (": check the credentials' permissions" if denied else "")
    return f"AWS: {err}: {_botocore_advice(err)}"


def _botocore_advice(err: BaseException) -> str | None:
    """What to do about a botocore error that is not a service's answer (None for those: they say it themselves)."""
    exceptions = sys.modules["botocore.exceptions"]
    credentials = tuple(getattr(exceptions, name) for name in _BOTOCORE[:4] if hasattr(exceptions, name))
    if isinstance(err, exceptions.ClientError):
        return None
    if isinstance(err, credentials):
        return _CREDENTIALS
    if isinstance(err, exceptions.NoRegionError):
        return "set AWS_REGION (or --region)"
    if "SSO" in type(err).__name__:
        return "sign in again (aws sso login)"
    return _ENDPOINT  # the endpoint could not be reached, or the connection broke


def _file_in_the_way(path: str) -> str:
    """The closest existing ancestor of ``path`` that is a file (what makes it no folder), else ``path``."""
    for parent in (Path(path), *Path(path).parents):
        if parent.exists():
            return str(parent) if not parent.is_dir() else path
    return path


def _one_line(text: str) -> str:
    return " ".join(text.split())
