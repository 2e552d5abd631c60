"""Run the graph for days x sources in-process: the CLI's main job and the tests.

Each source-day is its own ingest_job run, so one broken source fails only
its own partition; the day's roll-up runs after the sources, over whatever
they delivered. Runs land in the Dagster instance given (the project's
Postgres-backed one for the CLI), so they show up in the UI's run history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Callable

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from .partitions import source_day_key


@dataclass
class RunOutcome:
    day: date
    source: str | None  # None for the daily roll-up
    success: bool
    seconds: float
    message: str
    run_id: str


def failure_message(result: ExecuteInProcessResult) -> str:
    for ev in result.all_events:
        if ev.is_step_failure and ev.step_failure_data and ev.step_failure_data.error:
            err = ev.step_failure_data.error
            # Dagster wraps user errors; the innermost cause carries our message.
            while err.cause is not None:
                err = err.cause
            return f"{ev.step_key}: {err.message.strip().splitlines()[0]}"
    return "failed"


def run_days(defs: Definitions, days: list[date], sources: list[str], instance: DagsterInstance,
             run_config: dict | None = None,
             progress: Callable[[RunOutcome], None] | None = None) -> list[RunOutcome]:
    ingest, rollup = defs.resolve_job_def("ingest_job"), defs.resolve_job_def("daily_job")
    outcomes: list[RunOutcome] = []

    def record(day: date, source: str | None, res: ExecuteInProcessResult, t0: float) -> None:
        out = RunOutcome(day, source, res.success, time.perf_counter() - t0,
                         "" if res.success else failure_message(res), res.run_id)
        outcomes.append(out)
        if progress:
            progress(out)

    for day in days:
        for src in sources:
            t0 = time.perf_counter()
            res = ingest.execute_in_process(partition_key=source_day_key(day, src), instance=instance,
                                            raise_on_error=False, tags={"source": src}, run_config=run_config)
            record(day, src, res, t0)
        t0 = time.perf_counter()
        res = rollup.execute_in_process(partition_key=day.isoformat(), instance=instance,
                                        raise_on_error=False, run_config=run_config)
        record(day, None, res, t0)
    return outcomes
