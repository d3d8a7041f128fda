"""The warmup's own tables, in the one history file: ramps, holds, sends, receipts.

**Counting sends.** Every warmup message (exchange, reply, placement probe) is *reserved* in one
transaction before it goes out: the transaction counts what the sender, its IP and (for seeds) the
recipient already have today and inserts the reservation only under every cap. A reservation counts
until the SMTP server has clearly refused the message; then it is *released*. A process that dies
between reserving and sending leaves the reservation counted, so a crash can cost a send but never
add one, and two workers running at once cannot both take the last send of a day.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence

from coldmail.ops.history import History, utcnow

Clock = Callable[[], _dt.datetime]

EXCHANGE, REPLY, PROBE = "exchange", "reply", "probe"
KINDS = (EXCHANGE, REPLY, PROBE)
RESERVED, SENT, UNCERTAIN, REFUSED = "reserved", "sent", "uncertain", "refused"
#: Statuses that count against a cap: everything but a clear refusal.
COUNTED = (RESERVED, SENT, UNCERTAIN)
INBOX, SPAM, PROMOTIONS = "inbox", "spam", "promotions"
PLACEMENTS = (INBOX, SPAM, PROMOTIONS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS warmup_ips (
    ip TEXT PRIMARY KEY,
    start TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS warmup_holds (
    ip TEXT NOT NULL,
    day TEXT NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (ip, day)
);
CREATE TABLE IF NOT EXISTS warmup_sends (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    batch TEXT,
    day TEXT NOT NULL,
    sender TEXT NOT NULL,
    sender_ip TEXT,
    recipient TEXT NOT NULL,
    recipient_day TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    reply_to TEXT,
    status TEXT NOT NULL,
    reserved_at TEXT NOT NULL,
    done_at TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS warmup_sends_sender ON warmup_sends (sender, day);
CREATE INDEX IF NOT EXISTS warmup_sends_ip ON warmup_sends (sender_ip, day);
CREATE INDEX IF NOT EXISTS warmup_sends_recipient ON warmup_sends (recipient, recipient_day);
CREATE INDEX IF NOT EXISTS warmup_sends_batch ON warmup_sends (batch);
CREATE TABLE IF NOT EXISTS warmup_receipts (
    token TEXT NOT NULL,
    recipient TEXT NOT NULL,
    day TEXT NOT NULL,
    folder TEXT NOT NULL,
    placement TEXT NOT NULL,
    rescued INTEGER NOT NULL DEFAULT 0,
    replied INTEGER NOT NULL DEFAULT 0,
    at TEXT NOT NULL,
    PRIMARY KEY (token, recipient)
);
CREATE INDEX IF NOT EXISTS warmup_receipts_day ON warmup_receipts (recipient, day);
"""

_WHERE = {"sender": "sender = ? AND day = ?", "ip": "sender_ip = ? AND day = ?",
          "recipient": "recipient = ? AND recipient_day = ?"}


@dataclass(frozen=True)
class Cap:
    """A daily limit a reservation must stay under: ``what`` is ``sender``, ``ip`` or ``recipient``."""

    what: str
    key: str
    day: _dt.date
    limit: int


@dataclass(frozen=True)
class Send:
    """One warmup message, as reserved before it goes out."""

    token: str
    kind: str
    day: _dt.date
    sender: str
    sender_ip: Optional[str]
    recipient: str
    recipient_day: _dt.date
    message_id: str
    subject: str
    reply_to: Optional[str] = None
    batch: Optional[str] = None


@dataclass(frozen=True)
class Pending:
    """A sent message its recipient has not been seen to receive yet."""

    token: str
    kind: str
    sender: str
    recipient: str
    message_id: str
    subject: str
    batch: Optional[str]


@dataclass(frozen=True)
class Counts:
    sent: int = 0
    received: int = 0
    replied: int = 0
    inbox: int = 0
    spam: int = 0
    promotions: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "received": self.received, "replied": self.replied,
                "placement": {"inbox": self.inbox, "spam": self.spam, "promotions": self.promotions}}


def _d(day: _dt.date) -> str:
    return day.isoformat()


def ramp_start(first_run: bool, today: _dt.date, configured: Optional[_dt.date]) -> _dt.date:
    """Where a newly seen IP's ramp starts: the configured date for the IPs of the first run (or that day);
    for an IP that appears later (a floating IP added to a running stack), the day it appears, never earlier."""
    if first_run:
        return configured or today
    return max(today, configured) if configured else today


