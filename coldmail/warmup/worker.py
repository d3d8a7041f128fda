"""The warmup worker: one :meth:`Worker.tick` enforces today's caps, answers warmup mail and sends more.

A tick, run every few minutes (on the server by the agent, or by ``coldmail warmup run``):

1. **Ramp.** Today's cap of every sending IP and mailbox (:mod:`.ramps`); a day with bad health is
   stored as held.
2. **Enforce.** Each mailbox's Mailcow rate limit is set to its cap when it differs (:mod:`.ratelimits`).
3. **Receive.** Every mailbox and seed expecting warmup mail is searched over IMAP for the warmup
   header; where each message landed is recorded; it is marked read and important and moved out of
   spam; a share of the exchanges (``replyShare``: ``floor(share × received today)`` replies) is answered.
4. **Send.** Each stack mailbox sends what is due by now: its cap, less the share kept for answers
   (``floor(replyShare × cap)``), spread over the sending hours (``sendFromHour``..``sendUntilHour`` in its
   server's timezone), in random order with pauses between messages. Four sends in five go to partners
   off the server (seeds, mailboxes on other servers): mail between two domains on one Mailcow is
   delivered locally and never meets an outside filter.
5. **Record.** ``warmup.sent`` and ``warmup.hold`` per IP in the history when they change; a hold that
   starts or ends is notified.

Every message is reserved in the store under the sender's, its IP's and (for seeds) the recipient's
daily caps before it goes out (:mod:`.store`), so no cap is exceeded across restarts and crashes.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import secrets
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Callable, Mapping, Optional, Sequence

from coldmail.model.types import StackConfig
from coldmail.ops import signals
from coldmail.ops.history import OK, WARN, Observation, utcnow
from coldmail.ops.notify import Notifier
from dynamic_providers.client import MailcowClient

from . import content
from .ramps import IpRamp, current_ramps, local_day, zone
from .ratelimits import apply_rate_limits
from .store import (EXCHANGE, REFUSED, REPLY, SENT, UNCERTAIN, Cap, Pending, Send, WarmupStore)
from .transport import MAILBOX, SEED, Account, Found, ImapSession, Refused, SmtpSession, TransportError, Uncertain

SOURCE = "warmup"
#: How far back the receive step looks for mail it has not seen arrive yet.
LOOKBACK_DAYS = 3
#: A reservation older than this belongs to a worker that died mid-send.
STALE_RESERVATION = _dt.timedelta(minutes=15)
#: Of every five sends, how many go to partners off the sender's server when there are any.
AWAY_SHARE = (4, 5)


@dataclass
class TickReport:
    """What one tick did; ``errors`` name mailboxes or servers that could not be used (never a password)."""

    at: str
    ips: list[dict] = field(default_factory=list)
    rate_limits: list[dict] = field(default_factory=list)
    sent: int = 0
    refused: int = 0
    uncertain: int = 0
    received: int = 0
    rescued: int = 0
    replied: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"at": self.at, "ips": self.ips, "rate_limits": self.rate_limits, "sent": self.sent,
                "refused": self.refused, "uncertain": self.uncertain, "received": self.received,
                "rescued": self.rescued, "replied": self.replied, "errors": list(self.errors)}


def due(cap: int, local: _dt.datetime, from_hour: int, until_hour: int) -> int:
    """How much of a day's ``cap`` should be sent by local time ``local``: spread evenly over the hours."""
    hour = local.hour + local.minute / 60 + local.second / 3600
    share = min(max((hour - from_hour) / (until_hour - from_hour), 0.0), 1.0)
    return min(cap, math.ceil(cap * share))


def new_token() -> str:
    return secrets.token_hex(12)


