"""``transform-core dashboard``: one self-contained HTML page of charts from a pipeline's lake."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from transform_core.cli.arguments import add_endpoint_option, plural, print_error

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``dashboard``."""
    cmd = commands.add_parser(
        "dashboard",
        help="write one self-contained HTML page of charts from a pipeline's lake",
        description=(
            "Read a pipeline's lake and write one HTML file that works offline (Plotly, its JavaScript inlined): records "
            "by outcome over time (Ok from the raw zone, or the curated table without one; rejected from the errors "
            "zone; dropped records are never written to the lake, so they are not counted), the top rejection rules, "
            "partitions and file sizes, and the spec's measure over event time by a grouping field (default: the "
            "schema's first number property, else its first integer one, by the first enrichment field). Needs the "
            "dashboard extra."
        ),
        epilog=(
            "examples:\n"
            "  transform-core dashboard --spec examples/iot/pipeline.yaml                # writes dashboard.html\n"
            "  transform-core dashboard --spec pipeline.yaml --measure battery --by model --output battery.html\n"
            "  transform-core dashboard --spec pipeline.yaml --lake s3://my-lake --output lake.html"
        ),
    )
    cmd.add_argument("--spec", required=True, metavar="PATH", help="pipeline spec (YAML or JSON)")
    cmd.add_argument("--lake", metavar="ROOT", help="lake root, a folder or s3://bucket/prefix (default: the spec's output.lake)")
    cmd.add_argument(
        "--output", default="dashboard.html", metavar="FILE", help="the HTML file to write (default: dashboard.html)"
    )
    cmd.add_argument("--measure", metavar="COLUMN", help="the numeric column charted over time (default: chosen from the spec)")
    cmd.add_argument("--by", metavar="COLUMN", help="the column grouping that chart (default: the spec's first enrichment field)")
    add_endpoint_option(cmd)
    cmd.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from transform_core.dashboard import write_dashboard
    from transform_core.spec import load_spec

    spec = load_spec(args.spec)
    try:
        data = write_dashboard(spec, args.output, args.lake, measure=args.measure, by=args.by, endpoint_url=args.endpoint_url)
    except ValueError as err:
        return print_error(err, command="dashboard")
    size = Path(args.output).stat().st_size
    if data.empty:
        print(
            f"{args.output}: the lake at {data.root} has no records for {spec.name!r} yet (raw/, curated/ and errors/ are empty)"
        )
        return 0
    zone = {"raw": "raw zone", "curated": "curated table"}.get(data.ok_zone or "", "no Ok zone")
    chart = f"{data.measure.column} by {data.measure.by or 'time'}" if data.measure else f"no measure chart: {data.measure_note}"
    problems = plural(len(data.problems), "file or record", "files or records")
    skipped = f"; {problems} not counted (listed on the page)" if data.problems else ""
    print(
        f"{args.output} ({size / 1e6:.1f} MB): {plural(data.ok_records, 'Ok record')} ({zone}), "
        f"{data.rejected_records:,} rejected, {plural(data.files.height, 'file')}; {chart}{skipped}"
    )
    return 0
