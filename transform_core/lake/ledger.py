"""Which lake folders hold the files of one input, so that a rerun replaces them all and nothing is stored twice.

A batch job names every file it writes for an input after the input's id, taken from its content
(``part-<input id>-…``): the same data gives the same id under any path, compression or chunk size. The ledger
``<root>/_ledger/<table>/<input id>.json`` lists the folders (raw partitions, error days) that may hold such files.
It grows *before* a file is written to a new folder, so a run that dies leaves no file the ledger does not lead to;
at the end of a run over the input, :meth:`InputLedger.replace` deletes the input's files that run did not write
(an earlier run's, under another chunk size, or on another day) and records only the folders still in use.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Collection, Iterable

from transform_core.lake.storage import delete_files, is_s3, join, list_files, read_bytes, write_atomic

__all__ = ["LEDGER", "InputLedger"]

LEDGER = "_ledger"


class InputLedger:
    """The folders of one table of a lake that may hold files of one input."""

    def __init__(self, root: str, table: str, input_id: str, *, endpoint_url: str | None = None) -> None:
        self.root, self.table, self.input_id, self.endpoint_url = root, table, input_id, endpoint_url
        self.uri = join(root, LEDGER, table, f"{input_id}.json")
        self._staging = None if is_s3(root) else join(root, "_staging")
        self._folders: set[str] | None = None  # relative to the root, as recorded

    @property
    def folders(self) -> frozenset[str]:
        """The recorded folders, relative to the lake root."""
        if self._folders is None:
            self._folders = self._read()
        return frozenset(self._folders)

    def record(self, folders: Iterable[str]) -> None:
        """Add ``folders`` (URIs or paths under the root) before files are written there; a no-op if known."""
        new = {self._relative(folder) for folder in folders} - self.folders
        if new:
            self._write(set(self.folders | new))

    def replace(self, written: Collection[str], *, prefix: str) -> list[str]:
        """Delete the files named ``prefix…`` in the recorded folders that are not in ``written`` (this run's files).

        Returns the files deleted. Afterwards the ledger lists the folders that still hold a file of the input.
        """
        keep = set(written)
        stale: list[str] = []
        remaining: set[str] = set()
        for folder in sorted(self.folders | {self._relative(posixpath.dirname(uri)) for uri in keep}):
            for uri in list_files(join(self.root, folder), endpoint_url=self.endpoint_url):
                name = posixpath.basename(uri)
                if not name.startswith(f"part-{self.input_id}-"):
                    continue
                if name.startswith(prefix) and uri not in keep:
                    stale.append(uri)
                else:
                    remaining.add(folder)
        delete_files(stale, endpoint_url=self.endpoint_url)
        self._write(remaining)
        return stale

    def _relative(self, folder: str) -> str:
        root = join(self.root).rstrip("/") + "/"  # "./lake" and "lake//x" name the folders join() makes
        if not folder.startswith(root):
            raise ValueError(f"{folder} is not under the lake root {self.root}")
        return folder[len(root) :].strip("/")

    def _read(self) -> set[str]:
        try:
            data = read_bytes(self.uri, endpoint_url=self.endpoint_url)
        except FileNotFoundError:
            return set()
        folders = json.loads(data).get("folders", [])
        return {str(folder) for folder in folders}

    def _write(self, folders: set[str]) -> None:
        body = json.dumps({"input": self.input_id, "table": self.table, "folders": sorted(folders)}, indent=1).encode()
        write_atomic(self.uri, body, endpoint_url=self.endpoint_url, staging_dir=self._staging)
        self._folders = set(folders)