class Worker:
    """Warmup for one stack.

    :param accounts: every mailbox the worker may log into: the stack's (with their passwords) and the seeds.
    :param store: the warmup tables (and, through it, the history).
    :param addresses: sending IP label (``mx1/ip1``) → its address, to read listings of the IP itself.
    :param mailcow: server name → a Mailcow client, to enforce the caps; servers missing here are skipped.
    :param notifier: alerts when a ramp starts or stops holding.
    :param rng: message and timing choices (seed it in tests).
    :param sleep: the pause between messages (its length comes from ``warmup.pauseSeconds``).
    :param clock: now, as an aware UTC time.
    """

    def __init__(self, settings: StackConfig, accounts: Sequence[Account], store: WarmupStore, *, stack: str = "",
                 addresses: Optional[Mapping[str, str]] = None, mailcow: Optional[Mapping[str, MailcowClient]] = None,
                 notifier: Optional[Notifier] = None, rng: Optional[random.Random] = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], _dt.datetime] = utcnow,
                 timeout: float = 30) -> None:
        self.settings, self.store, self.stack = settings, store, stack
        self.exchange = settings.warmup_exchange
        self.accounts = {a.address.lower(): a for a in accounts}
        self.addresses = dict(addresses or {})
        self.mailcow = dict(mailcow or {})
        self.notifier, self.rng, self.sleep, self.clock = notifier, rng or random.Random(), sleep, clock
        self.timeout = timeout
        self._busy: dict[str, int] = {}

    # ------------------------------------------------------------------ helpers
    def ramps(self, now: _dt.datetime, record: bool = False) -> list[IpRamp]:
        return current_ramps(self.settings, self.store, self.store.history, now, self.addresses, record)

    def day_of(self, address: str, now: _dt.datetime) -> _dt.date:
        """The calendar day an address counts in: its server's for stack mailboxes, UTC for anyone else."""
        a = self.accounts.get(address.lower())
        if a is not None and a.kind == MAILBOX and a.server:
            return local_day(now, zone(self.settings.server(a.server).timezone))
        return now.astimezone(_dt.timezone.utc).date()

    def sender_caps(self, account: Account, ramps: Mapping[str, IpRamp], now: _dt.datetime,
                    plan_caps: bool = False) -> Optional[list[Cap]]:
        """The caps a send from ``account`` must stay under; None when it may not send at all.

        ``plan_caps`` uses the plan's caps even before the ramp starts (placement probes).
        """
        day = self.day_of(account.address, now)
        if account.kind == SEED:
            return [Cap("sender", account.address, day, account.max_per_day)]
        r = ramps.get(account.ip or "")
        if r is None:
            return None
        mb, ip = ((r.today.mailbox_cap, r.today.ip_cap) if plan_caps else
                  (r.today.worker_mailbox_cap, r.today.worker_ip_cap))
        return [Cap("sender", account.address, day, mb), Cap("ip", r.ip.label, day, ip)]

    def recipient_caps(self, address: str, now: _dt.datetime) -> list[Cap]:
        a = self.accounts.get(address.lower())
        if a is not None and a.kind == SEED:
            return [Cap("recipient", a.address, self.day_of(a.address, now), a.max_per_day)]
        return []

    def reserve_and_send(self, smtp: SmtpSession, msg: EmailMessage, send: Send, caps: list[Cap],
                         report: TickReport) -> tuple[Optional[Cap], Optional[str]]:
        """Reserve ``send`` under ``caps``, then submit it: (the cap that refused it, or the outcome)."""
        blocked = self.store.reserve(send, caps)
        if blocked is not None:
            return blocked, None
        self._busy[send.recipient] = self._busy.get(send.recipient, 0) + 1
        try:
            smtp.send(msg)
        except Refused as exc:
            self.store.finish(send.token, REFUSED, str(exc))
            report.refused += 1
            return None, "temporary" if exc.temporary else REFUSED
        except Uncertain as exc:
            self.store.finish(send.token, UNCERTAIN, str(exc))
            report.uncertain += 1
            return None, UNCERTAIN
        self.store.finish(send.token, SENT)
        report.sent += 1
        return None, SENT

    def _pause(self) -> None:
        longest = self.exchange.pause_seconds
        self.sleep(self.rng.uniform(longest / 4, longest))

    # ------------------------------------------------------------------ the tick
    def tick(self) -> TickReport:
        now = self.clock()
        report = TickReport(now.isoformat())
        self._busy = {}
        self.store.settle_stale(now - STALE_RESERVATION)
        ramps = {r.ip.label: r for r in self.ramps(now, record=True)}
        report.ips = [r.to_dict() for r in ramps.values()]
        self.enforce(ramps.values(), report)
        self.receive(now, ramps, report)
        self.send(now, ramps, report)
        self.observe(now, list(ramps.values()))
        return report

    def enforce(self, ramps, report: TickReport) -> None:
        """Set every mailbox's Mailcow limit to its cap of today (at least 1: 0 would mean "no limit")."""
        wanted: dict[str, dict[str, int]] = {}
        for r in ramps:
            for address in r.mailboxes:
                wanted.setdefault(r.ip.server, {})[address] = max(1, r.today.mailbox_cap)
        for server, caps in sorted(wanted.items()):
            client = self.mailcow.get(server)
            if client is None:
                continue
            result = apply_rate_limits(server, client, caps)
            report.rate_limits.append(result.to_dict())
            if result.error:
                report.errors.append(f"rate limits on {server}: {result.error}")

    def receive(self, now: _dt.datetime, ramps: Mapping[str, IpRamp], report: TickReport,
                batch: Optional[str] = None) -> None:
        """Find pending warmup mail at its recipients, record where it landed, keep it, answer a share."""
        since = now.astimezone(_dt.timezone.utc).date() - _dt.timedelta(days=LOOKBACK_DAYS)
        by_recipient: dict[str, dict[str, Pending]] = {}
        for p in self.store.pending(since, batch):
            by_recipient.setdefault(p.recipient.lower(), {})[p.token] = p
        for address, tokens in sorted(by_recipient.items()):
            account = self.accounts.get(address)
            if account is None:
                continue
            day = self.day_of(address, now)
            answers: list[tuple[Pending, Found]] = []
            try:
                with ImapSession(account, self.timeout) as box:
                    for found in box.find(self.exchange.header, since):
                        p = tokens.get(found.token)
                        if p is None or not self.store.record_receipt(p.token, address, day, found.folder,
                                                                      found.placement):
                            continue
                        report.received += 1
                        if box.keep(found):
                            self.store.mark_receipt(p.token, address, rescued=True)
                            report.rescued += 1
                        if p.kind == EXCHANGE:
                            got, answered = self.store.exchanges_received(address, day)
                            if answered + len(answers) < math.floor(self.exchange.reply_share * got):
                                answers.append((p, found))
            except TransportError as exc:
                report.errors.append(exc.message)
                continue
            if answers:
                self._answer(account, answers, now, ramps, report)

    def _answer(self, account: Account, answers: list[tuple[Pending, Found]], now: _dt.datetime,
                ramps: Mapping[str, IpRamp], report: TickReport) -> None:
        caps = self.sender_caps(account, ramps, now)
        if not caps:
            return
        try:
            with SmtpSession(account, self.timeout) as smtp:
                for i, (p, found) in enumerate(answers):
                    if i:
                        self._pause()
                    partner = self.accounts.get(p.sender.lower())
                    token = new_token()
                    msg = content.reply(self.rng, self.exchange.header, token, account.address, account.name,
                                        p.sender, partner.name if partner else "", found.subject or p.subject,
                                        found.message_id or p.message_id, found.references or None)
                    send = Send(token, REPLY, self.day_of(account.address, now), account.address, account.ip,
                                p.sender, self.day_of(p.sender, now), msg["Message-ID"], msg["Subject"], p.token)
                    blocked, outcome = self.reserve_and_send(smtp, msg, send, caps + self.recipient_caps(p.sender,
                                                                                                           now), report)
                    if blocked is not None and blocked.what != "recipient":
                        break
                    if outcome in (SENT, UNCERTAIN):
                        self.store.mark_receipt(p.token, account.address, replied=True)
                        report.replied += 1
                    if outcome == UNCERTAIN:
                        break   # the connection is gone
        except TransportError as exc:
            report.errors.append(exc.message)

    def _partners(self, sender: Account) -> tuple[list[Account], list[Account]]:
        """(partners off the sender's server: seeds and other servers' mailboxes, partners on it)."""
        away, local = [], []
        for a in self.accounts.values():
            if a.address == sender.address:
                continue
            if a.kind == SEED or a.server != sender.server:
                away.append(a)
            else:
                local.append(a)
        return away, local

    def _choose(self, sender: Account, index: int, away: list[Account], local: list[Account],
                now: _dt.datetime) -> Optional[Account]:
        """Send ``index`` of the day goes off the server four times in five; the least busy partner wins."""
        tier = local if (index % AWAY_SHARE[1] >= AWAY_SHARE[0] and local) or not away else away
        if not tier:
            return None
        for a in tier:
            if a.address not in self._busy:
                self._busy[a.address] = self.store.count("recipient", a.address, self.day_of(a.address, now))
        return min(tier, key=lambda a: (self._busy[a.address], self.rng.random()))

    def send(self, now: _dt.datetime, ramps: Mapping[str, IpRamp], report: TickReport) -> None:
        """Send each stack mailbox's exchanges due by now, inside its caps."""
        senders = [a for a in self.accounts.values() if a.kind == MAILBOX and a.ip in ramps]
        self.rng.shuffle(senders)
        for account in senders:
            r = ramps[account.ip]
            day = self.day_of(account.address, now)
            local = now.astimezone(zone(self.settings.server(account.server).timezone))
            already = self.store.count("sender", account.address, day)
            cap = r.today.worker_mailbox_cap
            todo = due(cap - math.floor(cap * self.exchange.reply_share), local, self.exchange.send_from_hour,
                       self.exchange.send_until_hour) - already
            if todo <= 0:
                continue
            caps = self.sender_caps(account, ramps, now) or []
            away, near = self._partners(account)
            try:
                with SmtpSession(account, self.timeout) as smtp:
                    sent = 0
                    while sent < todo:
                        partner = self._choose(account, already + sent, away, near, now)
                        if partner is None:
                            break
                        if sent:
                            self._pause()
                        token = new_token()
                        msg = content.exchange(self.rng, self.exchange.header, token, account.address, account.name,
                                               partner.address, partner.name)
                        send = Send(token, EXCHANGE, day, account.address, account.ip, partner.address,
                                    self.day_of(partner.address, now), msg["Message-ID"], msg["Subject"])
                        blocked, outcome = self.reserve_and_send(
                            smtp, msg, send, caps + self.recipient_caps(partner.address, now), report)
                        if blocked is not None:
                            if blocked.what != "recipient":
                                break
                            (away if partner in away else near).remove(partner)
                            continue
                        sent += 1
                        if outcome in ("temporary", UNCERTAIN):
                            # Mailcow's rate limit, a busy server or a lost connection: go on next run.
                            break
            except TransportError as exc:
                report.errors.append(exc.message)

    # ------------------------------------------------------------------ history
    def observe(self, now: _dt.datetime, ramps: Sequence[IpRamp]) -> None:
        """Record each IP's sends and hold when they changed; notify holds that start or end."""
        observations = []
        for r in ramps:
            sent = self.store.count("ip", r.ip.label, r.today.date)
            data = {"ip": r.ip.label, "day": r.today.date.isoformat(), "cap": r.today.worker_ip_cap,
                    "ramp_day": r.today.ramp, "step": r.today.step, "held": r.today.held}
            observations.append(Observation(signals.WARMUP_SENT, r.subject, OK,
                                            f"{sent} of {r.today.worker_ip_cap} sent on {r.today.date}", SOURCE,
                                            float(sent), data))
            summary = "; ".join(r.hold.reasons) if r.hold.held else "ramp growing"
            observations.append(Observation(signals.WARMUP_HOLD, r.subject, WARN if r.hold.held else OK, summary,
                                            SOURCE, None, {"ip": r.ip.label, "reasons": list(r.hold.reasons)}))
        history = self.store.history
        current = {s.observation.key: s.observation for s in history.current(check_prefix=signals.WARMUP + ".")}
        changed = [o for o in observations if o.key not in current or
                   (current[o.key].status, current[o.key].value, current[o.key].summary) !=
                   (o.status, o.value, o.summary)]
        changes = history.record(changed, at=now) if changed else []
        holds = [c for c in changes if c.observation.check == signals.WARMUP_HOLD]
        if holds and self.notifier is not None:
            self.notifier.changes(holds, stack=self.stack, what="warmup hold")
