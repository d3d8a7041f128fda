"""From Postfix logs and reports in the mailboxes to events, the suppression list and bounce and complaint
rates in the shared history, where the warmup hold reads them.

Rates are taken over a window (7 days) per mailbox and per domain: hard bounces over sends, and
complaints over sends. A send is a final delivery attempt in the logs (sent or bounced); when the logs
show fewer sends than warmup recorded (``warmup.sent`` per mailbox and day), warmup's figure counts.
"""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from coldmail.ops.history import FAIL, OK, History, Observation, utcnow
from coldmail.ops.signals import (HYGIENE_BOUNCE_RATE, HYGIENE_COMPLAINTS, MAX_BOUNCE_RATE, WARMUP_SENT,
                                  domain_subject, mailbox_subject)

from .imap import Account, new_reports
from .maillog import BOUNCED, DEFERRED, SENT, Delivery
from .reports import Report, parse_report
from .store import COMPLAINT, SEND, SOFT, Counts, Event, HygieneStore

SOURCE = "hygiene"
WINDOW = _dt.timedelta(days=7)
#: Complaint rate past which Gmail and Yahoo start refusing a sender (their 2024 rules ask to stay below 0.1%).
MAX_COMPLAINT_RATE = 0.001


@dataclass
class Tally(Counts):
    """What a scan added."""

    reports: int = 0
    """Report messages read from mailboxes."""


def delivery_events(d: Delivery) -> list[Event]:
    """A delivery's events: a send for a final outcome, plus a bounce for a failure."""
    mailbox = d.sender or ""
    out = []
    if d.status in (SENT, BOUNCED):
        out.append(Event(f"log:{d.instance}:{d.queue_id}:{d.recipient}", SEND, mailbox, d.recipient, d.dsn,
                         "", "log"))
    if d.status == BOUNCED:
        # The same key as the report this bounce mails back (it carries the queue id), so it counts once.
        out.append(Event(f"bounce:{d.queue_id}:{d.recipient}", d.kind or SOFT, mailbox, d.recipient, d.dsn,
                         d.reason, "log"))
    elif d.status == DEFERRED:
        out.append(Event(f"defer:{d.instance}:{d.queue_id}:{d.recipient}", SOFT, mailbox, d.recipient, d.dsn,
                         d.reason, "log"))
    return out


def report_events(mailbox: str, report: Report, fallback_id: str) -> list[Event]:
    """A report's events, for the mailbox it arrived in (the sender of what bounced or was reported)."""
    out = []
    for b in report.bounces:
        key = f"bounce:{b.queue_id}:{b.recipient}" if b.queue_id else f"dsn:{report.message_id or fallback_id}:{b.recipient}"
        out.append(Event(key, b.kind, mailbox, b.recipient, b.status, b.diagnostic, "imap"))
    for c in report.complaints:
        out.append(Event(f"complaint:{report.message_id or fallback_id}:{c.address}", COMPLAINT, mailbox, c.address,
                         c.feedback_type, f"complaint ({c.feedback_type})", "imap"))
    return out


def ingest_deliveries(store: HygieneStore, deliveries: Iterable[Delivery], mailboxes: Iterable[str],
                      at: Optional[_dt.datetime] = None) -> Tally:
    """Store the deliveries sent by the stack's ``mailboxes``; hops inside the stack and other senders are not sends."""
    ours = {m.lower() for m in mailboxes}
    tally = Tally()
    for d in deliveries:
        if d.internal or d.sender not in ours:
            continue
        for event in delivery_events(d):
            if store.add(event, at):
                tally.add(event.kind)
    return tally


def ingest_mailbox(store: HygieneStore, account: Account, at: Optional[_dt.datetime] = None) -> Tally:
    """Read the account's new reports over IMAP and store their bounces and complaints."""
    tally = Tally()
    for fetched in new_reports(account, store):
        report = parse_report(fetched.raw)
        if report is not None:
            tally.reports += 1
            fallback = f"{account.address}/{fetched.folder}/{fetched.uidvalidity}/{fetched.uid}"
            for event in report_events(account.address.lower(), report, fallback):
                if store.add(event, at):
                    tally.add(event.kind)
        store.mark_seen(account.address, fetched.folder, fetched.uidvalidity, fetched.uid)
    return tally


