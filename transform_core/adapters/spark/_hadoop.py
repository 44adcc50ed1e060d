"""Files through Hadoop's FileSystem API, from the driver: what Spark itself reads and writes with.

The same calls reach local folders, S3 (EMRFS ``s3://`` on EMR and Glue, ``s3a://`` elsewhere), HDFS and ADLS with
the cluster's own credentials. A local folder is reached through the raw local filesystem, so no ``.crc`` checksum
files follow the moved files into the lake (Polars reads every file of a folder it scans).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

__all__ = ["HadoopFiles"]


class HadoopFiles:
    """List, move and delete files under one root with the session's Hadoop configuration."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm: Any = spark._jvm  # py4j: the driver's JVM
        self._path = jvm.org.apache.hadoop.fs.Path
        conf = spark._jsc.hadoopConfiguration()
        fs = self._path(root).getFileSystem(conf)
        if fs.getUri().getScheme() == "file":
            fs = jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf).getRawFileSystem()  # no checksum files
        self._fs = fs

    def qualify(self, path: str) -> str:
        """The path as the filesystem names it (scheme and authority included: ``file:/tmp/x``, ``s3://b/k``)."""
        return str(self._fs.makeQualified(self._path(path)).toString())

    def list(self, folder: str) -> list[str]:
        """Every file below ``folder`` (qualified, sorted), skipping names that start with ``_`` or ``.``; none if missing."""
        root = self._path(folder)
        if not self._fs.exists(root):
            return []
        found: list[str] = []
        listing = self._fs.listFiles(root, True)
        prefix = self.qualify(folder).rstrip("/") + "/"
        while listing.hasNext():
            path = str(listing.next().getPath().toString())
            if not any(part.startswith(("_", ".")) for part in path.removeprefix(prefix).split("/")):
                found.append(path)
        return sorted(found)

    def move(self, source: str, dest: str) -> None:
        """Move one file over ``dest`` (replaced if present).

        Raises:
            OSError: the filesystem refused the rename.
        """
        target = self._path(dest)
        self._fs.mkdirs(target.getParent())
        self._fs.delete(target, False)  # a rename onto an existing file fails on most filesystems
        if not self._fs.rename(self._path(source), target):
            raise OSError(f"cannot move {source} to {dest}")

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Remove a file (or a folder with ``recursive``); a missing one is not an error."""
        self._fs.delete(self._path(path), recursive)
