"""The suppression list and the bounce, complaint and send events behind it, in the shared history file.

Events are keyed, so one bounce seen twice (in a relay's log and in the report it mailed back, or in two
scans over overlapping windows) counts once; an event's time is when a scan first saw it. The suppression
list is per sending domain: ``domain`` is the domain whose mailbox sent, or ``*`` for every domain (entries
added by hand without a domain).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Optional

from coldmail.ops.history import History, utcnow

from .reports import HARD, SOFT

SEND, COMPLAINT, MANUAL = "send", "complaint", "manual"
EVERY_DOMAIN = "*"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hygiene_events (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    domain TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hygiene_events_at ON hygiene_events (at, mailbox);
CREATE TABLE IF NOT EXISTS suppression (
    domain TEXT NOT NULL,
    address TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (domain, address)
);
CREATE TABLE IF NOT EXISTS hygiene_seen_messages (
    mailbox TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    PRIMARY KEY (mailbox, folder, uidvalidity, uid)
);
"""


@dataclass(frozen=True)
class Event:
    """One send, bounce or complaint of a stack mailbox."""

    key: str
    kind: str
    """``send`` (a final delivery attempt: sent or bounced), ``hard``, ``soft`` or ``complaint``."""
    mailbox: str
    recipient: str
    status: str
    reason: str
    source: str
    """``log`` or ``imap``."""

    @property
    def domain(self) -> str:
        return self.mailbox.rpartition("@")[2]


@dataclass(frozen=True)
class Suppression:
    domain: str
    address: str
    kind: str
    reason: str
    source: str
    first_seen: str
    last_seen: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"email": self.address, "type": self.kind, "reason": self.reason, "sending_domain": self.domain,
                "source": self.source, "first_seen": self.first_seen, "last_seen": self.last_seen, "count": self.count}


#: The CSV sequencers import as a blocklist: ``email`` first, for importers that read the first column and
#: those that let you pick one (docs/cli.md, `suppression export`).
CSV_COLUMNS = ("email", "type", "reason", "sending_domain", "source", "first_seen", "last_seen", "count")


def to_csv(rows: list[Suppression]) -> str:
    """The rows as CSV with a header line, one address a row (an address suppressed for several domains once)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    seen: set[str] = set()
    for row in rows:
        if row.address not in seen:
            seen.add(row.address)
            writer.writerow(row.to_dict())
    return out.getvalue()


@dataclass
class Counts:
    """Sends, hard and soft bounces, and complaints."""

    sends: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    _FIELDS: ClassVar[dict[str, str]] = {SEND: "sends", HARD: "hard", SOFT: "soft", COMPLAINT: "complaints"}

    def add(self, kind: str, n: int = 1) -> None:
        """Count ``n`` events of ``kind`` (``send``, ``hard``, ``soft`` or ``complaint``)."""
        name = self._FIELDS[kind]
        setattr(self, name, getattr(self, name) + n)

    def merge(self, other: "Counts") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class HygieneStore:
    """Hygiene's own tables in the history's SQLite file."""

    def __init__(self, history: History) -> None:
        self.history = history
        with history.connect() as db:
            db.executescript(_SCHEMA)

    def add(self, event: Event, at: Optional[_dt.datetime] = None) -> bool:
        """Store ``event``; a hard bounce or a complaint also suppresses the recipient for the mailbox's domain.

        :return: False when the event was stored before (nothing changes then).
        """
        when = (at or utcnow()).isoformat()
        with self.history.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT OR IGNORE INTO hygiene_events (key, at, kind, mailbox, domain, recipient, status, reason,"
                    " source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (event.key, when, event.kind, event.mailbox, event.domain, event.recipient, event.status,
                     event.reason[:500], event.source))
                new = cur.rowcount == 1
                if new and event.kind in (HARD, COMPLAINT):
                    self._suppress(db, event.domain, event.recipient, event.kind,
                                   f"{event.status} {event.reason}".strip()[:300], event.source, when)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return new

    def suppress(self, domain: str, address: str, reason: str, at: Optional[_dt.datetime] = None) -> bool:
        """Suppress ``address`` by hand for ``domain`` (or :data:`EVERY_DOMAIN`); False when it already was."""
        with self.history.connect() as db:
            return self._suppress(db, domain, address.lower(), MANUAL, reason, "manual",
                                  (at or utcnow()).isoformat())

    @staticmethod
    def _suppress(db: Any, domain: str, address: str, kind: str, reason: str, source: str, when: str) -> bool:
        cur = db.execute("INSERT OR IGNORE INTO suppression (domain, address, kind, reason, source, first_seen,"
                         " last_seen, count) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                         (domain, address, kind, reason, source, when, when))
        if cur.rowcount == 0:
            db.execute("UPDATE suppression SET last_seen = ?, count = count + 1 WHERE domain = ? AND address = ?",
                       (when, domain, address))
        return cur.rowcount == 1

    def suppressions(self, domain: Optional[str] = None) -> list[Suppression]:
        """The list, by domain then address; for one domain its own entries and those for every domain."""
        sql = ("SELECT domain, address, kind, reason, source, first_seen, last_seen, count FROM suppression")
        params: tuple = ()
        if domain is not None:
            sql += " WHERE domain IN (?, ?)"
            params = (domain, EVERY_DOMAIN)
        with self.history.connect() as db:
            return [Suppression(*row) for row in db.execute(sql + " ORDER BY domain, address", params)]

    def seen(self, mailbox: str, folder: str, uidvalidity: int, uid: int) -> bool:
        with self.history.connect() as db:
            return db.execute("SELECT 1 FROM hygiene_seen_messages WHERE mailbox=? AND folder=? AND uidvalidity=?"
                              " AND uid=?", (mailbox, folder, uidvalidity, uid)).fetchone() is not None

    def mark_seen(self, mailbox: str, folder: str, uidvalidity: int, uid: int) -> None:
        with self.history.connect() as db:
            db.execute("INSERT OR IGNORE INTO hygiene_seen_messages VALUES (?, ?, ?, ?)",
                       (mailbox, folder, uidvalidity, uid))

    def counts(self, since: _dt.datetime) -> dict[str, Counts]:
        """Sends, bounces and complaints per mailbox since ``since``."""
        out: dict[str, Counts] = {}
        with self.history.connect() as db:
            for mailbox, kind, n in db.execute("SELECT mailbox, kind, COUNT(*) FROM hygiene_events WHERE at >= ?"
                                               " GROUP BY mailbox, kind", (since.isoformat(),)):
                out.setdefault(mailbox, Counts()).add(kind, n)
        return out

