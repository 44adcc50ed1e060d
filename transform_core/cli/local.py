"""``transform-core local`` (the whole pipeline on this machine, ``--demo`` with generated traffic) and ``send``."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from transform_core.cli.arguments import PROG, non_negative, plural, positive, print_error

if TYPE_CHECKING:
    from transform_core.cli.arguments import Commands
    from transform_core.local.pipeline import LocalPipeline, LocalSummary
    from transform_core.local.traffic import DemoFeed
    from transform_core.spec import PipelineSpec

__all__ = ["add_commands"]

# (the template's value, --demo's): a demo shows batches, objects and curated runs within seconds
_DEFAULTS: dict[str, tuple[float, float]] = {
    "processor_buffer_mb": (2, 1),
    "processor_interval": (60, 2),
    "s3_buffer_mb": (128, 128),
    "s3_interval": (300, 3),
    "compact_every": (60, 4),
}
_DEMO_DURATION_S = 10.0
_DEMO_RATE = 2_000  # records a second, half over HTTP, half put directly
_DEMO_PROGRESS_S = 2.0


def add_commands(commands: Commands) -> None:
    """Register ``local`` and ``send``."""
    _add_local(commands)
    _add_send(commands)


def _add_local(commands: Commands) -> None:
    cmd = commands.add_parser(
        "local",
        help="run the whole pipeline on this machine: POST /events, the Lambda, Firehose, the lake, the curated table",
        description=(
            "Run the template's pipeline on this machine until Ctrl-C (SIGINT or SIGTERM) or --duration: an HTTP endpoint "
            "answering as the API Gateway route POST /events does (loopback, no SigV4), the function as Lambda runs it "
            "(the template's handler, TRANSFORM_CORE_SPEC), Firehose buffering, invoking and writing the raw zone, the "
            "error prefix and the source backup under --lake, and the curated step (compact, into the lake's SQLite "
            "catalog) every --compact-every seconds. Progress goes to stderr. At the end ingest stops, every buffer is "
            "flushed, the Lambda closes, the curated step runs once more, and a summary says what happened, where it "
            "is, and a query command to read it. --demo feeds generated records (bad ones included), half over HTTP and "
            "half put directly as the IoT rule does, with short buffers, for 10 seconds."
        ),
        epilog=(
            "examples:\n"
            "  transform-core local --spec examples/iot/pipeline.yaml --lake local-lake --processor-interval 10 --s3-interval 10\n"
            "  transform-core send records.ndjson          # in another terminal\n"
            "  transform-core local --demo                 # generated traffic; what `make demo` runs"
        ),
    )
    cmd.add_argument("--spec", type=Path, metavar="PATH", help="pipeline spec (required, except with --demo: the example's)")
    cmd.add_argument(
        "--lake",
        metavar="DIR",
        help="the folder standing for the template's buckets (default: the spec's output.lake; --demo: a new temporary folder)",
    )
    cmd.add_argument(
        "--port", type=_port, default=None, metavar="N", help="the endpoint's port (default: 8080; --demo: a free one)"
    )
    cmd.add_argument(
        "--host", default="127.0.0.1", metavar="ADDR", help="the endpoint's address (default: 127.0.0.1; it checks no signature)"
    )
    cmd.add_argument(
        "--format",
        choices=["parquet", "json"],
        default="parquet",
        help="what Firehose writes to raw/: parquet (record format conversion, the default) or json (NDJSON)",
    )
    cmd.add_argument(
        "--gzip",
        action="store_true",
        help="GZIP the JSON objects, as the template does with DeliveryFormat=JSON (without it: plain NDJSON)",
    )
    cmd.add_argument(
        "--source",
        choices=["kinesis", "direct-put"],
        default="kinesis",
        help="the stream's source, which shapes the Lambda's event: kinesis (the template's, the default) or direct-put",
    )
    _add_number(cmd, "--processor-buffer-mb", "MB", "the Lambda processor's buffer, 0.2-3 MB")
    _add_number(cmd, "--processor-interval", "S", "the Lambda processor's buffer interval, 0-900 s")
    _add_number(cmd, "--s3-buffer-mb", "MB", "the S3 buffer per partition")
    _add_number(cmd, "--s3-interval", "S", "the S3 buffer interval")
    _add_number(cmd, "--compact-every", "S", "seconds between curated runs; one more runs at the end")
    cmd.add_argument(
        "--duration",
        type=non_negative,
        default=None,
        metavar="S",
        help=f"stop after S seconds (default: at Ctrl-C; --demo: {_DEMO_DURATION_S:g})",
    )
    cmd.add_argument(
        "--timeout", type=non_negative, default=300.0, metavar="S", help="the function's timeout (default: 300, the template's)"
    )
    cmd.add_argument(
        "--demo",
        action="store_true",
        help=f"feed generated records, 10%% invalid, {_DEMO_RATE:,} a second, half over HTTP, then write the dashboard",
    )
    cmd.set_defaults(run=_run_local)


def _add_number(cmd: argparse.ArgumentParser, flag: str, metavar: str, text: str) -> None:
    template, demo = _DEFAULTS[flag[2:].replace("-", "_")]
    default = f"{template:g}" if template == demo else f"{template:g}; --demo: {demo:g}"
    cmd.add_argument(flag, type=non_negative, default=None, metavar=metavar, help=f"{text} (default: {default})")


def _run_local(args: argparse.Namespace) -> int:
    from transform_core.local.delivery_config import BufferingHints, DeliverySettings
    from transform_core.local.pipeline import LocalPipeline, LocalSettings, run_local
    from transform_core.spec import load_spec

    if args.spec is None and not args.demo:
        return print_error(ValueError("--spec is required (or --demo, which runs the example spec)"), command="local")
    if args.gzip and args.format != "json":
        return print_error(ValueError("--gzip goes with --format json: Parquet compresses inside the file"), command="local")
    spec_path: Path = args.spec if args.spec is not None else _example_spec()
    spec = load_spec(spec_path)
    if args.lake is None and not args.demo and spec.output.lake is None:
        return print_error(ValueError(f"--lake is required: {spec_path} has no output.lake"), command="local")
    if args.lake is None and not args.demo and isinstance(spec.output.lake, str):  # an s3:// URI
        return print_error(
            ValueError(f"--lake is required: {spec_path}'s output.lake is {spec.output.lake}; local writes to a folder"),
            command="local",
        )
    lake = args.lake or (_demo_lake() if args.demo else str(spec.output.lake))
    value = {name: _pick(getattr(args, name), *defaults, demo=args.demo) for name, defaults in _DEFAULTS.items()}
    try:
        delivery = DeliverySettings(
            spec=spec,
            lake=lake,
            source=args.source,
            delivery_format=args.format,
            compression=("GZIP" if args.gzip else "UNCOMPRESSED") if args.format == "json" else None,
            processor_buffer=BufferingHints(value["processor_buffer_mb"], value["processor_interval"]),
            s3_buffer=BufferingHints(value["s3_buffer_mb"], value["s3_interval"]),
        )
        settings = LocalSettings(
            spec_path=spec_path,
            delivery=delivery,
            host=args.host,
            port=args.port if args.port is not None else (0 if args.demo else 8080),
            function_timeout_s=args.timeout,
            compact_every_s=value["compact_every"],
            progress_every_s=_DEMO_PROGRESS_S if args.demo else 10.0,
        )
    except ValueError as err:
        return print_error(err, command="local")
    duration = args.duration if args.duration is not None else (_DEMO_DURATION_S if args.demo else None)
    feed = _demo_feed(spec_path, spec, duration or _DEMO_DURATION_S) if args.demo else None
    pipeline = LocalPipeline(settings, progress=sys.stderr)
    stop = threading.Event()
    try:
        with _StopOnSignals(stop):
            summary = run_local(pipeline, stop=stop, duration_s=duration, feed=feed, started=_announce(args, duration))
    except KeyboardInterrupt:  # a second Ctrl-C
        print_error(RuntimeError("interrupted: the objects written are whole; records still buffered are lost"), command="local")
        return 130
    _print_summary(summary, spec, spec_path, sys.stdout)
    if feed is not None:
        _print_demo(feed, summary, spec, sys.stdout)
    return 0


def _pick(given: float | None, template: float, demo_value: float, *, demo: bool) -> float:
    if given is not None:
        return given
    return demo_value if demo else template


def _example_spec() -> Path:
    from transform_core.demo.run import example_spec

    spec = example_spec()
    try:
        relative = spec.relative_to(Path.cwd())
    except ValueError:
        return spec
    return relative


def _demo_lake() -> str:
    return str(Path(tempfile.mkdtemp(prefix="transform-core-demo-")) / "lake")


def _demo_feed(spec_path: Path, spec: PipelineSpec, duration_s: float) -> DemoFeed:
    from transform_core.local.traffic import DemoFeed, demo_payloads

    count = max(1, int(_DEMO_RATE * duration_s * 0.8))  # sent within the first 80% of the run
    return DemoFeed(demo_payloads(spec_path, spec, count, seed=0), rate=_DEMO_RATE)


class _StopOnSignals:
    """SIGINT and SIGTERM set ``stop`` (a clean shutdown); a second one acts as it would without this."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; in-process callers set the event themselves
        for signum in self._SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self._stop.set()
        for other, handler in self._previous.items():  # a second Ctrl-C interrupts the shutdown
            signal.signal(other, handler)


