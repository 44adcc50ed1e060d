"""Hypothesis profiles (``default`` for every run, ``deep`` for long differential campaigns), the example pipeline
with a processed batch, and the loopback S3 server.

Select a profile with ``HYPOTHESIS_PROFILE=deep pytest tests/engine``. The S3 fixtures serve the lake and the
reprocessing tests alike: one moto server per session, a fresh bucket per test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.lake import EXAMPLE, Processed, process
from transform_core.engine import Pipeline

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", parent=settings.get_profile("default"), max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """The example pipeline (examples/iot)."""
    from transform_core import load_pipeline

    return load_pipeline(EXAMPLE)


@pytest.fixture(scope="session")
def processed(pipeline: Pipeline) -> Processed:
    """300 records through the example pipeline, 10% invalid, about 5% dropped heartbeats."""
    return process(pipeline, 300, 0.1, seed=7)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the loopback server, with the AWS variables pointing at it; yields its name."""
    import uuid

    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket
