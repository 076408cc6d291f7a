"""The gate's end of the sandbox's write-only channels: a FIFO the sandbox may only write to,
read as lines arrive (a line sent cannot be taken back), kept bounded. Two kinds: the attempt
log (what the code tried) and the coverage log (which lines of the work folder ran)."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

from gatekeeper.core.bounded import Bounds, load_json

INSIDE = "/run/gatekeeper-attempts/records"  # where the attempt FIFO is bound in the sandbox
COVERAGE_FOLDER = "/run/gatekeeper-coverage"  # the gate's coverage.py and the lines FIFO
COVERAGE_INSIDE = f"{COVERAGE_FOLDER}/lines"
MAX_DISTINCT = 2000  # attempt records kept; past this the log says how many it dropped
MAX_LINES = 2_000_000  # covered lines kept over all files
MAX_FILES = 20_000  # files with covered lines
MAX_LINE = 4096
RECORD = Bounds(chars=MAX_LINE, nodes=MAX_LINE, depth=8)  # the gate's records are flat


class _Fifo:
    """Reads the FIFO at `folder/name` in a thread until `close()`; each JSON line to `take`."""

    def __init__(self, folder: Path, name: str):
        self.path = folder / name
        os.mkfifo(self.path)
        self.path.chmod(0o222)  # the sandbox writes; it can neither read nor replace it
        # the gate holds a write end too, so the reader never sees end-of-file between writers
        self._read = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(self.path, os.O_WRONLY)
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([self._read], [], [], 0.1)
            chunk = os.read(self._read, 65536) if ready else b""
            if not chunk and self._stop.is_set():
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE:  # a line this long was not written by the gate's code
                self.dropped += 1
                pending = b""
            for line in lines:
                if len(line) > MAX_LINE:  # the gate's writers keep under it
                    self.dropped += 1
                    continue
                try:
                    record = load_json(line.decode(), "a record", RECORD)
                    if not isinstance(record, dict) or not self.take(record):
                        self.dropped += 1
                except (ValueError, KeyError, TypeError):
                    self.dropped += 1

    def take(self, record: dict) -> bool:
        raise NotImplementedError

    def _finish(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        os.close(self._read)
        os.close(self._keep)


class AttemptLog(_Fifo):
    """Distinct attempt records, in arrival order."""

    def __init__(self, folder: Path):
        self.records: dict[tuple, dict] = {}
        super().__init__(folder, "records")

    def take(self, record: dict) -> bool:
        key = (str(record["kind"]), str(record["target"]), str(record.get("test", "")))
        if key in self.records:
            return True
        if len(self.records) >= MAX_DISTINCT:
            return False
        self.records[key] = {"kind": key[0], "target": key[1], "test": key[2],
                             "at": str(record.get("at", ""))[:300]}
        return True

    def close(self) -> tuple[tuple[dict, ...], int]:
        """The records, and how many were dropped or unreadable."""
        self._finish()
        return tuple(self.records.values()), self.dropped


class CoverageLog(_Fifo):
    """Lines that ran, per work-folder file ({"file", "lines"} chunks, or {"error"})."""

    def __init__(self, folder: Path):
        self.lines: dict[str, set[int]] = {}
        self.errors: list[str] = []
        self.count = 0
        super().__init__(folder, "lines")

    def take(self, record: dict) -> bool:
        if "error" in record:
            if len(self.errors) < 5:
                self.errors.append(str(record["error"])[:300])
            return True
        lines = [n for n in record["lines"] if isinstance(n, int)]
        if not lines or self.count + len(lines) > MAX_LINES or (
                record["file"] not in self.lines and len(self.lines) >= MAX_FILES):
            return False
        self.count += len(lines)
        self.lines.setdefault(str(record["file"]), set()).update(lines)
        return True

    def close(self) -> tuple[dict[str, frozenset[int]], list[str]]:
        """Covered lines per file (relative to the work folder), and why measuring failed."""
        self._finish()
        return {k: frozenset(v) for k, v in self.lines.items()}, self.errors