def _announce(args: argparse.Namespace, duration: float | None) -> Any:
    def started(pipeline: LocalPipeline) -> None:
        until = f"for {duration:g} s" if duration is not None else "until Ctrl-C"
        pipeline.say(f"POST {pipeline.url}  lake {pipeline.paths.lake}  running {until}")
        if args.host not in ("127.0.0.1", "::1", "localhost"):
            pipeline.say(f"listening on {args.host}: anyone who reaches it can put records (no SigV4 here)")

    return started


def _print_summary(summary: LocalSummary, spec: PipelineSpec, spec_path: Path, out: TextIO) -> None:
    d = summary.delivery
    paths = summary.paths
    print(f"\n{PROG} local: {summary.elapsed_s:.1f} s, {plural(d.records_in, 'record')} in", file=out)
    print(
        f"  ingest   {summary.ingest.accepted:,} over HTTP ({plural(summary.ingest.requests, 'request')}, "
        f"{summary.ingest.refused:,} refused{_statuses(summary.ingest.statuses)}), {summary.direct_puts:,} put directly",
        file=out,
    )
    print(f"  results  Ok {d.ok:,}, failed {d.failed:,}, dropped {d.dropped:,}", file=out)
    if summary.enrich_missed:
        tables = ", ".join(f"{table} {n:,}" for table, n in summary.enrich_missed.items())
        print(f"  unenriched {sum(summary.enrich_missed.values()):,} of the Ok records, their fields null: {tables}", file=out)
    print(
        f"  Firehose {plural(d.invocations, 'invocation')} ({plural(d.retries, 'retry', 'retries')}, "
        f"{plural(summary.cold_starts, 'cold start')}), "
        f"{plural(d.delivered, 'Ok record')} to raw/, {d.undeliverable:,} undeliverable to the error prefix",
        file=out,
    )
    for error in d.invocation_errors[:3]:
        print(f"  invocation failed: {error}", file=out)
    print("files", file=out)
    for zone, folder in (("raw", paths.raw), ("errors", paths.errors), ("backup", paths.backup)):
        print(f"  {zone:<8} {len(d.objects[zone]):>6,}  {folder}/", file=out)
    c = summary.curated
    if c.snapshot_id is not None:
        print(
            f"curated  {c.table} snapshot {c.snapshot_id}: {plural(c.rows or 0, 'row')} (curated runs {c.runs:,}, "
            f"commits {c.commits:,}"
            + (f", {plural(c.refused, 'record')} refused" if c.refused else "")
            + f")\n  table    {paths.curated}/\n  catalog  {paths.catalog}",
            file=out,
        )
    else:
        print(f"curated  {c.table}: no snapshot", file=out)
    if c.note is not None:
        print(f"  note     {c.note}", file=out)
    print(f"lambda log {paths.lambda_log}", file=out)
    keys = ", ".join(spec.partitioning.keys)
    table = spec.name.replace("-", "_")
    sql = f"SELECT {keys}, count(*) AS records FROM {table} GROUP BY {keys} ORDER BY {keys}"
    command = [*_prog(), "query", "--spec", str(spec_path), "--lake", str(paths.lake), sql]
    if c.snapshot_id is None and not any(paths.raw.rglob("*.parquet")):
        print("query    nothing to query yet: the lake has no curated table and no Parquet in raw/", file=out)
    else:
        print(f"query\n  {shlex.join(command)}", file=out)


