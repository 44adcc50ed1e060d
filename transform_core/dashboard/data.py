"""What the dashboard shows, read from a pipeline's lake: small frames of counts, sizes and means.

Every number is aggregated by Polars; only the aggregates reach the page. Ok records come from the raw zone, whoever
wrote it (:func:`~transform_core.lake.raw.read_raw`: the lake writer, or Firehose's Parquet or JSON delivery), or from
the curated table when the raw zone has no files; rejected records from the errors zone (:mod:`.rejected`). Dropped
records are never written to the lake, so it cannot count them: a caller that knows the count passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import polars as pl

from transform_core.dashboard.rejected import read_rejected
from transform_core.firehose.outcomes import FAILED, OK
from transform_core.lake.columns import INGESTED_AT, lake_columns, table_dtypes
from transform_core.lake.query import lake_tables
from transform_core.lake.raw import read_raw
from transform_core.lake.storage import join, list_sizes
from transform_core.spec import PipelineSpec

__all__ = ["Bucket", "DashboardData", "Measure", "default_measure", "read_dashboard"]

TOP_RULES = 15  # rejection rules charted
TOP_GROUPS = 8  # groups of the measure charted one by one; the rest are "other"
OTHER, NONE = "other", "(none)"
_MAX_BUCKETS = 120
_MIN_STEPS, _PER_POINT = 6, 20  # the measure's time steps: at least this many, about this many records a point
_BUCKETS = (
    ("1s", "second", timedelta(seconds=1)),
    ("10s", "10 seconds", timedelta(seconds=10)),
    ("1m", "minute", timedelta(minutes=1)),
    ("10m", "10 minutes", timedelta(minutes=10)),
    ("1h", "hour", timedelta(hours=1)),
    ("6h", "6 hours", timedelta(hours=6)),
    ("1d", "day", timedelta(days=1)),
    ("1w", "week", timedelta(weeks=1)),
    ("1mo", "month", timedelta(days=31)),
)
_NUMERIC = (pl.Int64, pl.Float64)
_SCALAR = (pl.String, pl.Int64, pl.Float64, pl.Boolean, pl.Date)


@dataclass(frozen=True)
class Bucket:
    """A time bucket: a Polars duration (``1h``) and its name (``hour``)."""

    every: str
    label: str


@dataclass(frozen=True, kw_only=True)
class Measure:
    """The spec's measure over event time, one series per group of ``by``.

    Attributes:
        column: the numeric column averaged.
        by: the column grouping the series, or None for one series of all records.
        frame: ``time`` (Datetime, UTC without a zone), ``group`` (String), ``mean`` (Float64), ``records`` (UInt32).
        bucket: the width of each time step.
    """

    column: str
    by: str | None
    frame: pl.DataFrame
    bucket: Bucket


@dataclass(frozen=True, kw_only=True)
class DashboardData:
    """Everything the dashboard shows.

    Attributes:
        spec_name: the pipeline's name.
        root: the lake root read.
        ok_zone: where the Ok records were counted: ``raw``, ``curated``, or None without either.
        ok_records: Ok records in that zone.
        rejected_records: records in the errors zone.
        dropped_records: the dropped records the caller counted, or None (the lake does not hold them).
        drop_rule: the spec's drop rule as text (``event_type in heartbeat``), or None.
        outcomes: ``time`` (bucket start, UTC without a zone), ``outcome`` (``Ok``/``ProcessingFailed``), ``records``;
            by when the lake received them (``_ingested_at``, ``errorTimestamp``).
        outcome_bucket: the width of the outcome buckets, None without records.
        rules: ``rule`` (``$.path|rule``), ``records``, ``example`` (its most frequent reason); the top :data:`TOP_RULES`.
        partitions: ``zone``, ``partition`` (``2026-11-27``, ``2026-11-27T10``), ``files``, ``bytes``, ``rows`` (null
            for the curated zone).
        files: ``zone`` (``raw``, ``errors``, ``curated``, ``backup``), ``partition``, ``file``, ``bytes``: every data
            file of the lake.
        problems: the files not read and the records the lake refuses, one line each.
        event_times: the first and last event time of the Ok records (UTC), or None.
        measure: the measure over time, or None with ``measure_note`` saying why.
        measure_note: why there is no measure chart, or None.
        read_at: when the lake was read.
    """

    spec_name: str
    root: str
    ok_zone: Literal["raw", "curated"] | None
    ok_records: int
    rejected_records: int
    dropped_records: int | None
    drop_rule: str | None
    outcomes: pl.DataFrame
    outcome_bucket: Bucket | None
    rules: pl.DataFrame
    partitions: pl.DataFrame
    files: pl.DataFrame
    problems: tuple[str, ...]
    event_times: tuple[datetime, datetime] | None
    measure: Measure | None
    measure_note: str | None
    read_at: datetime

    @property
    def empty(self) -> bool:
        """No records and no files: nothing to chart."""
        return self.ok_records == 0 and self.rejected_records == 0 and self.files.is_empty()


def default_measure(spec: PipelineSpec) -> tuple[str | None, str | None]:
    """The measure and the grouping field the dashboard charts by default.

    The measure is the first ``number`` property of the schema (a Float64 column), else its first ``integer`` one,
    leaving out the event time and the enrichment keys; the grouping field is the first enrichment field. Either is
    None when the spec has none.
    """
    dtypes = lake_columns(spec, table_dtypes(spec)).dtypes
    enriched = {name for table in spec.enrich for name in table.fields}
    skip = {spec.event_time.field.split(".")[0], *(table.record_key.split(".")[0] for table in spec.enrich)}
    own = [name for name in _properties(spec) if name in dtypes and name not in enriched and name not in skip]
    measure = next((n for n in own if dtypes[n] == pl.Float64), None) or next((n for n in own if dtypes[n] == pl.Int64), None)
    by = spec.enrich[0].fields[0] if spec.enrich else None
    return measure, by


def read_dashboard(
    spec: PipelineSpec,
    root: str | None = None,
    *,
    measure: str | None = None,
    by: str | None = None,
    endpoint_url: str | None = None,
    dropped: int | None = None,
) -> DashboardData:
    """Read the lake of ``spec`` into what the dashboard shows.

    Args:
        spec: the pipeline spec.
        root: a local folder or ``s3://bucket/prefix``; default: the spec's ``output.lake``.
        measure: the numeric column charted over time; default: :func:`default_measure`'s.
        by: the column grouping that chart; default: :func:`default_measure`'s (the first enrichment field).
        endpoint_url: S3 endpoint, overriding the AWS environment variables.
        dropped: how many records the spec dropped, when the caller knows (``transform_core.local``'s summary does);
            the lake cannot count them.

    Raises:
        SpecError: no root given and no ``output.lake`` in the spec.
        ValueError: ``measure`` is not a numeric column of the lake, or ``by`` not a scalar one; or the lake's files
            cannot be read together.
    """
    root = spec.lake_root(root, needed_by="the dashboard")
    columns = lake_columns(spec, table_dtypes(spec))
    measure, by = _chosen(spec, columns.dtypes, measure, by)
    table = spec.name.replace("-", "_")
    files = _files(root, table, endpoint_url)
    tables = lake_tables(spec, root=root, endpoint_url=endpoint_url)  # the curated table, the lake writer's errors
    raw_files = files.filter(pl.col("zone") == "raw")["file"].to_list()
    raw_read = read_raw(raw_files, columns, endpoint_url=endpoint_url) if raw_files else None
    raw = raw_read.frame.lazy() if raw_read is not None and raw_read.sources else None
    curated = tables.get(f"curated_{table}")
    ok_zone: Literal["raw", "curated"] | None = "raw" if raw is not None else "curated" if curated is not None else None
    ok = raw if raw is not None else curated
    errors_prefix = join(root, "errors", table)
    firehose_errors = [f for f in files.filter(pl.col("zone") == "errors")["file"] if not f.endswith(".ndjson")]
    rejected = read_rejected(
        spec,
        tables.get(f"errors_{table}"),
        firehose_errors,
        prefix=errors_prefix,
        label=_partition_label,
        endpoint_url=endpoint_url,
    )
    ok_records = _count(ok)
    outcomes, outcome_bucket = _outcomes(ok, rejected.frame)
    times = _event_times(spec, ok, ok_zone) if ok is not None else None
    event_times = None
    if times is not None and ok_records:
        first, last = _collect(times.select(pl.col("time").min().alias("a"), pl.col("time").max().alias("b"))).row(0)
        event_times = (first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)) if first is not None else None
    chart, note = _measure(times, measure, by, ok_records, event_times)
    problems = [f"{file}: {why}" for file, why in rejected.problems]
    if raw_read is not None:
        problems += [f"{p.file}: {p.reason}" for p in raw_read.problems]
        problems += [f"{r.file} record {r.position}: {r.reason}" for r in raw_read.refused]
    return DashboardData(
        spec_name=spec.name,
        root=root,
        ok_zone=ok_zone,
        ok_records=ok_records,
        rejected_records=rejected.frame.height,
        dropped_records=dropped,
        drop_rule=f"{spec.drop.field} in {', '.join(map(str, spec.drop.values))}" if spec.drop else None,
        outcomes=outcomes,
        outcome_bucket=outcome_bucket,
        rules=_rules(rejected.frame),
        partitions=_partitions(files, raw, rejected.frame, spec.partitioning.keys),
        files=files,
        problems=tuple(problems),
        event_times=event_times,
        measure=chart,
        measure_note=note,
        read_at=datetime.now(UTC).replace(microsecond=0),
    )


def _properties(spec: PipelineSpec) -> list[str]:
    properties = spec.schema.get("properties")
    return list(properties) if isinstance(properties, dict) else []


def _chosen(
    spec: PipelineSpec, dtypes: Mapping[str, pl.DataType], measure: str | None, by: str | None
) -> tuple[str | None, str | None]:
    """The measure and grouping column, the defaults filled in, checked against the lake's columns (``dtypes``)."""
    default_column, default_by = default_measure(spec) if measure is None or by is None else (None, None)
    measure = measure if measure is not None else default_column
    by = by if by is not None else default_by
    if measure is not None and dtypes.get(measure) not in _NUMERIC:
        numeric = ", ".join(name for name, dtype in dtypes.items() if dtype in _NUMERIC) or "none"
        raise ValueError(f"--measure {measure!r} is not a numeric column of the lake (numeric columns: {numeric})")
    if by is not None and dtypes.get(by) not in _SCALAR:
        scalar = ", ".join(name for name, dtype in dtypes.items() if dtype in _SCALAR)
        raise ValueError(f"--by {by!r} is not a column of the lake with one value per record (such columns: {scalar})")
    return measure, by


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as err:
        message = " ".join(str(err).split("\n\n", 1)[0].split())
        raise ValueError(f"the lake's files cannot be read together: {message}") from err


def _count(frame: pl.LazyFrame | None) -> int:
    return 0 if frame is None else int(_collect(frame.select(pl.len())).item())


def _bucket_for(first: datetime, last: datetime, steps: int = _MAX_BUCKETS) -> Bucket:
    """The narrowest bucket that cuts ``[first, last]`` into at most ``steps`` steps."""
    span = last - first
    for every, label, width in _BUCKETS:
        if span <= width * steps:
            return Bucket(every, label)
    return Bucket("1y", "year")


def _outcomes(ok: pl.LazyFrame | None, rejected: pl.DataFrame) -> tuple[pl.DataFrame, Bucket | None]:
    """Records by outcome and by when the lake received them."""
    parts = [rejected.lazy().select("time", pl.lit(FAILED).alias("outcome"))]
    if ok is not None:
        parts.insert(0, ok.select(pl.col(INGESTED_AT).dt.replace_time_zone(None).alias("time"), pl.lit(OK).alias("outcome")))
    schema = {"time": pl.Datetime("us"), "outcome": pl.String(), "records": pl.UInt32()}
    times = pl.concat(parts).drop_nulls("time")
    first, last = _collect(times.select(pl.col("time").min().alias("a"), pl.col("time").max().alias("b"))).row(0)
    if first is None:
        return pl.DataFrame(schema=schema), None
    bucket = _bucket_for(first, last)
    counts = times.group_by(pl.col("time").dt.truncate(bucket.every), "outcome").agg(pl.len().alias("records"))
    return _collect(counts.sort("time", "outcome")).cast(schema), bucket  # type: ignore[arg-type]


def _rules(rejected: pl.DataFrame) -> pl.DataFrame:
    """The top rejection rules, each with its most frequent reason."""
    counts = rejected.group_by("rule", "reason").agg(pl.len().cast(pl.Int64).alias("n"))
    top = (
        counts.sort("n", "reason", descending=[True, False], nulls_last=True)
        .group_by("rule", maintain_order=True)
        .agg(pl.col("n").sum().alias("records"), pl.col("reason").first().fill_null("(no reason)").alias("example"))
    )
    return top.sort("records", "rule", descending=[True, False]).head(TOP_RULES)


def _files(root: str, table: str, endpoint_url: str | None) -> pl.DataFrame:
    """Every file of the lake's zones with its zone, partition and size (the curated table's data files only)."""
    rows: list[tuple[str, str, str, int]] = []
    for zone, prefix in (
        ("raw", join(root, "raw", table)),
        ("errors", join(root, "errors", table)),
        ("curated", join(root, "curated")),
        ("backup", join(root, "backup", table)),
    ):
        for file, size in list_sizes(prefix, endpoint_url=endpoint_url).items():
            if zone == "curated" and not (file.endswith(".parquet") and f"/{table}/data/" in file.replace("\\", "/")):
                continue
            rows.append((zone, _partition_label(file), file, size))
    schema = {"zone": pl.String(), "partition": pl.String(), "file": pl.String(), "bytes": pl.Int64()}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _partition_label(file: str) -> str:
    """``2026-11-27`` or ``2026-11-27T10`` from a file's partition folders (Hive keys, or Iceberg's ``<col>_day=``)."""
    keys: dict[str, str] = {}
    for part in file.replace("\\", "/").split("/")[:-1]:
        key, sep, value = part.partition("=")
        if not sep:
            continue
        if key in ("year", "month", "day", "hour"):
            keys[key] = value
        elif key.endswith("_day"):
            return value
        elif key.endswith("_hour"):
            date, _, hour = value.rpartition("-")
            return f"{date}T{hour}"
    if not {"year", "month", "day"} <= keys.keys():
        return "(none)"
    label = f"{keys['year']}-{keys['month']}-{keys['day']}"
    return f"{label}T{keys['hour']}" if "hour" in keys else label


def _partitions(files: pl.DataFrame, raw: pl.LazyFrame | None, rejected: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    """Files, bytes and rows per zone and partition (rows for the raw and errors zones)."""
    sizes = files.group_by("zone", "partition").agg(pl.len().cast(pl.Int64).alias("files"), pl.col("bytes").sum())
    schema = {"zone": pl.String(), "partition": pl.String(), "rows": pl.Int64()}
    counts = [
        rejected.group_by("partition")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .select(pl.lit("errors").alias("zone"), "partition", "rows")
    ]
    if raw is not None:
        by_key = _collect(raw.group_by(keys).agg(pl.len().cast(pl.Int64).alias("rows")))
        counts.append(by_key.select(pl.lit("raw").alias("zone"), _label_expr(keys).alias("partition"), "rows"))
    rows = pl.concat([frame.cast(schema) for frame in counts])  # type: ignore[arg-type]
    joined = sizes.join(rows, on=["zone", "partition"], how="left")
    return joined.sort("zone", "partition").select("zone", "partition", "files", "bytes", "rows")


def _label_expr(keys: tuple[str, ...]) -> pl.Expr:
    date = pl.concat_str([pl.col("year"), pl.col("month"), pl.col("day")], separator="-")
    return pl.concat_str([date, pl.col("hour")], separator="T") if "hour" in keys else date


def _event_times(spec: PipelineSpec, ok: pl.LazyFrame, zone: str | None) -> pl.LazyFrame:
    """The Ok records with ``time``: their event time (UTC, no zone), else the start of their partition."""
    from transform_core.lake.curated.schema import curated_layout

    try:
        layout = curated_layout(spec)
    except ValueError:
        layout = None
    keys = spec.partitioning.keys
    if layout is None:
        event = pl.lit(None, dtype=pl.Datetime("us"))
    elif zone == "curated" or layout.event_time_expr is None:  # a timestamptz column of its own
        event = pl.col(layout.event_time).dt.replace_time_zone(None)
    else:  # computed from the raw columns, as compact computes it
        event = pl.from_epoch(layout.event_time_expr, time_unit="us")
    if zone == "raw":
        start = pl.datetime(*(pl.col(k).cast(pl.Int32) for k in keys))
        event = pl.coalesce(event, start)
    return ok.with_columns(event.alias("time"))


def _measure(
    times: pl.LazyFrame | None,
    column: str | None,
    by: str | None,
    ok_records: int,
    event_times: tuple[datetime, datetime] | None,
) -> tuple[Measure | None, str | None]:
    """The mean of ``column`` per event-time bucket, for the :data:`TOP_GROUPS` largest groups of ``by`` and the rest."""
    if column is None:
        return None, "the schema has no numeric property to chart: name a numeric column with --measure"
    if times is None or not ok_records or event_times is None:
        return None, "no Ok records in the lake yet"
    group = pl.col(by).cast(pl.String) if by is not None else pl.lit("all records")
    values = times.select("time", pl.col(column).cast(pl.Float64).alias("value"), group.alias("group"))
    sizes = _collect(
        values.group_by("group").agg(pl.len().alias("n")).sort("n", "group", descending=[True, False], nulls_last=True)
    )
    top = [g for g in sizes["group"].to_list() if g is not None][:TOP_GROUPS]
    # a mean of a handful of records is noise: steps wide enough for about _PER_POINT records per series on average
    series_count = min(sizes.height, TOP_GROUPS + 2)
    steps = max(_MIN_STEPS, min(_MAX_BUCKETS, ok_records // (series_count * _PER_POINT)))
    bucket = _bucket_for(event_times[0].replace(tzinfo=None), event_times[1].replace(tzinfo=None), steps)
    named = (
        pl.when(pl.col("group").is_null())
        .then(pl.lit(NONE))
        .when(pl.col("group").is_in(top))
        .then("group")
        .otherwise(pl.lit(OTHER))
    )
    series = (
        values.with_columns(named.alias("group"))
        .group_by(pl.col("time").dt.truncate(bucket.every), "group")
        .agg(pl.col("value").mean().alias("mean"), pl.len().alias("records"))
        .sort("group", "time")
    )
    schema = {"time": pl.Datetime("us"), "group": pl.String(), "mean": pl.Float64(), "records": pl.UInt32()}
    frame = _collect(series).cast(schema)  # type: ignore[arg-type]
    return Measure(column=column, by=by, frame=frame, bucket=bucket), None
