"""``coldmail check history``: what the checks saw over a window, read back from the shared history."""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from typing import Any, Optional

from coldmail.ops.history import SEVERITY, STATUSES, History, utcnow
from coldmail.ops.signals import family

from .context import SOURCE


def summarise(history: History, since: _dt.datetime, now: Optional[_dt.datetime] = None) -> dict[str, Any]:
    """Runs, status changes (oldest first) and the current problems since ``since``.

    A change is a status that differs from the pair's previous observation in the window; the first
    observation of a pair in the window is its starting point, not a change.
    """
    now = now or utcnow()
    observations = history.observations(since=since, source=SOURCE)
    last: dict[tuple[str, str], str] = {}
    changes = []
    for o in observations:
        before = last.get(o.key)
        if before is not None and before != o.status:
            changes.append({"at": o.at.isoformat() if o.at else None, "check": o.check, "subject": o.subject,
                            "from": before, "to": o.status, "summary": o.summary})
        last[o.key] = o.status
    current = history.current(source=SOURCE)
    families: dict[str, dict[str, int]] = {}
    for s in current:
        counts = families.setdefault(family(s.observation.check), {k: 0 for k in STATUSES})
        counts[s.observation.status] += 1
    problems = sorted((s for s in current if SEVERITY[s.observation.status] > 0),
                      key=lambda s: (-SEVERITY[s.observation.status], s.observation.check, s.observation.subject))
    return {
        "since": since.isoformat(), "until": now.isoformat(),
        # Every run records each of its pairs once, so the busiest pair counts the runs.
        "runs": max(Counter(o.key for o in observations).values(), default=0), "observations": len(observations),
        "families": dict(sorted(families.items())), "changes": changes,
        "problems": [{"check": s.observation.check, "subject": s.observation.subject,
                      "status": s.observation.status, "since": s.since.isoformat(),
                      "summary": s.observation.summary} for s in problems],
    }
