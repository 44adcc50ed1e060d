"""``transform-core export``: a training set from the curated table, split by event time, for Amazon SageMaker."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from transform_core.cli.arguments import (
    add_as_of_option,
    add_catalog_options,
    add_endpoint_option,
    catalog_options,
    fraction,
    plural,
    print_error,
)

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]

DEFAULT_FRACTION = 0.2  # the share of rows validation gets without --validation-from


def add_commands(commands: Commands) -> None:
    """Register ``export``."""
    cmd = commands.add_parser(
        "export",
        help="write a training set from the curated table: train and validation split by event time, CSV or Parquet",
        description=(
            "Write a training set from the curated Iceberg table into OUTPUT/train/ and OUTPUT/validation/ (one file "
            "each, the channels of a SageMaker training job). The split is by event time: train holds the rows before "
            "the split time, validation those from it on. CSV has no header, the target first and numbers only (booleans "
            "as 1/0, a null feature as an empty field), as SageMaker's built-in algorithms read text/csv; Parquet keeps "
            "names and types, target first. Rows with a null target are left out and counted. Without --features, the "
            "features are the table's numeric and boolean columns."
        ),
        epilog=(
            "examples:\n"
            "  transform-core export --spec examples/iot/pipeline.yaml --target value --output training\n"
            "  transform-core export --spec pipeline.yaml --target value --features battery,rssi,lat,lon \\\n"
            "      --validation-from 2026-11-27T00:00:00Z --output training\n"
            "  transform-core export --spec pipeline.yaml --lake s3://my-lake --catalog glue --target value \\\n"
            "      --format parquet --as-of 2026-11-27T08:00:00Z --output training"
        ),
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    cmd.add_argument("--lake", metavar="ROOT", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    cmd.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict: first in every row")
    cmd.add_argument("--output", required=True, metavar="DIR", help="local folder: writes DIR/train/ and DIR/validation/")
    cmd.add_argument(
        "--format",
        choices=["csv", "parquet"],
        default="csv",
        help="csv (no header, target first, numbers only: SageMaker's text/csv; the default) or parquet",
    )
    split = cmd.add_mutually_exclusive_group()
    split.add_argument(
        "--validation-from",
        metavar="TIME",
        help="split time, ISO 8601 (UTC unless it has an offset): validation holds the rows from it on",
    )
    split.add_argument(
        "--validation-fraction",
        type=fraction,
        metavar="F",
        help=f"at least this share of the rows, the latest by event time, go to validation (default: {DEFAULT_FRACTION})",
    )
    cmd.add_argument(
        "--features",
        metavar="COLUMNS",
        help="feature columns, comma-separated, in order (default: the table's numeric and boolean columns)",
    )
    add_as_of_option(cmd)
    add_catalog_options(cmd)
    add_endpoint_option(cmd)
    cmd.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from datetime import UTC

    from transform_core.lake.curated.export import TrainingSet, parse_instant, write_training_set
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    try:
        features = None if args.features is None else tuple(name.strip() for name in args.features.split(","))
        training = TrainingSet(
            target=args.target,
            features=features,
            format=args.format,
            validation_from=parse_instant(args.validation_from) if args.validation_from is not None else None,
            validation_fraction=DEFAULT_FRACTION if args.validation_fraction is None else args.validation_fraction,
        )
        summary = write_training_set(spec, args.lake, training, args.output, as_of=args.as_of, catalog=catalog_options(args))
    except ValueError as err:
        return print_error(err, command="export")
    target, *features_written = summary.columns
    split_at = summary.split_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    print(f"columns: {target} (target), {', '.join(features_written)}")
    print(
        f"train {plural(summary.train_rows, 'row')} (event time before {split_at}), validation "
        f"{plural(summary.validation_rows, 'row')} (from it on), {summary.left_out:,} left out ({summary.no_target:,} "
        f"without {target}, {summary.no_event_time:,} without an event time); {plural(len(summary.files), 'file')}: "
        f"{', '.join(summary.files)}"
    )
    return 0
