"""AWS Glue job script: ``transform-core compact --catalog glue`` as a Glue 5.0 job (Spark 3.5, Python 3.11).

Commits the raw zone Firehose delivers (``<lake>/raw/<table>/``) into the curated Apache Iceberg table, registered in
the Glue Data Catalog in the database ``--namespace``. The first run creates the table (and the database when missing)
from the spec, as ``compact`` creates it, at ``<curated_lake>/curated/<namespace>/<table>/`` (compact's
``--warehouse``), so the raw zone and the table may be in two buckets.
deploy/template.yaml defines the job (``CompactJob``), its schedule and its role; docs/deploy.md, "The curated job",
describes them.

Job parameters:

  --spec         s3://bucket/prefix/spec/pipeline.yaml; everything under the spec's folder (its schema and reference
                 tables, with their relative paths) is copied to the driver before the spec is loaded
  --lake         the lake root whose raw/<table>/ is read, s3://bucket[/prefix] (compact's --lake)
  --namespace    the Glue database of the curated table
  --curated_lake optional: the root whose curated/<namespace>/<table>/ the first run creates the table in
                 (default: --lake)
  --aws_region   optional: the region of the lake and the catalog (default: the environment's)
  --key          optional: compact's --key (default: the spec's curated.key, else event_id or id)
  --target_rows  optional: compact's --target-rows
  --partitions   optional: comma-separated raw partitions to compact, e.g. year=2026/month=11 (default: all)
  --additional-python-modules  the transform-core wheel and transform-core[lake] (read by Glue, not here)

Prints compact's report to the job's output log: a line per partition, the totals, the table's snapshot. A problem
file, a refused commit or an error fails the run (exit status 1) with one line on stderr.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping

REQUIRED = ["JOB_NAME", "spec", "lake", "namespace"]
OPTIONAL = ["curated_lake", "aws_region", "key", "target_rows", "partitions"]
PROG = "compact_job"


def compact_argv(args: Mapping[str, str], spec: str) -> list[str]:
    """The ``transform-core compact`` command line of the job's arguments, with the local copy of the spec."""
    argv = ["compact", "--spec", spec, "--lake", args["lake"], "--catalog", "glue", "--namespace", args["namespace"]]
    if args.get("curated_lake"):  # the table in another bucket than the raw zone: created there, found there after
        argv += ["--warehouse", f"{args['curated_lake'].rstrip('/')}/curated"]
    if args.get("key"):
        argv += ["--key", args["key"]]
    if args.get("target_rows"):
        argv += ["--target-rows", args["target_rows"]]
    for partition in (args.get("partitions") or "").split(","):
        if partition.strip():
            argv += ["--partition", partition.strip()]
    return argv


def copy_spec_folder(uri: str, region: str | None) -> str:
    """Copy the objects under the spec's S3 folder to a local folder, keeping their paths; the local spec path."""
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    folder, _, name = key.rpartition("/")
    if not uri.startswith("s3://") or not folder:
        raise ValueError(f"--spec must be s3://bucket/folder/pipeline.yaml, in a folder of its own: {uri}")
    local = tempfile.mkdtemp(prefix="transform-core-spec-")
    s3 = boto3.client("s3", region_name=region)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{folder}/"):
        for item in page.get("Contents", []):
            target = os.path.join(local, item["Key"][len(folder) + 1 :])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            s3.download_file(bucket, item["Key"], target)
    spec = os.path.join(local, name)
    if not os.path.isfile(spec):
        raise ValueError(f"no spec at {uri}")
    return spec


def main(argv: list[str]) -> int:
    """Run one compaction; the exit status (0: committed or nothing to do, 1: a problem or an error)."""
    # imported here, not at the top: the module (compact_argv) stays importable where Glue's libraries are not
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    from transform_core.cli import main as transform_core

    args = getResolvedOptions(argv, REQUIRED + [name for name in OPTIONAL if f"--{name}" in argv])
    job = Job(GlueContext(SparkContext.getOrCreate()))
    job.init(args["JOB_NAME"], args)
    if args.get("aws_region"):  # transform-core's S3 and Glue clients read the region from here
        os.environ["AWS_REGION"] = args["aws_region"]
    try:
        spec = copy_spec_folder(args["spec"], os.environ.get("AWS_REGION"))
        status = transform_core(compact_argv(args, spec))  # prints the report; one line per expected error
    except Exception as err:  # S3, Glue or Iceberg refusing: one line in the job's log, not a traceback
        print(f"{PROG}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if status == 0:
        job.commit()
    return status


if __name__ == "__main__":
    if status := main(sys.argv):
        sys.exit(status)  # Glue marks the run failed
