"""One local Spark for the whole session (``local[2]``: two executor cores, as on a small cluster node).

Small Arrow batches (``maxRecordsPerBatch``) and several input partitions make every test run many engine batches
in more than one Python worker. Deselect these tests with ``-m "not spark"``; they need Java 17 on PATH.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.helpers.spark import ARROW_BATCH


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter, which has transform-core
    session = (
        SparkSession.builder.master("local[2]")
        .appName("transform-core tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
