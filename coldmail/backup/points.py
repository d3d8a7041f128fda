"""A server's backups over SSH: run one now, list the restore points, restore parts of one.

The work happens in ``backup.sh`` on the server (``components/scripts/backup.sh``), which the stack
installs; these functions call it and read the JSON it prints. Times come from the server's clock, so
the age of a backup does not depend on the clock of the machine asking. On the server itself (the agent,
with the host's tree mounted read-only) :func:`list_local` runs the same ``backup.sh list``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from coldmail.errors import ColdmailError, UsageError
from coldmail.model.host import BACKUP_SCRIPT
from coldmail.model.mailcow import BACKUP_PARTS
from coldmail.ops import remote

_POINT = re.compile(r"^mailcow-\d{4}(-\d{2}){5}$")
#: A backup of every part reads the whole mail store: hours on a full disk.
RUN_TIMEOUT = 6 * 3600


class BackupError(ColdmailError):
    kind = "backup"


def _when(epoch: Optional[int]) -> Optional[_dt.datetime]:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc) if epoch is not None else None


def _iso(t: Optional[_dt.datetime]) -> Optional[str]:
    return t.isoformat() if t else None


@dataclass(frozen=True)
class Point:
    """One restore point: a ``mailcow-YYYY-MM-DD-HH-MM-SS`` directory in the backup location."""

    name: str
    parts: tuple[str, ...]
    created_at: _dt.datetime
    size_bytes: int
    config_export: bool
    """The stack's config export lies beside Mailcow's archives."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "parts": list(self.parts), "created_at": self.created_at.isoformat(),
                "size_bytes": self.size_bytes, "config_export": self.config_export}


@dataclass(frozen=True)
class Run:
    """The last run of the backup service, as the server recorded it."""

    status: str
    """``ok`` or ``failed``."""
    point: Optional[str]
    message: str
    offsite: str
    """``ok``, ``failed`` or ``off`` (no off-site copy configured)."""
    started_at: Optional[_dt.datetime]
    finished_at: Optional[_dt.datetime]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Run":
        return cls(str(doc.get("status")), doc.get("point"), str(doc.get("message", "")), str(doc.get("offsite", "off")),
                   _when(doc.get("started_at")), _when(doc.get("finished_at")))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "point": self.point, "message": self.message, "offsite": self.offsite,
                "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at)}


@dataclass(frozen=True)
class Listing:
    """What one server holds: its restore points, oldest first, and its last run."""

    server: str
    location: str
    delete_days: int
    offsite: bool
    now: _dt.datetime
    """The server's clock when it listed."""
    points: tuple[Point, ...]
    last_run: Optional[Run]

    @classmethod
    def from_json(cls, server: str, doc: Mapping[str, Any]) -> "Listing":
        points = tuple(Point(p["name"], tuple(p["parts"]), _when(p["created_at"]), int(p["size_bytes"]),
                             bool(p["config_export"])) for p in doc.get("points") or [])
        last = doc.get("last_run")
        return cls(server, str(doc["location"]), int(doc["delete_days"]), bool(doc["offsite"]), _when(doc["now"]),
                   tuple(sorted(points, key=lambda p: p.created_at)), Run.from_json(last) if last else None)

    @property
    def latest(self) -> Optional[Point]:
        return self.points[-1] if self.points else None

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise UsageError(f"server {self.server} has no restore point {name!r} in {self.location}",
                         f"pick one of `coldmail backup list --server {self.server}`: "
                         + (", ".join(p.name for p in self.points[-5:]) or "none yet"))

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {"server": self.server, "location": self.location, "delete_days": self.delete_days,
                "offsite": self.offsite, "points": [p.to_dict() for p in self.points],
                "latest": latest.name if latest else None,
                "latest_age_hours": round(age_hours(self), 2) if latest else None,
                "last_run": self.last_run.to_dict() if self.last_run else None}


def age_hours(listing: Listing) -> float:
    """How old the latest restore point is, in hours, by the server's clock (infinite when there is none)."""
    latest = listing.latest
    return (listing.now - latest.created_at).total_seconds() / 3600 if latest else float("inf")


def _script(*args: str) -> str:
    return f'bash "${{ROOT:-}}{BACKUP_SCRIPT}" ' + " ".join(args)


def _json(result: remote.Result, what: str, server: str) -> Any:
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise BackupError(f"backup.sh {what} on {server} printed no JSON: {result.stderr.strip()[-300:]}",
                          "run `coldmail up` so the server has the current backup script") from None


def run_now(target: remote.Target) -> Run:
    """Run the backup service on the server now and wait for it; the run as the server recorded it."""
    result = remote.run(target, _script("now"), timeout=RUN_TIMEOUT, check=False)
    if not result.stdout.strip():
        raise BackupError(f"the backup on {target.server} did not start: {result.stderr.strip()[-300:]}",
                          "see `journalctl -u coldmail-backup.service` on the server")
    return Run.from_json(_json(result, "now", target.server))


def list_points(target: remote.Target) -> Listing:
    return Listing.from_json(target.server, _json(remote.run(target, _script("list"), timeout=120), "list",
                                                  target.server))


def list_local(server: str, root: str, env: Optional[Mapping[str, str]] = None) -> Listing:
    """The listing of the server this runs on, whose ``/opt/coldmail`` and backup location are under ``root``.

    :raises BackupError: ``backup.sh list`` failed (not installed, nothing mounted), with its message.
    """
    try:
        proc = subprocess.run(["bash", "-c", _script("list")], capture_output=True, text=True, timeout=120,
                              env={**(os.environ if env is None else env), "ROOT": root})
    except subprocess.TimeoutExpired:
        raise BackupError(f"backup.sh list under {root} took longer than 120 s", "check the backup location's disk") \
            from None
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise BackupError(f"backup.sh list on {server} failed: {said[-1]}",
                          "run `pulumi up` so the server has its backup settings and the agent its mounts")
    return Listing.from_json(server, _json(remote.Result(proc.returncode, proc.stdout, proc.stderr), "list", server))


def check_parts(parts: Iterable[str]) -> tuple[str, ...]:
    """The parts in Mailcow's order, each checked; ``all`` stands for every part.

    :raises UsageError: naming the parts there are.
    """
    wanted = {p.strip() for p in parts if p.strip()}
    unknown = sorted(wanted - set(BACKUP_PARTS) - {"all"})
    if unknown or not wanted:
        raise UsageError(f"unknown backup part(s): {', '.join(unknown) or '(none given)'}",
                         f"use any of {','.join(BACKUP_PARTS)} or all")
    return BACKUP_PARTS if "all" in wanted else tuple(p for p in BACKUP_PARTS if p in wanted)


def restore(target: remote.Target, point: Point, parts: Optional[Iterable[str]] = None) -> list[str]:
    """Restore ``parts`` (default: every part the point holds) of ``point`` on the server.

    :raises UsageError: the point lacks a part asked for.
    :raises remote.RemoteError: the restore failed on the server (its output says where).
    """
    if not _POINT.match(point.name):
        raise UsageError(f"{point.name!r} is not a restore point name", "use a name from `coldmail backup list`")
    chosen = check_parts(parts) if parts is not None else point.parts
    missing = [p for p in chosen if p not in point.parts]
    if missing:
        raise UsageError(f"{point.name} on {target.server} has no {', '.join(missing)} archive",
                         f"it holds: {', '.join(point.parts) or 'nothing'}")
    result = remote.run(target, _script("restore", point.name, *chosen), timeout=RUN_TIMEOUT)
    return list(_json(result, "restore", target.server)["restored"])
