"""The one history every day-2 capability writes to and reads from.

Checks, warmup, reports, backups and hygiene record *observations*: the state of one check for one
subject at one moment (``blacklist.zen`` for ``ip:203.0.113.5`` is ``fail``). The history keeps every
observation (for charts and ``check history``), knows the current state of each (check, subject) pair and
since when it holds, and tells the recorder which states changed, so alerts fire only on change. The
capabilities never import each other: warmup learns that an IP is listed by reading the checks' state here.

Storage is one SQLite file (WAL, mode 0600), safe for a CLI run and an on-server container at once.
Capabilities may keep tables of their own in the same file through :meth:`History.connect`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

#: Where the history lives unless ``COLDMAIL_HISTORY`` or an explicit path says otherwise.
DEFAULT_PATH = os.path.join(".coldmail", "history.sqlite")
ENV_PATH = "COLDMAIL_HISTORY"

OK, WARN, FAIL, UNKNOWN, INFO = "ok", "warn", "fail", "unknown", "info"
STATUSES = (OK, WARN, FAIL, UNKNOWN, INFO)
#: How bad a status is, for "worst of" summaries and alert levels.
SEVERITY = {INFO: 0, OK: 0, UNKNOWN: 1, WARN: 2, FAIL: 3}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    check_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    value REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_key ON observations (check_name, subject, id);
CREATE INDEX IF NOT EXISTS observations_at ON observations (at);
CREATE TABLE IF NOT EXISTS current (
    check_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    since TEXT NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (check_name, subject)
);
"""


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _iso(t: _dt.datetime) -> str:
    if t.tzinfo is None:
        raise ValueError(f"times in the history are UTC and timezone-aware, got {t!r}")
    return t.astimezone(_dt.timezone.utc).isoformat()


def _parse(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text)


@dataclass(frozen=True)
class Observation:
    """The state of one check for one subject at one moment.

    ``check`` is dotted, capability first (``dns.record``, ``blacklist.zen``, ``tls.expiry``,
    ``warmup.placement``, ``backup.latest``); ``subject`` names what was checked with its kind
    (``ip:203.0.113.5``, ``domain:acme.com``, ``mailbox:anna@acme.com``, ``server:mx1``).
    """

    check: str
    subject: str
    status: str
    summary: str
    source: str
    value: Optional[float] = None
    data: Mapping[str, Any] = field(default_factory=dict)
    at: Optional[_dt.datetime] = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.check, self.subject)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "subject": self.subject, "status": self.status, "summary": self.summary,
                "source": self.source, "value": self.value, "data": dict(self.data),
                "at": _iso(self.at) if self.at else None}


@dataclass(frozen=True)
class State:
    """The current state of a (check, subject) pair, and since when it has held."""

    observation: Observation
    since: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return dict(self.observation.to_dict(), since=_iso(self.since))


@dataclass(frozen=True)
class Change:
    """A (check, subject) pair whose status differs from the one recorded before."""

    observation: Observation
    previous: Optional[str]
    """The status before, or None when the pair was never seen."""

    @property
    def worse(self) -> bool:
        return SEVERITY[self.observation.status] > SEVERITY.get(self.previous or OK, 0)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.observation.to_dict(), previous=self.previous)


