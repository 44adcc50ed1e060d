"""AWS Glue job script: ``transform-core spark-reprocess`` as a Glue 5.0 Spark job (Spark 3.5, Python 3.11).

Job parameters (see docs/spark.md for the whole job definition):

  --spec        s3://bucket/prefix/pipeline.yaml; everything under the spec's folder (its schema and reference
                tables, with their relative paths) is copied to the driver before the spec is loaded
  --inputs      comma-separated files, folders or globs (s3://…), e.g. s3://my-firehose-bucket/2026/11/
  --lake        the lake root, s3://bucket/prefix
  --run_id      optional: names the output files; default: a hash of the inputs and the spec's S3 URI, so a rerun
                of the same job arguments replaces its own output
  --zone        optional: raw (default) or curated (the curated Iceberg table, registered in the Glue catalog)
  --namespace   optional, with --zone curated: the Glue database of the curated table (default: transform_core)
  --kind        optional: ndjson | firehose-backup | processing-failed | errors (default: detected per file)
  --additional-python-modules  s3://…/transform_core-<version>-py3-none-any.whl (not the [spark] extra: Glue
                provides pyspark and pyarrow)
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from transform_core.adapters.spark.job import SparkReprocessOptions, default_run_id, spark_reprocess
from transform_core.lake.curated import catalog_settings

REQUIRED = ["JOB_NAME", "spec", "inputs", "lake"]
OPTIONAL = ["run_id", "zone", "kind", "namespace"]


def copy_spec_folder(uri: str) -> str:
    """Copy the objects under the spec's S3 folder to a local folder, keeping their paths; the local spec path."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    folder, _, name = key.rpartition("/")
    if not folder:
        raise ValueError(f"keep the spec in a folder of its own, not at the bucket's top: {uri}")
    local = tempfile.mkdtemp(prefix="transform-core-spec-")
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{folder}/"):
        for item in page.get("Contents", []):
            target = os.path.join(local, item["Key"][len(folder) + 1 :])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            s3.download_file(bucket, item["Key"], target)
    return os.path.join(local, name)


def main() -> None:
    args = getResolvedOptions(sys.argv, REQUIRED + [name for name in OPTIONAL if f"--{name}" in sys.argv])
    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(args["JOB_NAME"], args)
    inputs = [path.strip() for path in args["inputs"].split(",") if path.strip()]
    options = SparkReprocessOptions(
        spec=copy_spec_folder(args["spec"]),
        lake=args["lake"],
        zone=args.get("zone", "raw"),
        kind=args.get("kind"),
        catalog=catalog_settings(kind="glue", namespace=args.get("namespace")),  # an S3 lake's catalog is Glue's
    )
    # the default run id hashes the spec's S3 URI, not the temporary local copy, so reruns keep their file names
    run_id = args.get("run_id") or default_run_id(inputs, dataclasses.replace(options, spec=args["spec"]))
    run = spark_reprocess(glue.spark_session, inputs, dataclasses.replace(options, run_id=run_id))
    summary = run.summary
    counts = {"files": summary.files, "records": summary.records, "ok": summary.ok, "rejected": summary.failed}
    report = {"run_id": run.run_id, **counts, "dropped": summary.dropped, "written": len(summary.written)}
    print(json.dumps({**report, "top_rules": summary.reasons.most_common(10), "seconds": round(summary.seconds, 1)}))
    job.commit()


if __name__ == "__main__":
    main()
