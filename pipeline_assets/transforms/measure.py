"""Seconds and resident memory of named stages.

Memory is read from /proc/self/status (Linux); elsewhere it is NaN.
`StageClock` is the one place a transform records how long each of its
stages took and how much memory the process held after it: a stage is a
`with clock.stage(name):` block, and stages may nest (a stage's figures
include its inner stages').
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def _status_mb(key: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory of this process since exec (VmHWM), in MB."""
    return _status_mb("VmHWM")


@dataclass
class StageClock:
    """Seconds (rounded to ms) and resident MB after each named stage, in
    the order the stages ended."""

    seconds: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.rss[name] = rss_mb()
