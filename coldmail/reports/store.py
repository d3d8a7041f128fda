"""Reports kept in tables of their own inside the one history file, so summaries need no Pulumi CLI.

A report is stored once: aggregate and TLS reports are keyed on (organisation, report id) as RFC 7489
and RFC 8460 define them, failure reports on a digest of what identifies the failed message. Receivers
resend, mailboxes get re-read and reports get forwarded; each of those is a duplicate, counted once.
The store also keeps, per mailbox, the last IMAP UID read (so a fetch reads only new mail), and per
stack the sending IPs last read from its outputs (so a summary knows them without the CLI).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence

from coldmail.ops.history import History, utcnow

from .parse import AGGREGATE, FAILURE, SMTP_TLS, AggregateReport, FailureReport, Report, TlsReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports_aggregate (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org TEXT NOT NULL, report_id TEXT NOT NULL, org_email TEXT NOT NULL,
    domain TEXT NOT NULL, policy TEXT NOT NULL, begin_at TEXT NOT NULL, end_at TEXT NOT NULL,
    mailbox TEXT NOT NULL, fetched_at TEXT NOT NULL,
    UNIQUE (org, report_id)
);
CREATE INDEX IF NOT EXISTS reports_aggregate_domain ON reports_aggregate (domain, begin_at);
CREATE TABLE IF NOT EXISTS reports_aggregate_rows (
    report INTEGER NOT NULL REFERENCES reports_aggregate (id),
    source_ip TEXT NOT NULL, count INTEGER NOT NULL, spf_aligned INTEGER NOT NULL, dkim_aligned INTEGER NOT NULL,
    disposition TEXT NOT NULL, header_from TEXT NOT NULL, envelope_from TEXT,
    begin_at TEXT NOT NULL, end_at TEXT NOT NULL, source_name TEXT, country TEXT
);
CREATE INDEX IF NOT EXISTS reports_aggregate_rows_report ON reports_aggregate_rows (report);
CREATE TABLE IF NOT EXISTS reports_tls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org TEXT NOT NULL, report_id TEXT NOT NULL, begin_at TEXT NOT NULL, end_at TEXT NOT NULL,
    mailbox TEXT NOT NULL, fetched_at TEXT NOT NULL,
    UNIQUE (org, report_id)
);
CREATE TABLE IF NOT EXISTS reports_tls_policies (
    report INTEGER NOT NULL REFERENCES reports_tls (id),
    domain TEXT NOT NULL, policy_type TEXT NOT NULL, successful INTEGER NOT NULL, failed INTEGER NOT NULL,
    failures TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports_failure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org TEXT NOT NULL, digest TEXT NOT NULL, domain TEXT NOT NULL, arrival TEXT NOT NULL, source_ip TEXT NOT NULL,
    auth_failure TEXT NOT NULL, delivery_result TEXT, message_id TEXT, mail_from TEXT,
    mailbox TEXT NOT NULL, fetched_at TEXT NOT NULL,
    UNIQUE (org, digest)
);
CREATE TABLE IF NOT EXISTS reports_mailboxes (
    mailbox TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL, checked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports_stack_ips (
    stack TEXT NOT NULL, address TEXT NOT NULL, label TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (stack, address)
);
"""


def _iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _time(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text)


@dataclass(frozen=True)
class Row:
    """One stored aggregate record with what its report says about it."""

    domain: str
    org: str
    report_id: str
    policy: str
    source_ip: str
    count: int
    spf_aligned: bool
    dkim_aligned: bool
    begin: _dt.datetime
    end: _dt.datetime
    source_name: Optional[str]
    country: Optional[str]

    @property
    def dmarc_pass(self) -> bool:
        return self.spf_aligned or self.dkim_aligned


@dataclass(frozen=True)
class StoredReport:
    """One stored aggregate report, without its rows."""

    domain: str
    org: str
    report_id: str
    policy: str
    begin: _dt.datetime
    end: _dt.datetime


@dataclass(frozen=True)
class TlsRow:
    domain: str
    org: str
    policy_type: str
    successful: int
    failed: int
    failures: tuple[dict[str, Any], ...]
    begin: _dt.datetime


@dataclass(frozen=True)
class FailureRow:
    domain: str
    org: str
    arrival: _dt.datetime
    source_ip: str
    auth_failure: tuple[str, ...]


