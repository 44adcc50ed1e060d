"""The ingest endpoint: the template's POST /events contract, API Gateway's answers elsewhere, keep-alive, a clean stop."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local.delivery_fakes import Stream
from transform_core.local.delivery import MAX_RECORD_BYTES
from transform_core.local.delivery_records import kinesis_shard
from transform_core.local.ingest import API_PAYLOAD_LIMIT_BYTES, KINESIS_RECORD_LIMIT_BYTES, ROUTE, IngestServer

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"
RECORD = b'{"event_id": "e-1", "value": 1}'


@pytest.fixture
def stream() -> Stream:
    return Stream(fail=b'"fail"')


@pytest.fixture
def server(stream: Stream) -> Iterator[IngestServer]:
    with IngestServer(stream, port=0) as server:
        yield server


def connect(server: IngestServer) -> http.client.HTTPConnection:
    host, port = server.url.removeprefix("http://").removesuffix(ROUTE).rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def call(
    server: IngestServer, method: str = "POST", path: str = ROUTE, body: bytes | None = RECORD, **headers: str
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    connection = connect(server)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else {}, response
    finally:
        connection.close()


def test_post_events_puts_the_body_and_answers_the_templates_shard_and_sequence_number(
    server: IngestServer, stream: Stream
) -> None:
    status, document, response = call(server)
    assert status == 200
    request_id = response.headers["x-amzn-RequestId"]
    assert stream.records == [(RECORD, request_id)]  # the body as sent; the request id as partition key
    assert document == {"shardId": kinesis_shard(request_id), "sequenceNumber": f"{1:056d}"}
    assert response.headers["Content-Type"] == "application/json"
    assert server.counts().accepted == 1


def test_the_answer_has_the_keys_of_the_templates_integration_response() -> None:
    from cfnlint.decode import decode

    template, problems = decode(str(TEMPLATE))
    assert not problems and isinstance(template, dict)
    definition = template["Resources"]["Api"]["Properties"]["DefinitionBody"]
    assert list(definition["paths"]) == [ROUTE] and list(definition["paths"][ROUTE]) == ["post"]
    post = definition["paths"][ROUTE]["post"]
    rendered = post["x-amazon-apigateway-integration"]["responses"]["default"]["responseTemplates"]["application/json"]
    assert list(json.loads(rendered)) == ["shardId", "sequenceNumber"]
    assert post["consumes"] == ["application/json"] and set(post["responses"]) == {"200", "400", "500"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"x" * (KINESIS_RECORD_LIMIT_BYTES - 35), "over Kinesis's 1048576"),  # with a 36-byte request id: one byte over
        (b"x" * (MAX_RECORD_BYTES + 1), "over the local Firehose stream's 1024000"),
    ],
    ids=["empty", "over-1-MiB", "over-1000-KiB"],
)
def test_a_body_kinesis_or_the_stream_refuses_is_400_with_kinesiss_error(
    server: IngestServer, stream: Stream, body: bytes, says: str
) -> None:
    status, document, _ = call(server, body=body)
    assert status == 400
    assert document["__type"] == "ValidationException" and says in document["message"]
    assert stream.records == []


def test_the_largest_record_the_stream_takes_is_accepted(server: IngestServer, stream: Stream) -> None:
    assert call(server, body=b"x" * MAX_RECORD_BYTES)[0] == 200
    assert len(stream.records[0][0]) == MAX_RECORD_BYTES


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ROUTE), ("PUT", ROUTE), ("DELETE", ROUTE), ("POST", "/"), ("POST", "/event"), ("POST", "/v1/events"), ("GET", "/")],
)
def test_any_other_route_is_403_missing_authentication_token(
    server: IngestServer, stream: Stream, method: str, path: str
) -> None:
    status, document, response = call(server, method, path)
    assert (status, document) == (403, {"message": "Missing Authentication Token"})
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert stream.records == []


def test_a_head_request_gets_the_headers_only(server: IngestServer) -> None:
    status, document, response = call(server, "HEAD", ROUTE, None)
    assert (status, document) == (403, {})
    assert int(response.headers["Content-Length"]) > 0


def test_a_query_string_does_not_change_the_route(server: IngestServer, stream: Stream) -> None:
    assert call(server, path=f"{ROUTE}?source=test")[0] == 200
    assert len(stream.records) == 1


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("application/json", 200), ("application/json; charset=utf-8", 200), ("text/plain", 415), ("application/xml", 415)],
)
def test_only_json_has_a_mapping_template(server: IngestServer, content_type: str, status: int) -> None:
    answered, document, _ = call(server, **{"Content-Type": content_type})
    assert answered == status
    if status == 415:
        assert document == {"message": "Unsupported Media Type"}


def test_a_request_without_a_content_type_is_json(server: IngestServer, stream: Stream) -> None:
    connection = connect(server)
    connection.putrequest("POST", ROUTE, skip_accept_encoding=True)
    connection.putheader("Content-Length", str(len(RECORD)))
    connection.endheaders(RECORD)
    assert connection.getresponse().status == 200
    connection.close()
    assert stream.records[0][0] == RECORD


def test_a_chunked_body_is_one_record(server: IngestServer, stream: Stream) -> None:
    connection = connect(server)
    connection.request("POST", ROUTE, iter([RECORD[:10], RECORD[10:]]), {"Content-Type": "application/json"}, encode_chunked=True)
    assert connection.getresponse().status == 200
    connection.close()
    assert stream.records[0][0] == RECORD


def test_a_body_over_api_gateways_10_mb_is_413_and_the_connection_closes(server: IngestServer, stream: Stream) -> None:
    connection = connect(server)
    connection.putrequest("POST", ROUTE)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(API_PAYLOAD_LIMIT_BYTES + 1))
    connection.endheaders()  # the body is never sent: the answer comes first
    response = connection.getresponse()
    assert response.status == 413 and response.will_close
    connection.close()
    assert stream.records == []


def test_a_stream_that_fails_is_500(server: IngestServer) -> None:
    status, document, _ = call(server, body=b'"fail"')
    assert (status, document) == (500, {"message": "Internal server error"})


def test_requests_share_one_kept_alive_connection(server: IngestServer, stream: Stream) -> None:
    connection = connect(server)
    statuses = []
    first_socket = None
    for n in range(50):
        connection.request("POST", ROUTE if n % 10 else "/nowhere", RECORD, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        first_socket = first_socket or connection.sock
        assert connection.sock is first_socket and not response.will_close
    connection.close()
    assert statuses.count(200) == 45 and statuses.count(403) == 5
    assert server.counts() == (50, 45, {200: 45, 403: 5})


def test_stop_answers_the_request_in_flight_then_closes_every_connection(stream: Stream) -> None:
    server = IngestServer(stream, port=0)
    server.start()
    idle, busy = connect(server), connect(server)
    idle.request("POST", ROUTE, RECORD, {"Content-Type": "application/json"})
    idle.getresponse().read()  # kept alive, now idle
    stream.release.clear()
    stream.entered.clear()
    busy.request("POST", ROUTE, RECORD, {"Content-Type": "application/json"})
    assert stream.entered.wait(10)  # read, being put
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    stream.release.set()
    response = busy.getresponse()
    assert response.status == 200 and response.will_close  # answered, then closed
    response.read()
    stopping.join(10)
    assert not stopping.is_alive()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        idle.request("POST", ROUTE, RECORD, {"Content-Type": "application/json"})
        idle.getresponse()
    idle.close()
    busy.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1].removesuffix(ROUTE))), timeout=2)
    assert len(stream.records) == 2 and server.counts().accepted == 2


def test_a_port_in_use_is_one_clear_error(stream: Stream) -> None:
    from transform_core.errors import ConfigurationEnvironmentError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationEnvironmentError, match=f"cannot listen on 127.0.0.1:{port}"):
            IngestServer(stream, port=port)
