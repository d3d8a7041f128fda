"""What the backups tell the rest of coldmail: observations in the shared history, alerts on change.

Per server (subject ``server:<name>``): ``backup.latest`` (value: the latest restore point's age in hours;
``fail`` past two days or when there is none), ``backup.run`` (the last run: ``ok`` or ``fail``) and, when
an off-site copy is configured, ``backup.offsite``. The status page reads them back by these names.
"""

from __future__ import annotations

import datetime as _dt
from typing import Optional

from coldmail.ops.history import FAIL, INFO, OK, Observation
from coldmail.ops.signals import BACKUP_LATEST, BACKUP_OFFSITE, BACKUP_RUN, server_subject

from .points import Listing, Run, age_hours

SOURCE = "backup"
#: A backup runs daily; two days without one means at least one run failed or never started.
STALE_AFTER = _dt.timedelta(days=2)


def latest_observation(listing: Listing) -> Observation:
    subject, latest = server_subject(listing.server), listing.latest
    if latest is None:
        return Observation(BACKUP_LATEST, subject, FAIL, f"no backup in {listing.location} yet", SOURCE,
                           data={"location": listing.location, "points": 0})
    hours = age_hours(listing)
    stale = hours > STALE_AFTER.total_seconds() / 3600
    summary = f"latest backup {latest.name} is {hours / 24:.1f} days old" + (" (older than 2 days)" if stale else "")
    return Observation(BACKUP_LATEST, subject, FAIL if stale else OK, summary, SOURCE, value=round(hours, 2),
                       data={"point": latest.name, "location": listing.location, "points": len(listing.points),
                             "parts": list(latest.parts), "config_export": latest.config_export})


def run_observations(server: str, run: Optional[Run], offsite: bool) -> list[Observation]:
    """The last run (and its off-site copy, when one is configured) as observations."""
    subject = server_subject(server)
    if run is None:
        return [Observation(BACKUP_RUN, subject, INFO, "no backup has run yet", SOURCE)]
    out = [Observation(BACKUP_RUN, subject, OK if run.ok else FAIL,
                       f"backup {run.point or '(none)'}: {run.message}", SOURCE, data=run.to_dict())]
    if offsite:
        out.append(Observation(BACKUP_OFFSITE, subject, OK if run.offsite == "ok" else FAIL,
                               f"off-site copy of {run.point or '(none)'}: {run.offsite}", SOURCE,
                               data={"point": run.point}))
    return out


def observations(listing: Listing) -> list[Observation]:
    """Everything one listing says about a server's backups."""
    return [latest_observation(listing), *run_observations(listing.server, listing.last_run, listing.offsite)]

