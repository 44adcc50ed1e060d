"""Generated traffic for the local pipeline (``transform-core local --demo``), through both of the template's producers.

:class:`DemoFeed` sends half of its records to ``POST /events`` (as the API Gateway route gets them) and puts the
other half on the stream directly (as the IoT rule does), paced to a rate, both halves at once. The example spec gets
IoT telemetry, any other spec records drawn from its schema, bad records included
(:func:`~transform_core.demo.run.demo_payloads`). :meth:`DemoFeed.expected` says what the pipeline should make of the records sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from transform_core.demo.generate import Payload
from transform_core.demo.run import demo_payloads
from transform_core.local.send import SendSummary, send_lines

if TYPE_CHECKING:
    from transform_core.local.pipeline import LocalPipeline

__all__ = ["DemoFeed", "Expected", "demo_payloads"]

_DROPPED_KINDS = ("heartbeat", "dropped")


class Expected(NamedTuple):
    """What the pipeline should answer for the records sent: Ok, failed and dropped counts."""

    ok: int
    failed: int
    dropped: int


class DemoFeed:
    """Half the payloads over HTTP, half put directly, at ``rate`` records a second in all (see the module docstring).

    Args:
        payloads: the records, in order; even positions go over HTTP, odd ones are put directly.
        rate: records a second, both halves together.
        connections: HTTP connections, kept alive.
    """

    def __init__(self, payloads: Sequence[Payload], *, rate: float, connections: int = 2) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.payloads = payloads
        self.rate = rate
        self.connections = connections
        self.http: SendSummary | None = None
        self.direct = 0

    def __call__(self, pipeline: LocalPipeline, stop: threading.Event) -> None:
        """Send until every record is sent or ``stop`` is set."""
        over_http = [p.data for p in self.payloads[0::2]]
        direct = self.payloads[1::2]

        def send() -> None:
            self.http = send_lines(over_http, pipeline.url, rate=self.rate / 2, connections=self.connections, stop=stop)

        sender = threading.Thread(target=send, name="demo-http", daemon=True)
        sender.start()
        started = time.perf_counter()
        for n, payload in enumerate(direct):
            due = started + n / (self.rate / 2)
            if stop.wait(max(0.0, due - time.perf_counter())):
                break
            pipeline.put(payload.data)
            self.direct += 1
        sender.join()

    @property
    def sent(self) -> int:
        """Records sent: answered over HTTP (any status) and put directly."""
        return (self.http.sent if self.http is not None else 0) + self.direct

    def expected(self) -> Expected | None:
        """What the pipeline should make of the records sent (None when an HTTP request was not answered 200).

        A record the generator corrupts in the Firehose event's base64 (``malformed_base64``) is a valid record
        here: producers send bytes, and Firehose does the encoding.
        """
        if self.http is None or self.http.failed:
            return None
        sent = [*self.payloads[0::2][: self.http.sent], *self.payloads[1::2][: self.direct]]
        dropped = sum(p.kind in _DROPPED_KINDS for p in sent)
        ok = sum(p.kind == "valid" or p.corrupt_base64 for p in sent)
        return Expected(ok, len(sent) - ok - dropped, dropped)
