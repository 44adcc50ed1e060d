"""spark-submit entry point for ``transform-core spark-reprocess`` (EMR steps, Databricks Python script tasks, YARN).

    spark-submit [Spark options] spark_reprocess.py --spec PIPELINE.yaml --lake s3://my-lake INPUT...

The arguments are those of ``transform-core spark-reprocess --help``; spark-submit's master and settings apply (the
script does not start Spark itself). transform-core must be installed on the driver and the executors' Python.
"""

import sys

from transform_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["spark-reprocess", *sys.argv[1:]]))
