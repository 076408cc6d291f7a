"""The gate's end of the sandbox's write-only channels: a FIFO the sandbox may only write to,
read as lines arrive (a line sent cannot be taken back), kept bounded. Two kinds: the attempt
log (what the code tried) and the coverage log (which lines of the work folder ran).

Each channel has a key of its own for the run (a file bound read-only next to the FIFO, read
by the gate's code at start-up before anything else runs); every line carries a keyed BLAKE2
over what comes before it. A line that does not verify, or repeats one already read, was not
written by the gate's code: it is counted, never used."""

from __future__ import annotations

import hashlib
import hmac
import os
import select
import threading
from pathlib import Path

from gatekeeper.core.attempts import key as attempt_key
from gatekeeper.core.bounded import Bounds, load_json

INSIDE = "/run/gatekeeper-attempts/records"  # where the attempt FIFO is bound in the sandbox
COVERAGE_FOLDER = "/run/gatekeeper-coverage"  # the gate's coverage.py and the lines FIFO
COVERAGE_INSIDE = f"{COVERAGE_FOLDER}/lines"
MAX_PER_KIND = 2000  # distinct attempts kept of each kind; past it the kind says how many more
MAX_TESTS = 20  # tests named per attempt
MAX_SEEN = 1_000_000  # lines checked for repeats
SIGNED = b', "mac": "'
MAX_LINES = 2_000_000  # covered lines kept over all files
MAX_FILES = 20_000  # files with covered lines
MAX_LINE = 4096
RECORD = Bounds(chars=MAX_LINE, nodes=MAX_LINE, depth=8)  # the gate's records are flat
FORGED = "forged"  # the coverage error that says the channel was written by other code


class _Fifo:
    """Reads the FIFO at `folder/name` in a thread until `close()`; each JSON line to `take`."""

    def __init__(self, folder: Path, name: str):
        self.path = folder / name
        os.mkfifo(self.path)
        self.path.chmod(0o222)  # the sandbox writes; it can neither read nor replace it
        self._key = os.urandom(32)
        self.key_path = folder / f"{name}.key"
        self.key_path.write_bytes(self._key)
        self.key_path.chmod(0o444)
        self.forged = 0  # lines the gate's code did not write
        self._seen: set[bytes] = set()
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
                self.forged += 1
                pending = b""
            for line in lines:
                if len(line) > MAX_LINE or not self._signed(line):
                    self.forged += 1  # the gate's writers keep under the length and sign
                    continue
                try:
                    record = load_json(line.decode(), "a record", RECORD)
                    if not isinstance(record, dict) or not self.take(record):
                        self.dropped += 1
                except (ValueError, KeyError, TypeError):
                    self.forged += 1
        if pending:  # the gate's writers end every line
            self.forged += 1

    def _signed(self, line: bytes) -> bool:
        """The line's MAC verifies over what comes before it, and it was not read before."""
        body, found, mac = line.rpartition(SIGNED)
        if not found or not mac.endswith(b'"}'):
            return False
        expected = hashlib.blake2b(body, key=self._key, digest_size=16).hexdigest().encode()
        if not hmac.compare_digest(mac[:-2], expected):
            return False
        if body in self._seen:
            return False  # a replay: each line has its process's next sequence number
        if len(self._seen) < MAX_SEEN:
            self._seen.add(body)
        return True

    def take(self, record: dict) -> bool:
        raise NotImplementedError

    def _finish(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        os.close(self._read)
        os.close(self._keep)


class AttemptLog(_Fifo):
    """Distinct attempts (as the base's run is compared with them), each with the first
    tests that made it, in arrival order. Bounded per kind, so no kind's records (a
    credential read's, say) are pushed out by a flood of another's; a kind past its bound
    says how many more it had."""

    def __init__(self, folder: Path):
        self.records: dict[tuple, list[dict]] = {}
        self.per_kind: dict[str, int] = {}
        self.overflow: dict[str, int] = {}
        super().__init__(folder, "records")

    def take(self, record: dict) -> bool:
        kept = {"kind": str(record["kind"])[:40], "target": str(record["target"]),
                "test": str(record.get("test", "")), "at": str(record.get("at", ""))[:300]}
        key = attempt_key(kept)
        same = self.records.get(key)
        if same is None:
            kind = kept["kind"]
            if self.per_kind.get(kind, 0) >= MAX_PER_KIND:
                self.overflow[kind] = self.overflow.get(kind, 0) + 1
                return True
            self.per_kind[kind] = self.per_kind.get(kind, 0) + 1
            self.records[key] = [kept]
        elif len(same) < MAX_TESTS and all(r["test"] != kept["test"] for r in same):
            same.append(kept)
        return True

    def close(self) -> tuple[tuple[dict, ...], int]:
        """The records, and how many lines the hook did not write. A kind past its bound and
        lines not written by the hook are records too, so every reader of the log sees them
        (`overflow`: how many more; `log`: the log itself was written to)."""
        self._finish()
        records = [r for same in self.records.values() for r in same]
        records += [{"kind": kind, "target": f"{n} more distinct {kind} attempts past the "
                     f"log's bound of {MAX_PER_KIND}", "test": "", "at": "", "overflow": n}
                    for kind, n in self.overflow.items()]
        if self.forged:
            records.append({"kind": "tamper", "target": f"{self.forged} lines written into the "
                            "attempt log by code other than the gate's hook (unsigned, "
                            "replayed or cut)", "test": "", "at": "", "log": True})
        return tuple(records), self.forged


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
        """Covered lines per file (relative to the work folder), and why measuring failed.
        With a line the gate's tracer did not write, nothing measured is kept and the first
        error says so (FORGED)."""
        self._finish()
        if self.forged:
            return {}, [f"{FORGED}: {self.forged} lines written into the coverage channel by "
                        "code other than the gate's tracer", *self.errors]
        return {k: frozenset(v) for k, v in self.lines.items()}, self.errors
