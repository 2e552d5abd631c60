"""Library calls over many distinct values, shared with helper processes.

The first chunks of a file hold most of its distinct values, and each one
costs a pure-Python library call (20-200 us, under the GIL). A ValueMapper
splits such a list into pieces: helper processes take pieces from the end,
this process computes from the front, and they meet in the middle. A helper
that is still starting, busy or gone simply takes fewer pieces, so a machine
without a spare core loses little. Every value still goes through the same
library function (values.py), wherever it is computed, and results come back
in order.

Helpers are plain subprocesses running `python -c` on values.py, talking
length-prefixed pickles over stdin/stdout: no multiprocessing "spawn", which
would re-import the caller's __main__ (a Dagster CLI, a script without a
main guard). They import only the libraries (~25 MB, ~0.2 s), hold one piece
at a time, and exit when their stdin closes.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from .values import ValueOptions, compute

PIECE = 250           # values per task: ~5-25 ms of library work (the last ones are waited for)
MIN_PARALLEL = 2000   # fewer values than this are computed here
_HEADER = struct.Struct("<Q")
_ROOT = str(Path(__file__).resolve().parents[2])   # the directory holding pipeline_assets/
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from pipeline_assets.uploads.values import serve; serve()")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """One helper per spare core, at most 3 (this process keeps one core)."""
    return max(0, min(available_cores(), 4) - 1)


def _read_exact(fh, n: int) -> bytes:
    parts, left = [], n
    while left:
        buf = fh.read(left)   # a pipe returns what it has: loop until n bytes
        if not buf:
            raise EOFError("helper process closed its output")
        parts.append(buf)
        left -= len(buf)
    return b"".join(parts)


def _peak_rss_kb(pid: int) -> int:
    """VmHWM of a running process (0 if unknown). Read from /proc, because
    getrusage(RUSAGE_CHILDREN) also counts the parent's pages the child
    held between fork and exec."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _Helper:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, _ROOT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0, close_fds=True)
        self.ready = threading.Event()
        self.lock = threading.Lock()   # one feeder at a time talks to the helper
        self.broken = False
        threading.Thread(target=self._await_ready, name="upload-helper-start", daemon=True).start()

    def _await_ready(self) -> None:
        try:
            if _read_exact(self.proc.stdout, 1) == b"R":
                self.ready.set()
                return
        except (EOFError, OSError, ValueError):
            pass
        self.broken = True
        self.ready.set()

    def send(self, kind: str, values: list[str], opts: ValueOptions) -> bool:
        try:
            data = pickle.dumps((kind, values, opts), protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.write(_HEADER.pack(len(data)) + data)
            return True
        except (OSError, ValueError, pickle.PickleError):
            self.broken = True
            return False

    def receive(self) -> list[tuple] | None:
        """The next reply, or None when the helper failed (the caller computes those values itself)."""
        try:
            (n,) = _HEADER.unpack(_read_exact(self.proc.stdout, _HEADER.size))
            ok, result = pickle.loads(_read_exact(self.proc.stdout, n))
        except (EOFError, OSError, ValueError, pickle.PickleError):
            self.broken = True
            return None
        return result if ok else None   # a library error: recomputed here, so it raises here as it would

    def close(self) -> int:
        """Stops the helper; returns its peak RSS in kB."""
        peak = _peak_rss_kb(self.proc.pid)
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
        return peak


class ValueMapper:
    """map(kind, values, options) -> one result tuple per value, in order."""

    def __init__(self, workers: int = 0, piece: int = PIECE, min_parallel: int = MIN_PARALLEL):
        self.workers, self.piece, self.min_parallel = workers, piece, min_parallel
        self._helpers: list[_Helper] = []
        self.local_values = self.helper_values = 0
        self.tail_s = 0.0    # after this process ran out of pieces: waiting for (or redoing) helpers' last ones
        self.taken_back = 0        # pieces a helper was slow on, computed here instead
        self.helper_peak_rss_kb: list[int] = []   # per helper, filled in by close()

    def start(self) -> "ValueMapper":
        """Start the helpers now: they load the libraries while the file is read."""
        if self.workers > 0 and not self._helpers:
            self._helpers = [_Helper() for _ in range(self.workers)]
        return self

    def close(self) -> None:
        helpers, self._helpers = self._helpers, []
        for h in helpers:
            self.helper_peak_rss_kb.append(h.close())

    def __enter__(self) -> "ValueMapper":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def map(self, kind: str, values: list[str], opts) -> list[tuple]:
        vopts = opts if isinstance(opts, ValueOptions) else ValueOptions.of(opts)
        helpers = [h for h in self._helpers if not h.broken]
        if not helpers or len(values) < self.min_parallel:
            self.local_values += len(values)
            return compute(kind, values, vopts)
        job = _Job(kind, values, vopts, self.piece)
        for h in helpers:
            threading.Thread(target=job.feed, args=(h,), name="upload-helper-feed", daemon=True).start()
        out = job.run_here()
        self.tail_s += job.tail_s
        self.taken_back += job.taken_back
        self.helper_values += job.by_helpers
        self.local_values += len(values) - job.by_helpers
        return out


class _Job:
    """One map(): pieces [0, n). This thread takes them from the front, helper
    feeder threads from the back, each helper with up to DEPTH pieces sent
    ahead so it never idles waiting for this thread to hand over the GIL."""

    DEPTH = 3

    def __init__(self, kind: str, values: list[str], opts: ValueOptions, piece: int):
        self.kind, self.opts = kind, opts
        self.pieces = [values[i:i + piece] for i in range(0, len(values), piece)]
        self.results: list[list[tuple] | None] = [None] * len(self.pieces)
        self.abandoned: set[int] = set()     # sent to a helper that failed
        self.front, self.back = 0, len(self.pieces) - 1
        self.cond = threading.Condition()
        self.by_helpers = 0
        self.tail_s, self.taken_back = 0.0, 0

    def _claim_back(self) -> int | None:
        with self.cond:
            if self.front > self.back:
                return None
            j, self.back = self.back, self.back - 1
            return j

    def feed(self, helper: _Helper) -> None:
        # Wait until the helper has loaded the libraries and is free (a feeder of
        # an earlier map may still be collecting its last replies).
        while not (helper.ready.is_set() and not helper.broken and helper.lock.acquire(blocking=False)):
            if helper.broken or self.front > self.back:
                return
            time.sleep(0.005)
        sent: list[int] = []   # pieces sent, replies not read yet (they come back in order)
        try:
            while True:
                while len(sent) < self.DEPTH and (j := self._claim_back()) is not None:
                    sent.append(j)
                    if not helper.send(self.kind, self.pieces[j], self.opts):
                        break
                if not sent:
                    return
                res = None if helper.broken else helper.receive()
                j = sent.pop(0)
                with self.cond:
                    if res is not None:
                        if self.results[j] is None:
                            self.results[j] = res
                            self.by_helpers += len(self.pieces[j])
                    elif helper.broken:   # run_here() computes what it had
                        self.abandoned.update([j, *sent])
                        sent.clear()
                    else:                 # a library error: recomputed (and raised) there
                        self.abandoned.add(j)
                    self.cond.notify_all()
                if helper.broken and not sent:
                    return
        finally:
            helper.lock.release()

    def run_here(self) -> list[tuple]:
        started, done_here = time.perf_counter(), 0
        while True:
            with self.cond:
                if self.front > self.back:
                    break
                i, self.front = self.front, self.front + 1
            self.results[i] = compute(self.kind, self.pieces[i], self.opts)
            done_here += 1
        # Pieces still with a helper: wait about as long as computing one here
        # takes, then compute the rest here (a descheduled helper must not stall us).
        per_piece = (time.perf_counter() - started) / max(1, done_here)
        t0 = time.perf_counter()
        deadline = t0 + per_piece
        for j in range(len(self.pieces)):
            with self.cond:
                while self.results[j] is None and j not in self.abandoned:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                if self.results[j] is not None:
                    continue
                self.taken_back += j not in self.abandoned
            res = compute(self.kind, self.pieces[j], self.opts)
            with self.cond:
                if self.results[j] is None:
                    self.results[j] = res
        self.tail_s = time.perf_counter() - t0
        out: list[tuple] = []
        for res in self.results:
            out.extend(res)
        return out