class ReportStore:
    """The report tables in the history's SQLite file; safe for several processes like the history itself."""

    def __init__(self, history: History) -> None:
        self.history = history
        with history.connect() as db:
            db.executescript(_SCHEMA)

    @property
    def path(self) -> str:
        return self.history.path

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        db = self.history.connect()
        # In WAL mode NORMAL never tears a transaction; a power cut may undo the last ones, reports and the
        # mailbox cursor together, and the next fetch then reads those messages again.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def add(self, report: Report, *, mailbox: str, at: Optional[_dt.datetime] = None) -> bool:
        """Store ``report`` unless a report with its key is stored already; True when it was new."""
        return self.add_all([report], mailbox=mailbox, at=at)[0]

    def add_all(self, reports: Sequence[Report], *, mailbox: str, cursor: Optional[tuple[int, int]] = None,
                at: Optional[_dt.datetime] = None) -> list[bool]:
        """Store several reports in one transaction, with the mailbox's ``(uidvalidity, last UID)`` when given.

        :returns: per report, True when it was new.
        """
        at_text = _iso(at or utcnow())
        with self._transaction() as db:
            new = [self._insert(db, r, mailbox, at_text) for r in reports]
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO reports_mailboxes (mailbox, uidvalidity, last_uid, checked_at)"
                           " VALUES (?, ?, ?, ?)", (mailbox, cursor[0], cursor[1], at_text))
        return new

    @staticmethod
    def _insert(db: sqlite3.Connection, report: Report, mailbox: str, at: str) -> bool:
        if isinstance(report, AggregateReport):
            cur = db.execute(
                "INSERT OR IGNORE INTO reports_aggregate (org, report_id, org_email, domain, policy, begin_at, end_at,"
                " mailbox, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report.org, report.report_id, report.org_email, report.domain, report.policy, _iso(report.begin),
                 _iso(report.end), mailbox, at))
            if not cur.rowcount:
                return False
            db.executemany(
                "INSERT INTO reports_aggregate_rows (report, source_ip, count, spf_aligned, dkim_aligned, disposition,"
                " header_from, envelope_from, begin_at, end_at, source_name, country)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(cur.lastrowid, r.source_ip, r.count, int(r.spf_aligned), int(r.dkim_aligned), r.disposition,
                  r.header_from, r.envelope_from, _iso(r.begin), _iso(r.end), r.source_name, r.country)
                 for r in report.rows])
            return True
        if isinstance(report, TlsReport):
            cur = db.execute(
                "INSERT OR IGNORE INTO reports_tls (org, report_id, begin_at, end_at, mailbox, fetched_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (report.org, report.report_id, _iso(report.begin), _iso(report.end), mailbox, at))
            if not cur.rowcount:
                return False
            db.executemany(
                "INSERT INTO reports_tls_policies (report, domain, policy_type, successful, failed, failures)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(cur.lastrowid, p.domain, p.policy_type, p.successful, p.failed,
                  json.dumps([f.__dict__ for f in p.failures], sort_keys=True)) for p in report.policies])
            return True
        assert isinstance(report, FailureReport)
        org, digest = report.key
        cur = db.execute(
            "INSERT OR IGNORE INTO reports_failure (org, digest, domain, arrival, source_ip, auth_failure,"
            " delivery_result, message_id, mail_from, mailbox, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (org, digest, report.domain, _iso(report.arrival), report.source_ip, ",".join(report.auth_failure),
             report.delivery_result, report.message_id, report.original_mail_from, mailbox, at))
        return bool(cur.rowcount)

    # ----------------------------------------------------------------------------------------
    # mailbox cursors and the stack's sending IPs
    # ----------------------------------------------------------------------------------------

    def cursor(self, mailbox: str) -> tuple[int, int]:
        """``(uidvalidity, last UID read)`` of a mailbox; ``(0, 0)`` when it was never read."""
        with self.history.connect() as db:
            row = db.execute("SELECT uidvalidity, last_uid FROM reports_mailboxes WHERE mailbox = ?",
                             (mailbox,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def set_stack_ips(self, stack: str, addresses: Mapping[str, str]) -> None:
        """Replace the stack's sending IPs (address → label such as ``mx1/ip1 mx1-ip1.acme-mailops.com``)."""
        with self._transaction() as db:
            db.execute("DELETE FROM reports_stack_ips WHERE stack = ?", (stack,))
            now = _iso(utcnow())
            db.executemany("INSERT INTO reports_stack_ips (stack, address, label, recorded_at) VALUES (?, ?, ?, ?)",
                           [(stack, a, label, now) for a, label in sorted(addresses.items())])

    def stack_ips(self, stack: str) -> dict[str, str]:
        with self.history.connect() as db:
            return dict(db.execute("SELECT address, label FROM reports_stack_ips WHERE stack = ? ORDER BY address",
                                   (stack,)).fetchall())

    # ----------------------------------------------------------------------------------------
    # reading
    # ----------------------------------------------------------------------------------------

    def rows(self, *, since: Optional[_dt.datetime] = None, domain: Optional[str] = None,
             policy: Optional[str] = None) -> list[Row]:
        """Aggregate records whose interval starts at or after ``since``, oldest first."""
        sql = ("SELECT a.domain, a.org, a.report_id, a.policy, r.source_ip, r.count, r.spf_aligned, r.dkim_aligned,"
               " r.begin_at, r.end_at, r.source_name, r.country FROM reports_aggregate_rows r"
               " JOIN reports_aggregate a ON a.id = r.report WHERE 1 = 1")
        params: list[Any] = []
        sql, params = _filters(sql, params, since, "r.begin_at", domain, "a.domain")
        if policy is not None:
            sql += " AND a.policy = ?"
            params.append(policy)
        with self.history.connect() as db:
            return [Row(d, o, rid, p, ip, int(n), bool(s), bool(k), _time(b), _time(e), name, country)
                    for d, o, rid, p, ip, n, s, k, b, e, name, country
                    in db.execute(sql + " ORDER BY r.begin_at, a.id", params)]

    def reports(self, *, domain: Optional[str] = None, since: Optional[_dt.datetime] = None) -> list[StoredReport]:
        """Aggregate reports (without rows), oldest first."""
        sql, params = _filters("SELECT domain, org, report_id, policy, begin_at, end_at FROM reports_aggregate"
                               " WHERE 1 = 1", [], since, "begin_at", domain, "domain")
        with self.history.connect() as db:
            return [StoredReport(d, o, rid, p, _time(b), _time(e))
                    for d, o, rid, p, b, e in db.execute(sql + " ORDER BY begin_at, id", params)]

    def tls(self, *, since: Optional[_dt.datetime] = None, domain: Optional[str] = None) -> list[TlsRow]:
        sql, params = _filters("SELECT p.domain, t.org, p.policy_type, p.successful, p.failed, p.failures, t.begin_at"
                               " FROM reports_tls_policies p JOIN reports_tls t ON t.id = p.report WHERE 1 = 1",
                               [], since, "t.begin_at", domain, "p.domain")
        with self.history.connect() as db:
            return [TlsRow(d, o, pt, int(s), int(f), tuple(json.loads(fl)), _time(b))
                    for d, o, pt, s, f, fl, b in db.execute(sql + " ORDER BY t.begin_at, t.id", params)]

    def failures(self, *, since: Optional[_dt.datetime] = None, domain: Optional[str] = None) -> list[FailureRow]:
        sql, params = _filters("SELECT domain, org, arrival, source_ip, auth_failure FROM reports_failure WHERE 1 = 1",
                               [], since, "arrival", domain, "domain")
        with self.history.connect() as db:
            return [FailureRow(d, o, _time(a), ip, tuple(x for x in af.split(",") if x))
                    for d, o, a, ip, af in db.execute(sql + " ORDER BY arrival, id", params)]

    def counts(self) -> dict[str, int]:
        """How many reports of each kind are stored."""
        with self.history.connect() as db:
            return {kind: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                    for kind, table in ((AGGREGATE, "reports_aggregate"), (FAILURE, "reports_failure"),
                                        (SMTP_TLS, "reports_tls"))}


def _filters(sql: str, params: list[Any], since: Optional[_dt.datetime], time_column: str, domain: Optional[str],
             domain_column: str) -> tuple[str, list[Any]]:
    if since is not None:
        sql += f" AND {time_column} >= ?"
        params.append(_iso(since))
    if domain is not None:
        sql += f" AND {domain_column} = ?"
        params.append(domain)
    return sql, params


def domains_in(store: ReportStore, since: Optional[_dt.datetime] = None) -> list[str]:
    """Every domain some report in the window is about."""
    names: set[str] = {r.domain for r in store.reports(since=since)}
    names |= {t.domain for t in store.tls(since=since)}
    names |= {f.domain for f in store.failures(since=since)}
    return sorted(names)
