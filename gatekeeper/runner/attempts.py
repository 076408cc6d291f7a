"""The gate's end of the attempt log: a FIFO the sandbox may only write to, read as records
arrive (a record sent cannot be taken back), kept distinct and bounded."""

from __future__ import annotations

import json
import os
import select
import threading
from pathlib import Path

INSIDE = "/run/gatekeeper-attempts/records"  # where the FIFO is bound in the sandbox
MAX_DISTINCT = 2000  # records kept; past this the log says how many it dropped
MAX_LINE = 4096


class AttemptLog:
    """Reads the FIFO at `folder/records` in a thread until `close()`."""

    def __init__(self, folder: Path):
        self.path = folder / "records"
        os.mkfifo(self.path)
        self.path.chmod(0o222)  # the sandbox writes; it can neither read nor replace it
        # the gate holds a write end too, so the reader never sees end-of-file between writers
        self._read = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(self.path, os.O_WRONLY)
        self.records: dict[tuple, dict] = {}
        self.dropped = 0
        self.unreadable = 0
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
            if len(pending) > MAX_LINE:  # a line this long was not written by the hook
                self.unreadable += 1
                pending = b""
            for line in lines:
                self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            record = json.loads(line)
            key = (str(record["kind"]), str(record["target"]), str(record.get("test", "")))
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            return
        if key in self.records:
            return
        if len(self.records) >= MAX_DISTINCT:
            self.dropped += 1
            return
        self.records[key] = {"kind": key[0], "target": key[1], "test": key[2],
                             "at": str(record.get("at", ""))[:300]}

    def close(self) -> tuple[tuple[dict, ...], int]:
        """The records, in arrival order, and how many were dropped or unreadable."""
        self._stop.set()
        self._thread.join(timeout=10)
        os.close(self._read)
        os.close(self._keep)
        return tuple(self.records.values()), self.dropped + self.unreadable
