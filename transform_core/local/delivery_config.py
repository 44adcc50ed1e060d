"""A local Firehose stream's settings, defaulting to the pipeline template's, and its S3 prefix expressions.

The defaults are ``deploy/template.yaml``'s ``DeliveryStream``: a Kinesis data stream as source, the Lambda
processor with ``BufferSizeInMBs`` 2, ``BufferIntervalInSeconds`` 60 and ``NumberOfRetries`` 3, dynamic
partitioning with the template's prefixes (:data:`TEMPLATE_PREFIX`, :data:`TEMPLATE_ERROR_PREFIX`,
:data:`TEMPLATE_BACKUP_PREFIX`, the same strings; ``tests/local`` checks them against the template), Parquet, the
S3 buffer 128 MB / 300 s and the source record backup on. Prefix expressions are evaluated as the Firehose guide
says ("Understand custom prefixes for Amazon S3 objects"): ``!{partitionKeyFromLambda:key}``, ``!{timestamp:…}``
(a Java ``DateTimeFormatter`` pattern, UTC, the arrival time of the oldest record of the object),
``!{firehose:error-output-type}`` and ``!{firehose:random-string}`` (11 random characters).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from transform_core.spec import PipelineSpec

__all__ = [
    "MAX_PREFIX_CHARS",
    "MIB",
    "TEMPLATE_BACKUP_PREFIX",
    "TEMPLATE_ERROR_PREFIX",
    "TEMPLATE_PREFIX",
    "BufferingHints",
    "DeliveryFormat",
    "DeliverySettings",
    "PrefixError",
    "Source",
    "evaluate_prefix",
    "prefix_keys",
]

#: The template's ``Prefix``, ``ErrorOutputPrefix`` and backup ``Prefix`` (``${TableName}`` as in its ``!Sub``).
TEMPLATE_PREFIX = (
    "raw/${TableName}/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/"
    "day=!{partitionKeyFromLambda:day}/"
)
TEMPLATE_ERROR_PREFIX = (
    "errors/${TableName}/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
)
TEMPLATE_BACKUP_PREFIX = "backup/${TableName}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
MAX_PREFIX_CHARS = 512  # the longest evaluated prefix Firehose writes ("Partition streaming data in Amazon Data Firehose")
MIB = 1024 * 1024

Source = Literal["kinesis", "direct-put"]
DeliveryFormat = Literal["parquet", "json"]
Compression = Literal["GZIP", "UNCOMPRESSED"]

_EXPRESSION = re.compile(r"!\{(?P<namespace>[A-Za-z]+):(?P<value>[^}]*)\}")
_JAVA_FIELDS = {"y": "year", "M": "month", "d": "day", "H": "hour", "m": "minute", "s": "second"}
_JAVA_TOKEN = re.compile(
    r"(?P<quote>'')|'(?P<quoted>(?:[^']|'')*)'|(?P<field>(?P<letter>[A-Za-z])(?P=letter)*)|(?P<other>[^A-Za-z']+)"
)


class PrefixError(ValueError):
    """A prefix expression that cannot be evaluated for a record (a missing partition key, say)."""


@dataclass(frozen=True)
class BufferingHints:
    """A buffer's ``SizeInMBs`` (MiB, counted over record data) and ``IntervalInSeconds``, whichever comes first."""

    size_mb: float
    interval_s: float

    def __post_init__(self) -> None:
        if self.size_mb <= 0 or self.interval_s < 0:
            raise ValueError(f"buffering hints need size_mb > 0 and interval_s >= 0, got {self.size_mb}, {self.interval_s}")

    @property
    def size_bytes(self) -> int:
        """The size hint in bytes."""
        return max(1, int(self.size_mb * MIB))


