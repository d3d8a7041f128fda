"""``backup now | list | restore``: Mailcow's backups on the stack's servers, over SSH."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from coldmail import backup
from coldmail.errors import EXIT_BAD_INPUT, EXIT_FAILED, ColdmailError
from coldmail.ops import remote
from coldmail.ops.notify import record_and_notify

from ..output import ErrorEntry, Outcome, table
from ..session import Session
from . import day2


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _listing_text(listing: backup.Listing) -> list[str]:
    lines = [f"{listing.server}: {len(listing.points)} restore point(s) in {listing.location}, kept "
             f"{listing.delete_days} days{', copied off-site' if listing.offsite else ''}"]
    if listing.points:
        lines.append(table(["point", "parts", "size", "config export"],
                           [[p.name, ",".join(p.parts), _size(p.size_bytes), "yes" if p.config_export else "no"]
                            for p in listing.points], indent="  "))
    if listing.last_run:
        r = listing.last_run
        lines.append(f"  last run: {r.status} ({r.message}), off-site: {r.offsite}")
    return lines


def _health(observations: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"check": o.check, "subject": o.subject, "status": o.status, "summary": o.summary, "value": o.value}
            for o in observations]


def backup_list(session: Session, stack: str, *, server: Optional[str] = None) -> Outcome:
    """Each server's restore points and last run; their health goes to the history (alerts on change)."""
    out = Outcome("backup list", stack=stack)
    listings, observations, lines = [], [], []
    for target in day2.targets(session, stack, server):
        try:
            listing = backup.list_points(target)
        except ColdmailError as exc:
            out.fail(exc)
            continue
        listings.append(listing)
        observations += backup.observations(listing)
        lines += _listing_text(listing)
    changes, delivery = record_and_notify(day2.history(session), observations, day2.notifier(session),
                                          stack=stack, what="backup")
    out.result = {"servers": [lst.to_dict() for lst in listings], "health": _health(observations),
                  "alerts": day2.alerts(changes, delivery)}
    out.warnings += [o.summary for o in observations if o.status == "fail"]
    out.text = "\n".join(lines)
    return out


def backup_now(session: Session, stack: str, *, server: Optional[str] = None) -> Outcome:
    """Run the backup on each server now and wait for it; failures go to the history and the notifier."""
    out = Outcome("backup now", stack=stack)
    results, observations, lines = [], [], []
    for target in day2.targets(session, stack, server):
        session.progress.write(f"backing up {target.server} (this takes a while on a full mail store)…\n")
        session.progress.flush()
        try:
            run = backup.run_now(target)
            listing = backup.list_points(target)
        except ColdmailError as exc:
            out.fail(exc)
            continue
        observations += backup.observations(listing)
        results.append({"server": target.server, "run": run.to_dict(), "location": listing.location,
                        "path": f"{listing.location}/{run.point}" if run.point else None})
        lines.append(f"{target.server}: {run.status}: {run.message}"
                     + (f" ({listing.location}/{run.point}, off-site: {run.offsite})" if run.point else ""))
        if not run.ok:
            out.exit_code = EXIT_FAILED
            out.errors.append(ErrorEntry("backup_failed", f"the backup on {target.server} failed: {run.message}",
                                         fix=f"see `journalctl -u coldmail-backup.service` on {target.server}, "
                                             "fix the cause, then `coldmail backup now` again"))
    changes, delivery = record_and_notify(day2.history(session), observations, day2.notifier(session),
                                          stack=stack, what="backup")
    out.result = {"servers": results, "health": _health(observations), "alerts": day2.alerts(changes, delivery)}
    out.text = "\n".join(lines)
    return out


def backup_restore(session: Session, stack: str, point: str, *, server: Optional[str] = None,
                   parts: Optional[Sequence[str]] = None, yes: bool = False) -> Outcome:
    """Restore parts (default: all the point holds) of a restore point, answering Mailcow's restore menus."""
    out = Outcome("backup restore", stack=stack)
    chosen = backup.check_parts(parts) if parts is not None else None
    target = day2.one_target(session, stack, server, f"backup restore {point}")
    found = backup.list_points(target).point(point)
    what = ", ".join(chosen or found.parts)
    if not yes:
        answer = session.confirm(f"Replace {what} on {target.server} with the backup {point}? "
                                 "Mail and settings since then are lost.")
        if answer is None:
            out.exit_code = EXIT_BAD_INPUT
            out.errors.append(ErrorEntry("confirmation_required", "not restored: nobody to confirm",
                                         fix=f"re-run with --yes: coldmail backup restore {point} --server "
                                             f"{target.server} --stack {stack} --yes"))
        if not answer:
            out.warnings.append("not restored")
            return out
    session.progress.write(f"restoring {what} of {point} on {target.server}…\n")
    restored = backup.restore(target, found, chosen)
    out.result = {"server": target.server, "point": point, "restored": restored}
    out.text = f"{target.server}: restored {', '.join(restored)} from {point}"
    return out


def final_backups(session: Session, stack: str, dest: Optional[str]) -> list[dict[str, Any]]:
    """A backup of every server, each brought to safety before a destroy: off-site when the run copied it
    there, else downloaded to ``dest`` (default ``<project>/.coldmail/backups/<stack>``).

    :raises ColdmailError: any server's backup or download failed (nothing may be destroyed then).
    """
    dest = os.path.abspath(dest or os.path.join(session.project_dir, ".coldmail", "backups", stack))
    kept = []
    for target in day2.targets(session, stack, None):
        session.progress.write(f"final backup of {target.server}…\n")
        run = backup.run_now(target)
        if not run.ok or not run.point:
            raise backup.BackupError(f"the final backup of {target.server} failed: {run.message}; nothing was destroyed",
                                     "fix the backup (`coldmail backup now`), or destroy without --keep-data")
        listing = backup.list_points(target)
        entry = {"server": target.server, "point": run.point, "server_path": f"{listing.location}/{run.point}",
                 "offsite": run.offsite == "ok", "local_path": None}
        if not entry["offsite"]:
            session.progress.write(f"copying {run.point} from {target.server} to {dest}…\n")
            entry["local_path"] = remote.download(target, listing.location, run.point,
                                                  os.path.join(dest, target.server))
        kept.append(entry)
    return kept


def kept_text(kept: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"final backup of {k['server']}: {k['point']} "
                     + (f"in the off-site repository (and {k['server_path']}, gone with the server)" if k["offsite"]
                        else f"copied to {k['local_path']}") for k in kept)