def _print_demo(feed: DemoFeed, summary: LocalSummary, spec: PipelineSpec, out: TextIO) -> None:
    http = feed.http
    sent_http = http.sent if http is not None else 0
    print(
        f"demo     {feed.sent:,} of {len(feed.payloads):,} generated records sent: {sent_http:,} over HTTP, "
        f"{feed.direct:,} put directly",
        file=out,
    )
    expected = feed.expected()
    if expected is not None:
        d = summary.delivery
        verdict = "as generated" if (d.ok, d.failed, d.dropped) == tuple(expected) else "DIFFERS"
        print(f"  expected Ok {expected.ok:,}, failed {expected.failed:,}, dropped {expected.dropped:,}: {verdict}", file=out)
    print(f"dashboard {_dashboard(spec, summary)}", file=out)


def _dashboard(spec: PipelineSpec, summary: LocalSummary) -> str:
    """Write the dashboard next to the Lambda's log if ``transform_core.dashboard`` is there; its path, or why not."""
    from transform_core.errors import TransformCoreError

    try:
        from transform_core.dashboard import write_dashboard
    except ImportError:
        return "(skipped: transform_core.dashboard is not in this installation)"
    path = summary.paths.lambda_log.parent / "dashboard.html"
    try:
        write_dashboard(spec, path, str(summary.paths.lake), dropped=summary.delivery.dropped)
    except (TransformCoreError, ValueError) as err:
        return f"(skipped: {err})"
    return str(path)