def warmup_sends(history: History, since: _dt.datetime) -> dict[str, int]:
    """Sends per mailbox as warmup recorded them: the last ``warmup.sent`` of each mailbox and day, summed."""
    per_day: dict[tuple[str, str], float] = {}
    for o in history.observations(since=since, check_prefix=WARMUP_SENT):
        if o.check != WARMUP_SENT or not o.subject.startswith("mailbox:") or o.value is None:
            continue
        day = str(o.data.get("day") or (o.at.date().isoformat() if o.at else ""))
        per_day[(o.subject.split(":", 1)[1], day)] = o.value
    out: dict[str, int] = defaultdict(int)
    for (mailbox, _), value in per_day.items():
        out[mailbox] += int(value)
    return dict(out)


@dataclass(frozen=True)
class Rate:
    subject: str
    counts: Counts = field(default_factory=Counts)

    @property
    def bounce_rate(self) -> float:
        if not self.counts.hard:
            return 0.0
        return self.counts.hard / max(self.counts.sends, self.counts.hard)

    @property
    def complaint_rate(self) -> float:
        if not self.counts.complaints:
            return 0.0
        return self.counts.complaints / max(self.counts.sends, self.counts.complaints)


def rates(store: HygieneStore, history: History, mailboxes: Iterable[str], now: Optional[_dt.datetime] = None,
          window: _dt.timedelta = WINDOW) -> list[Rate]:
    """One rate per mailbox and one per domain (its mailboxes summed), for every mailbox given."""
    since = (now or utcnow()) - window
    counted = store.counts(since)
    warmup = warmup_sends(history, since)
    per_domain: dict[str, Counts] = defaultdict(Counts)
    out = []
    for mailbox in sorted({m.lower() for m in mailboxes}):
        c = counted.get(mailbox, Counts())
        c = Counts(max(c.sends, warmup.get(mailbox, 0)), c.hard, c.soft, c.complaints)
        out.append(Rate(mailbox_subject(mailbox), c))
        per_domain[mailbox.rpartition("@")[2]].merge(c)
    out += [Rate(domain_subject(domain), c) for domain, c in sorted(per_domain.items())]
    return out


def observations(rates_: Iterable[Rate], window: _dt.timedelta = WINDOW) -> list[Observation]:
    """``hygiene.bounce_rate`` and ``hygiene.complaints`` per subject: ``fail`` past the thresholds."""
    days = window.days
    out = []
    for r in rates_:
        c = r.counts
        data = {"sends": c.sends, "hard_bounces": c.hard, "soft_bounces": c.soft, "complaints": c.complaints,
                "window_days": days}
        over = r.bounce_rate > MAX_BOUNCE_RATE
        out.append(Observation(
            HYGIENE_BOUNCE_RATE, r.subject, FAIL if over else OK,
            f"{c.hard} hard bounce(s) in {c.sends} send(s) over {days} days: {r.bounce_rate:.1%}"
            + (f", above {MAX_BOUNCE_RATE:.0%}" if over else ""), SOURCE, value=round(r.bounce_rate, 4),
            data=dict(data, rate=round(r.bounce_rate, 4), threshold=MAX_BOUNCE_RATE)))
        over = r.complaint_rate > MAX_COMPLAINT_RATE
        out.append(Observation(
            HYGIENE_COMPLAINTS, r.subject, FAIL if over else OK,
            f"{c.complaints} complaint(s) in {c.sends} send(s) over {days} days: {r.complaint_rate:.2%}"
            + (f", above {MAX_COMPLAINT_RATE:.1%}" if over else ""), SOURCE, value=float(c.complaints),
            data=dict(data, rate=round(r.complaint_rate, 5), threshold=MAX_COMPLAINT_RATE)))
    return out


def flagged(observations_: Iterable[Observation]) -> list[Observation]:
    return [o for o in observations_ if o.status == FAIL]

