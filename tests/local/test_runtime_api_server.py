"""The local Runtime API: events handed out in order, posts collected per request, Lambda's 413 on a large response."""

from __future__ import annotations

import http.client

from transform_core.adapters.runtime_api import RuntimeApiClient
from transform_core.local.runtime_api_server import RESPONSE_LIMIT_BYTES, local_runtime_api


def test_events_go_out_in_order_and_each_post_is_kept_for_its_request() -> None:
    with local_runtime_api(next_wait_s=5.0) as api:
        first, second = api.queue_event(b"one"), api.queue_event(b"two", {"Lambda-Runtime-Trace-Id": "Root=1"})
        client = RuntimeApiClient(api.address, timeout=5.0)
        try:
            a, b = client.next_invocation(), client.next_invocation()
            assert (a.request_id, a.body, b.request_id, b.body, b.trace_id) == (first, b"one", second, b"two", "Root=1")
            assert api.served_at(first) is not None and api.served_at(second) is not None
            client.post_error(second, {"errorMessage": "boom", "errorType": "ValueError"})
            assert client.post_response(first, b'{"records":[]}') == 202
        finally:
            client.close()
        answer = api.wait_posted(first, 5.0)
        error = api.wait_posted(second, 5.0)
        assert answer is not None and (answer.kind, answer.body) == ("response", b'{"records":[]}')
        assert error is not None and error.kind == "error" and b"boom" in error.body
        assert api.wait_posted(first, 0.0) is None  # handed out once


def test_a_response_over_the_limit_is_refused_with_413_and_recorded_without_its_body() -> None:
    with local_runtime_api(next_wait_s=5.0, response_limit_bytes=RESPONSE_LIMIT_BYTES) as api:
        big, fits = api.queue_event(b"a"), api.queue_event(b"b")
        client = RuntimeApiClient(api.address, timeout=5.0)
        try:
            client.next_invocation()
            assert client.post_response(big, b"x" * (RESPONSE_LIMIT_BYTES + 1)) == 413
            client.next_invocation()
            assert client.post_response(fits, b"x" * RESPONSE_LIMIT_BYTES) == 202
        finally:
            client.close()
        refused, taken = api.wait_posted(big, 5.0), api.wait_posted(fits, 5.0)
        assert refused is not None and (refused.kind, refused.body) == ("refused", b"")
        assert refused.headers["Content-Length"] == str(RESPONSE_LIMIT_BYTES + 1)
        assert taken is not None and (taken.kind, len(taken.body)) == ("response", RESPONSE_LIMIT_BYTES)


def test_a_cancelled_event_is_never_handed_out() -> None:
    with local_runtime_api(next_wait_s=5.0) as api:
        cancelled = api.queue_event(b"stale")
        kept = api.queue_event(b"fresh")
        api.cancel(cancelled)
        client = RuntimeApiClient(api.address, timeout=5.0)
        try:
            assert client.next_invocation().request_id == kept
        finally:
            client.close()
        assert api.served_at(cancelled) is None


def test_next_answers_500_when_nothing_comes_within_its_wait() -> None:
    with local_runtime_api(next_wait_s=0.1) as api:
        host, port = api.address.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=5.0)
        try:
            connection.request("GET", "/2018-06-01/runtime/invocation/next")
            assert connection.getresponse().status == 500
        finally:
            connection.close()