def _prog() -> list[str]:
    """How to run transform-core again as this process was run."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name == PROG:
        return [argv0]
    return [sys.executable, "-m", "transform_core.cli"]


def _statuses(statuses: Mapping[int, int]) -> str:
    others = [f"{status}: {count:,}" for status, count in statuses.items() if status != 200]
    return f"; {', '.join(others)}" if others else ""


# --- send -------------------------------------------------------------------------------------------------------------


def _add_send(commands: Commands) -> None:
    from transform_core.local.send import DEFAULT_URL

    cmd = commands.add_parser(
        "send",
        help="POST each NDJSON line to the ingest endpoint (transform-core local) as one record",
        description=(
            "Send each line of an NDJSON file (or stdin) as one POST request, the body the line, over 4 kept-alive "
            "connections, and print how many were sent and how they were answered. Blank lines are skipped. Exits 1 "
            "when any request is not answered 200."
        ),
        epilog=(
            "examples:\n"
            "  transform-core send records.ndjson                  # to a running transform-core local\n"
            "  transform-core generate --spec pipeline.yaml --count 1000 | transform-core send - --rate 100\n"
            "  transform-core send records.ndjson --url http://127.0.0.1:9000/events"
        ),
    )
    cmd.add_argument("input", metavar="FILE", help="NDJSON file, or - for stdin")
    cmd.add_argument("--url", default=DEFAULT_URL, metavar="URL", help=f"the endpoint (default: {DEFAULT_URL})")
    cmd.add_argument("--rate", type=positive, default=None, metavar="N", help="at most N requests a second (default: no limit)")
    cmd.set_defaults(run=_run_send)


def _run_send(args: argparse.Namespace) -> int:
    from transform_core.local.send import ndjson_lines, send_lines

    try:
        stream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")  # noqa: SIM115 - closed below
    except OSError as err:
        return print_error(ValueError(f"cannot read {args.input}: {err.strerror or err}"), command="send")
    try:
        summary = send_lines(ndjson_lines(stream), args.url, rate=args.rate)
    except ValueError as err:
        return print_error(err, command="send")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    seconds = max(summary.elapsed_s, 1e-9)
    print(
        f"sent {plural(summary.sent, 'record')} to {args.url} in {summary.elapsed_s:.2f} s ({summary.sent / seconds:,.0f}/s): "
        f"{summary.ok:,} answered 200, {summary.client_errors:,} 4xx, {summary.server_errors:,} 5xx, "
        f"{sum(summary.errors.values()):,} unanswered"
    )
    for status, count in summary.statuses.items():
        if status != 200:
            print(f"  {status}: {count:,}")
    for error, count in summary.errors.items():
        print(f"  {error}: {count:,}", file=sys.stderr)
    return 1 if summary.failed else 0


# --- argument types ---------------------------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {value}")
    return value