@dataclass(frozen=True, kw_only=True)
class DeliverySettings:
    """How a local Firehose stream buffers, invokes the processor and writes the lake folder.

    Attributes:
        spec: the pipeline (its table name, partition keys and Glue columns).
        lake: the folder standing for the raw bucket: ``raw/`` and ``errors/`` go under it.
        source: ``kinesis`` (the template's ``KinesisStreamAsSource``) or ``direct-put``: the event's shape.
        delivery_format: ``parquet`` (record format conversion with the Glue table's columns) or ``json``.
        compression: None: the template's (``GZIP`` for JSON, ``UNCOMPRESSED`` for Parquet, which compresses
            inside the file with SNAPPY).
        file_extension: None: the template's (``.parquet``, ``.json.gz``; none for uncompressed JSON).
        processor_buffer: the Lambda processor's ``BufferSizeInMBs`` (0.2-3) and ``BufferIntervalInSeconds`` (0-900).
        number_of_retries: the processor's ``NumberOfRetries`` after a failed invocation (0-300).
        s3_buffer: the destination's buffer, per partition (the template's 128 MB / 300 s; no minimum here).
        backup: write the source record backup (the template always does).
        backup_buffer: its buffer (the template's 128 MB / 900 s).
        backup_root: the folder standing for the errors bucket (None: ``lake``); ``backup/`` goes under it.
        prefix, error_prefix, backup_prefix: prefix expressions; None: the template's (for a spec partitioned by
            hour, ``hour=!{partitionKeyFromLambda:hour}/`` is added to the data prefix).
        stream_name: the Firehose stream's name, first part of each object name (None: the spec's name).
        stream_version: the stream's version, second part of each object name.
        region, account: for the ARNs in the event and the error records.
        database: the Glue database named in format-conversion error records.
        max_active_partitions: partitions buffered at once; a record for one more goes to the error prefix.
    """

    spec: PipelineSpec
    lake: str
    source: Source = "kinesis"
    delivery_format: DeliveryFormat = "parquet"
    compression: Compression | None = None
    file_extension: str | None = None
    processor_buffer: BufferingHints = field(default_factory=lambda: BufferingHints(2, 60))
    number_of_retries: int = 3
    s3_buffer: BufferingHints = field(default_factory=lambda: BufferingHints(128, 300))
    backup: bool = True
    backup_buffer: BufferingHints = field(default_factory=lambda: BufferingHints(128, 900))
    backup_root: str | None = None
    prefix: str | None = None
    error_prefix: str | None = None
    backup_prefix: str | None = None
    stream_name: str | None = None
    stream_version: int = 1
    region: str = "eu-west-1"
    account: str = "123456789012"
    database: str = "transform_core_lake"
    max_active_partitions: int = 500

    def __post_init__(self) -> None:
        object.__setattr__(self, "lake", str(self.lake))
        if self.backup_root is not None:
            object.__setattr__(self, "backup_root", str(self.backup_root))
        if self.source not in ("kinesis", "direct-put"):
            raise ValueError(f"source must be kinesis or direct-put, got {self.source!r}")
        if self.delivery_format not in ("parquet", "json"):
            raise ValueError(f"delivery_format must be parquet or json, got {self.delivery_format!r}")
        if self.compression not in (None, "GZIP", "UNCOMPRESSED"):
            raise ValueError(f"compression must be GZIP or UNCOMPRESSED, got {self.compression!r}")
        if self.delivery_format == "parquet" and self.compression == "GZIP":
            raise ValueError("Parquet compresses inside the file: Firehose takes no GZIP with record format conversion")
        if not 0.2 <= self.processor_buffer.size_mb <= 3 or self.processor_buffer.interval_s > 900:
            raise ValueError("processor_buffer must be 0.2-3 MB and 0-900 s (Firehose's Lambda buffering hints)")
        if not 0 <= self.number_of_retries <= 300:
            raise ValueError(f"number_of_retries must be 0-300, got {self.number_of_retries}")
        if self.max_active_partitions < 1 or self.stream_version < 1:
            raise ValueError("max_active_partitions and stream_version must be at least 1")
        if self.spec.output.delivery != "s3":
            raise ValueError("a local Firehose stream delivers to S3 folders: the spec's output.delivery must be s3")
        for expression in (self.data_prefix, self.errors_prefix, self.backups_prefix):
            _check_expression(expression)

    @property
    def table(self) -> str:
        """The template's ``TableName``: the spec's name with ``-`` → ``_``, lowercase."""
        return self.spec.name.replace("-", "_").lower()

    @property
    def name(self) -> str:
        """The Firehose stream's name."""
        return self.stream_name or self.spec.name

    @property
    def data_prefix(self) -> str:
        """The prefix expression of delivered records."""
        if self.prefix is not None:
            return self.prefix
        hour = "hour=!{partitionKeyFromLambda:hour}/" if "hour" in self.spec.partitioning.keys else ""
        return TEMPLATE_PREFIX.replace("${TableName}", self.table) + hour

    @property
    def errors_prefix(self) -> str:
        """The prefix expression of the error output."""
        return self.error_prefix or TEMPLATE_ERROR_PREFIX.replace("${TableName}", self.table)

    @property
    def backups_prefix(self) -> str:
        """The prefix expression of the source record backup."""
        return self.backup_prefix or TEMPLATE_BACKUP_PREFIX.replace("${TableName}", self.table)

    @property
    def backup_folder(self) -> str:
        """The folder standing for the errors bucket."""
        return self.backup_root or self.lake

    @property
    def compression_format(self) -> Compression:
        """The destination's ``CompressionFormat``."""
        return self.compression or ("GZIP" if self.delivery_format == "json" else "UNCOMPRESSED")

    @property
    def extension(self) -> str:
        """The ``FileExtension`` of delivered objects."""
        if self.file_extension is not None:
            return self.file_extension
        if self.delivery_format == "parquet":
            return ".parquet"
        return ".json.gz" if self.compression_format == "GZIP" else ""

    @property
    def delivery_stream_arn(self) -> str:
        """The stream's ARN, the event's ``deliveryStreamArn``."""
        return f"arn:aws:firehose:{self.region}:{self.account}:deliverystream/{self.name}"

    @property
    def kinesis_stream_arn(self) -> str:
        """The source stream's ARN, the event's ``sourceKinesisStreamArn``."""
        return f"arn:aws:kinesis:{self.region}:{self.account}:stream/{self.name}"

    @property
    def lambda_arn(self) -> str:
        """The processor's ARN, ``lambdaArn`` in the error records."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}-transform:$LATEST"


def prefix_keys(expression: str) -> tuple[str, ...]:
    """The ``partitionKeyFromLambda`` keys a prefix expression reads, in order."""
    return tuple(m["value"] for m in _EXPRESSION.finditer(expression) if m["namespace"] == "partitionKeyFromLambda")


def evaluate_prefix(
    expression: str,
    *,
    timestamp_ms: int,
    partition_keys: Mapping[str, str] | None = None,
    error_output_type: str | None = None,
    random_string: str | None = None,
) -> str:
    """The prefix an expression names for an object.

    Args:
        expression: the prefix with ``!{namespace:value}`` expressions.
        timestamp_ms: the arrival time of the oldest record in the object (epoch milliseconds; UTC).
        partition_keys: the record's ``metadata.partitionKeys``.
        error_output_type: what ``!{firehose:error-output-type}`` stands for (``processing-failed``, …).
        random_string: what ``!{firehose:random-string}`` stands for (None: 11 new random characters).

    Raises:
        PrefixError: a key the expression reads is missing or empty, an error output type is needed and not
            given, or the result is longer than 512 characters.
    """
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    keys = partition_keys or {}

    def value(match: re.Match[str]) -> str:
        namespace, name = match["namespace"], match["value"]
        if namespace == "partitionKeyFromLambda":
            key = keys.get(name)
            if not isinstance(key, str) or not key:
                raise PrefixError(f"the record's metadata.partitionKeys has no {name!r}")
            return key
        if namespace == "timestamp":
            return java_time(name, moment)
        if (namespace, name) == ("firehose", "error-output-type"):
            if error_output_type is None:
                raise PrefixError("!{firehose:error-output-type} outside the error output prefix")
            return error_output_type
        if (namespace, name) == ("firehose", "random-string"):
            return random_string if random_string is not None else _random_string()
        raise PrefixError(f"unknown prefix expression !{{{namespace}:{name}}}")

    prefix = _EXPRESSION.sub(value, expression)
    if len(prefix) > MAX_PREFIX_CHARS:
        raise PrefixError(f"the evaluated prefix is {len(prefix)} characters, over Firehose's {MAX_PREFIX_CHARS}")
    return prefix


def java_time(pattern: str, moment: datetime) -> str:
    """``moment`` formatted by a Java ``DateTimeFormatter`` pattern of year, month, day, hour, minute and second
    letters (``yyyy``, ``MM``, ``dd``, ``HH``, ``mm``, ``ss``), quoted literals and punctuation.

    Raises:
        PrefixError: a letter outside that set.
    """
    out = []
    covered = 0
    for token in _JAVA_TOKEN.finditer(pattern):
        if token.start() != covered:
            break
        covered = token.end()
        if token["quote"] is not None:
            out.append("'")
        elif token["quoted"] is not None:
            out.append(token["quoted"].replace("''", "'"))
        elif token["other"] is not None:
            out.append(token["other"])
        else:
            letters = token["field"]
            attribute = _JAVA_FIELDS.get(letters[0])
            if attribute is None:
                raise PrefixError(f"unsupported DateTimeFormatter letter {letters[0]!r} in {pattern!r}")
            number = getattr(moment, attribute)
            out.append(f"{number % 100:02d}" if letters == "yy" else f"{number:0{len(letters)}d}")
    if covered != len(pattern):
        raise PrefixError(f"unclosed quote in the DateTimeFormatter pattern {pattern!r}")
    return "".join(out)


def _check_expression(expression: str) -> None:
    try:
        evaluate_prefix(
            expression,
            timestamp_ms=0,
            partition_keys={key: "x" for key in prefix_keys(expression)},
            error_output_type="processing-failed",
            random_string="",
        )
    except PrefixError as err:
        raise ValueError(f"prefix {expression!r}: {err}") from err
    if Path(expression).is_absolute() or ".." in expression.split("/"):
        raise ValueError(f"prefix {expression!r} must stay inside its bucket folder")


def _random_string() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=11))
