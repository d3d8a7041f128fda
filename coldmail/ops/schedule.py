"""The on-server agent's schedule: named jobs, each run when its interval has passed since its last run.

Every capability contributes jobs (the checks: DNS/TLS hourly, blacklists daily; warmup, backups and
hygiene theirs) to one list in ``coldmail agent run``; the scheduler knows nothing about them. When a
job last ran is kept in the shared history file (table ``agent_runs``), so restarting the container
does not run everything at once, and a job that failed is tried again at its next interval, not in a
tight loop.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .history import History, utcnow

LOG = logging.getLogger("coldmail.schedule")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_runs (
    job TEXT PRIMARY KEY,
    last_run TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
"""


@dataclass(frozen=True)
class Job:
    name: str
    every: _dt.timedelta
    run: Callable[[], Any]


@dataclass(frozen=True)
class JobRun:
    name: str
    at: _dt.datetime
    ok: bool
    error: Optional[str] = None
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.name, "at": self.at.isoformat(), "ok": self.ok, "error": self.error}


class Scheduler:
    """Runs due jobs one after the other; a job's exception is recorded, never fatal to the agent."""

    def __init__(self, history: History, jobs: Sequence[Job], clock: Callable[[], _dt.datetime] = utcnow) -> None:
        names = [j.name for j in jobs]
        if len(names) != len(set(names)):
            raise ValueError(f"job names must be unique, got {names}")
        self.history, self.jobs, self.clock = history, list(jobs), clock
        with history.connect() as db:
            db.executescript(_SCHEMA)

    def last_runs(self) -> dict[str, _dt.datetime]:
        with self.history.connect() as db:
            return {job: _dt.datetime.fromisoformat(at) for job, at in db.execute("SELECT job, last_run FROM agent_runs")}

    def due(self, now: Optional[_dt.datetime] = None) -> list[Job]:
        now = now or self.clock()
        last = self.last_runs()
        return [j for j in self.jobs if j.name not in last or now - last[j.name] >= j.every]

    def next_due(self, now: Optional[_dt.datetime] = None) -> _dt.datetime:
        now = now or self.clock()
        last = self.last_runs()
        return min((last[j.name] + j.every if j.name in last else now) for j in self.jobs)

    def run_due(self) -> list[JobRun]:
        runs = []
        for job in self.due():
            at = self.clock()
            try:
                result = job.run()
                run = JobRun(job.name, at, True, result=result)
            except Exception as exc:  # noqa: BLE001 - one broken job must not stop the others
                LOG.exception("job %s failed", job.name)
                run = JobRun(job.name, at, False, f"{type(exc).__name__}: {exc}")
            with self.history.connect() as db:
                db.execute("INSERT OR REPLACE INTO agent_runs (job, last_run, ok, error) VALUES (?, ?, ?, ?)",
                           (job.name, at.isoformat(), int(run.ok), run.error))
            runs.append(run)
        return runs

    def loop(self, stop: threading.Event, on_runs: Callable[[list[JobRun]], None] = lambda runs: None,
             max_sleep: float = 60.0) -> None:
        """Run due jobs until ``stop`` is set, sleeping until the next one is due (at most ``max_sleep``)."""
        while not stop.is_set():
            runs = self.run_due()
            if runs:
                on_runs(runs)
            wait = (self.next_due() - self.clock()).total_seconds()
            stop.wait(max(1.0, min(max_sleep, wait)))