class WarmupStore:
    """The warmup tables in ``history``'s SQLite file; one connection per store.

    :param clock: the time stamped on reservations and receipts (the worker's clock).
    """

    def __init__(self, history: History, clock: Clock = utcnow) -> None:
        self.history, self.clock = history, clock
        self._db = history.connect()
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _tx(self) -> "_Tx":
        return _Tx(self._db)

    # ------------------------------------------------------------------ ramps and holds
    def register_ips(self, days: Mapping[str, _dt.date], configured_start: Optional[_dt.date]) -> dict[str, _dt.date]:
        """Each IP's ramp start (:func:`ramp_start`), recording IPs seen for the first time; ``days`` is today
        per IP label."""
        with self._tx() as db:
            first_run = self.first_run()
            for ip, today in days.items():
                db.execute("INSERT OR IGNORE INTO warmup_ips (ip, start, first_seen) VALUES (?, ?, ?)",
                           (ip, _d(ramp_start(first_run, today, configured_start)), _d(today)))
        return self.ip_starts()

    def first_run(self) -> bool:
        """True until the worker has registered any IP."""
        return self._db.execute("SELECT COUNT(*) FROM warmup_ips").fetchone()[0] == 0

    def ip_starts(self) -> dict[str, _dt.date]:
        return {ip: _dt.date.fromisoformat(s) for ip, s in self._db.execute("SELECT ip, start FROM warmup_ips")}

    def mark_held(self, ip: str, day: _dt.date, reasons: Sequence[str]) -> None:
        """Record ``day`` as held for ``ip`` (the first reasons of the day are kept)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO warmup_holds (ip, day, reasons) VALUES (?, ?, ?)",
                       (ip, _d(day), json.dumps(list(reasons))))

    def held_days(self, ip: str) -> frozenset[_dt.date]:
        return frozenset(_dt.date.fromisoformat(r[0]) for r in
                         self._db.execute("SELECT day FROM warmup_holds WHERE ip = ?", (ip,)))

    # ------------------------------------------------------------------ sends
    def reserve(self, send: Send, caps: Iterable[Cap]) -> Optional[Cap]:
        """Reserve ``send`` under every cap in one transaction; returns the cap that refused it, or None."""
        with self._tx() as db:
            for cap in caps:
                used = db.execute(f"SELECT COUNT(*) FROM warmup_sends WHERE {_WHERE[cap.what]} AND status IN "
                                  f"({','.join('?' * len(COUNTED))})", (cap.key, _d(cap.day), *COUNTED)).fetchone()[0]
                if used >= cap.limit:
                    db.rollback_on_exit = True
                    return cap
            db.execute(
                "INSERT INTO warmup_sends (token, kind, batch, day, sender, sender_ip, recipient, recipient_day, "
                "message_id, subject, reply_to, status, reserved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (send.token, send.kind, send.batch, _d(send.day), send.sender, send.sender_ip, send.recipient,
                 _d(send.recipient_day), send.message_id, send.subject, send.reply_to, RESERVED,
                 self.clock().isoformat()))
        return None

    def finish(self, token: str, status: str, detail: str = "") -> None:
        """Mark a reservation ``sent``, ``uncertain`` (still counted) or ``refused`` (released)."""
        with self._tx() as db:
            db.execute("UPDATE warmup_sends SET status = ?, done_at = ?, detail = ? WHERE token = ?",
                       (status, self.clock().isoformat(), detail, token))

    def settle_stale(self, before: _dt.datetime) -> int:
        """Reservations older than ``before`` belong to a worker that died mid-send: they become ``uncertain``
        (still counted, and looked for at their recipient). Returns how many."""
        with self._tx() as db:
            return db.execute("UPDATE warmup_sends SET status = ?, detail = ? WHERE status = ? AND reserved_at < ?",
                              (UNCERTAIN, "worker stopped before it knew", RESERVED, before.isoformat())).rowcount

    def count(self, what: str, key: str, day: _dt.date) -> int:
        """Counted sends today by a sender or an IP, or to a recipient."""
        return self._db.execute(f"SELECT COUNT(*) FROM warmup_sends WHERE {_WHERE[what]} AND status IN "
                                f"({','.join('?' * len(COUNTED))})", (key, _d(day), *COUNTED)).fetchone()[0]

    def received_by(self, day: _dt.date) -> dict[str, int]:
        """Counted warmup sends addressed to each recipient on their ``day``: how busy each partner is."""
        rows = self._db.execute(f"SELECT recipient, COUNT(*) FROM warmup_sends WHERE recipient_day = ? AND status IN "
                                f"({','.join('?' * len(COUNTED))}) GROUP BY recipient", (_d(day), *COUNTED))
        return dict(rows.fetchall())

    def pending(self, since: _dt.date, batch: Optional[str] = None) -> list[Pending]:
        """Sent (or maybe sent) messages since ``since`` whose recipient has not been seen to receive them."""
        sql = ("SELECT s.token, s.kind, s.sender, s.recipient, s.message_id, s.subject, s.batch FROM warmup_sends s "
               "LEFT JOIN warmup_receipts r ON r.token = s.token AND r.recipient = s.recipient "
               "WHERE r.token IS NULL AND s.status IN (?, ?) AND s.day >= ?")
        params: list = [SENT, UNCERTAIN, _d(since)]
        if batch is not None:
            sql += " AND s.batch = ?"
            params.append(batch)
        return [Pending(*row) for row in self._db.execute(sql + " ORDER BY s.reserved_at", params)]

    def send_of(self, token: str) -> Optional[dict]:
        row = self._db.execute("SELECT token, kind, sender, sender_ip, recipient, status, batch FROM warmup_sends "
                               "WHERE token = ?", (token,)).fetchone()
        return dict(zip(("token", "kind", "sender", "sender_ip", "recipient", "status", "batch"), row)) if row else None

    # ------------------------------------------------------------------ receipts
    def record_receipt(self, token: str, recipient: str, day: _dt.date, folder: str, placement: str) -> bool:
        """Record where ``recipient`` found ``token`` (first sighting only); False when already known."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO warmup_receipts (token, recipient, day, folder, placement, at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (token, recipient, _d(day), folder, placement,
                                                            self.clock().isoformat()))
            return cur.rowcount == 1

    def mark_receipt(self, token: str, recipient: str, *, rescued: Optional[bool] = None,
                     replied: Optional[bool] = None) -> None:
        with self._tx() as db:
            if rescued is not None:
                db.execute("UPDATE warmup_receipts SET rescued = ? WHERE token = ? AND recipient = ?",
                           (int(rescued), token, recipient))
            if replied is not None:
                db.execute("UPDATE warmup_receipts SET replied = ? WHERE token = ? AND recipient = ?",
                           (int(replied), token, recipient))

    def exchanges_received(self, recipient: str, day: _dt.date) -> tuple[int, int]:
        """(exchange messages ``recipient`` received on ``day``, how many of them it answered)."""
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(r.replied), 0) FROM warmup_receipts r "
                               "JOIN warmup_sends s ON s.token = r.token "
                               "WHERE r.recipient = ? AND r.day = ? AND s.kind = ?",
                               (recipient, _d(day), EXCHANGE)).fetchone()
        return int(row[0]), int(row[1])

    def placements(self, batch: str) -> list[dict]:
        """Every probe of ``batch``: who sent it from which IP to whom, and where it landed (None: not seen)."""
        rows = self._db.execute(
            "SELECT s.token, s.sender, s.sender_ip, s.recipient, s.status, r.placement, r.folder FROM warmup_sends s "
            "LEFT JOIN warmup_receipts r ON r.token = s.token AND r.recipient = s.recipient "
            "WHERE s.batch = ? ORDER BY s.sender_ip, s.sender, s.recipient", (batch,))
        keys = ("token", "sender", "sender_ip", "recipient", "status", "placement", "folder")
        return [dict(zip(keys, r)) for r in rows]

    # ------------------------------------------------------------------ status
    def counts(self, day: _dt.date, since: _dt.date) -> tuple[dict[str, Counts], dict[str, Counts]]:
        """Per address and per IP label: sends and replies on ``day``, receipts on ``day`` (per address only:
        an IP receives nothing), and where the mail they sent since ``since`` landed at its recipients."""
        by_addr: dict[str, dict[str, int]] = {}
        by_ip: dict[str, dict[str, int]] = {}

        def bump(table: dict, key: Optional[str], field: str, n: int) -> None:
            if key:
                table.setdefault(key, {})[field] = table.setdefault(key, {}).get(field, 0) + n

        counted = ",".join("?" * len(COUNTED))
        for sender, ip, kind, n in self._db.execute(
                f"SELECT sender, sender_ip, kind, COUNT(*) FROM warmup_sends WHERE day = ? AND status IN ({counted}) "
                "GROUP BY sender, sender_ip, kind", (_d(day), *COUNTED)):
            for table, key in ((by_addr, sender), (by_ip, ip)):
                bump(table, key, "sent", n)
                if kind == REPLY:
                    bump(table, key, "replied", n)
        for recipient, n in self._db.execute("SELECT recipient, COUNT(*) FROM warmup_receipts WHERE day = ? "
                                             "GROUP BY recipient", (_d(day),)):
            bump(by_addr, recipient, "received", n)
        for sender, ip, placement, n in self._db.execute(
                "SELECT s.sender, s.sender_ip, r.placement, COUNT(*) FROM warmup_receipts r JOIN warmup_sends s "
                "ON s.token = r.token WHERE s.day >= ? GROUP BY s.sender, s.sender_ip, r.placement", (_d(since),)):
            for table, key in ((by_addr, sender), (by_ip, ip)):
                bump(table, key, placement, n)
        return ({k: Counts(**v) for k, v in by_addr.items()}, {k: Counts(**v) for k, v in by_ip.items()})


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error or when asked), so counts and inserts are atomic."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.rollback_on_exit = False

    def __enter__(self) -> "_Tx":
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def execute(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type or self.rollback_on_exit else "COMMIT")