def default_path(project_dir: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    if env.get(ENV_PATH):
        return env[ENV_PATH]
    return os.path.join(project_dir or os.getcwd(), DEFAULT_PATH)


class History:
    """The history in one SQLite file; every method is safe from several threads and processes.

    :param path: the database file; its directory is created 0700 and the file 0600.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        if not os.path.exists(path):
            # Created 0600 before SQLite opens it, so no other user can read it even for a moment.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._lock = threading.Lock()
        with self.connect() as db:
            db.executescript(_SCHEMA)

    def connect(self) -> sqlite3.Connection:
        """A new connection (WAL, 30 s busy timeout); capabilities may keep their own tables here."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def record(self, observations: Iterable[Observation], at: Optional[_dt.datetime] = None) -> list[Change]:
        """Store one run's observations; returns the pairs whose status changed (new non-ok pairs count).

        Observations without a time get ``at`` (default: now). A pair first seen as ``ok`` or ``info`` is no
        change: a fresh stack that is healthy raises no alert.
        """
        at = at or utcnow()
        stamped = [o if o.at else _with_time(o, at) for o in observations]
        changes: list[Change] = []
        with self._lock, self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                for o in stamped:
                    cur = db.execute(
                        "INSERT INTO observations (at, source, check_name, subject, status, summary, value, data) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (_iso(o.at), o.source, o.check, o.subject, o.status, o.summary, o.value,
                         json.dumps(dict(o.data), sort_keys=True, default=str)))
                    row = db.execute("SELECT status FROM current WHERE check_name=? AND subject=?",
                                     (o.check, o.subject)).fetchone()
                    previous = row[0] if row else None
                    if previous == o.status:
                        db.execute("UPDATE current SET last_id=? WHERE check_name=? AND subject=?",
                                   (cur.lastrowid, o.check, o.subject))
                        continue
                    db.execute("INSERT OR REPLACE INTO current (check_name, subject, status, since, last_id) "
                               "VALUES (?, ?, ?, ?, ?)", (o.check, o.subject, o.status, _iso(o.at), cur.lastrowid))
                    if previous is not None or SEVERITY[o.status] > 0:
                        changes.append(Change(o, previous))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return changes

    def current(self, *, check_prefix: str = "", subject: Optional[str] = None,
                source: Optional[str] = None) -> list[State]:
        """The current state of every matching pair, sorted by check then subject."""
        sql = ("SELECT o.at, o.source, o.check_name, o.subject, o.status, o.summary, o.value, o.data, c.since "
               "FROM current c JOIN observations o ON o.id = c.last_id WHERE c.check_name LIKE ? ESCAPE '\\'")
        params: list[Any] = [_like_prefix(check_prefix)]
        if subject is not None:
            sql += " AND c.subject = ?"
            params.append(subject)
        if source is not None:
            sql += " AND o.source = ?"
            params.append(source)
        with self.connect() as db:
            rows = db.execute(sql + " ORDER BY c.check_name, c.subject", params).fetchall()
        return [State(_observation(r[:8]), _parse(r[8])) for r in rows]

    def observations(self, *, since: Optional[_dt.datetime] = None, check_prefix: str = "",
                     subject: Optional[str] = None, source: Optional[str] = None) -> list[Observation]:
        """Every matching observation, oldest first."""
        sql = ("SELECT at, source, check_name, subject, status, summary, value, data FROM observations "
               "WHERE check_name LIKE ? ESCAPE '\\'")
        params: list[Any] = [_like_prefix(check_prefix)]
        if since is not None:
            sql += " AND at >= ?"
            params.append(_iso(since))
        if subject is not None:
            sql += " AND subject = ?"
            params.append(subject)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        with self.connect() as db:
            return [_observation(r) for r in db.execute(sql + " ORDER BY id", params)]


def _with_time(o: Observation, at: _dt.datetime) -> Observation:
    return Observation(o.check, o.subject, o.status, o.summary, o.source, o.value, o.data, at)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _observation(row: Sequence[Any]) -> Observation:
    at, source, check, subject, status, summary, value, data = row
    return Observation(check, subject, status, summary, source, value, json.loads(data), _parse(at))


def worst(states: Iterable[State | Observation]) -> str:
    """The worst status among ``states`` (``ok`` when there are none)."""
    out = OK
    for s in states:
        status = s.observation.status if isinstance(s, State) else s.status
        if SEVERITY[status] > SEVERITY[out]:
            out = status
    return out


def parse_since(text: str, now: Optional[_dt.datetime] = None) -> _dt.datetime:
    """``7d``, ``12h``, ``30m`` or an ISO date/time, as an aware UTC time.

    :raises ValueError: naming the accepted forms.
    """
    now = now or utcnow()
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    if text[-1:] in units and text[:-1].isdigit():
        return now - _dt.timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration like 7d, 12h, 30m or an ISO date like 2026-11-30") from None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)

