"""Inbox placement: a test message from every sending IP and domain (or a sample) to every seed.

Each probe is an ordinary-looking message with the warmup header; the seeds are read over IMAP and
each probe is classified by where it was first seen: ``inbox``, ``spam`` (the folder IMAP marks
``\\Junk``, or the seed's ``spamFolder``) or ``promotions`` (Gmail's tab through Gmail's search
extension, or the seed's ``promotionsFolder``); a probe not seen is ``missing``. Results go to the
history as ``warmup.placement`` per IP and per domain: the inbox share as the value, the counts per
provider in the data. Probes count against the senders' daily caps like every other warmup message
(before a ramp starts, against its first day's caps), but not against a seed's ``maxPerDay``: a
placement run is asked for, and ``--sample`` bounds it.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from coldmail.ops import signals
from coldmail.ops.history import FAIL, OK, WARN, Observation

from . import content
from .ramps import IpRamp
from .schedule import domains_on
from .store import INBOX, PLACEMENTS, PROBE, PROMOTIONS, REFUSED, SENT, UNCERTAIN, Send
from .transport import MAILBOX, SEED, SmtpSession, TransportError
from .worker import SOURCE, TickReport, Worker, new_token

MISSING = "missing"
#: Inbox (including Gmail's Promotions tab) share at or above which placement is ok, and below which it fails.
GOOD_SHARE, BAD_SHARE = 0.9, 0.5


@dataclass
class Batch:
    """One placement run: its id, and the probes that could not be sent and why."""

    id: str
    sent: int = 0
    skipped: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def send_probes(worker: Worker, now: _dt.datetime, sample: Optional[int] = None) -> Batch:
    """Send one probe per seed from one mailbox of each domain (the first ``sample`` domains of each IP)."""
    batch = Batch(f"placement-{now.strftime('%Y%m%dT%H%M%SZ')}-{new_token()[:6]}")
    seeds = [a for a in worker.accounts.values() if a.kind == SEED]
    ramps = {r.ip.label: r for r in worker.ramps(now)}
    report = TickReport(now.isoformat())
    for r in ramps.values():
        for domain in domains_on(worker.settings, r.ip)[:sample]:
            sender = next((worker.accounts[m.address] for m in domain.mailboxes if m.address in worker.accounts
                           and worker.accounts[m.address].kind == MAILBOX), None)
            if sender is None:
                batch.skipped.append({"domain": domain.name, "ip": r.ip.label, "seed": None,
                                      "reason": "no login for any of its mailboxes"})
                continue
            caps = worker.sender_caps(sender, ramps, now, plan_caps=True) or []
            try:
                with SmtpSession(sender, worker.timeout) as smtp:
                    for seed in seeds:
                        token = new_token()
                        msg = content.probe(worker.rng, worker.exchange.header, token, sender.address, sender.name,
                                            seed.address)
                        send = Send(token, PROBE, worker.day_of(sender.address, now), sender.address, sender.ip,
                                    seed.address, worker.day_of(seed.address, now), msg["Message-ID"], msg["Subject"],
                                    batch=batch.id)
                        # Not under the seed's maxPerDay: a placement run is asked for, and --sample bounds it.
                        blocked, outcome = worker.reserve_and_send(smtp, msg, send, caps, report)
                        if blocked is not None or outcome not in (SENT, UNCERTAIN):
                            batch.skipped.append({"domain": domain.name, "ip": r.ip.label, "seed": seed.address,
                                                  "reason": f"{blocked.what} cap of {blocked.limit} reached today"
                                                  if blocked else f"refused by the server ({outcome})"})
                            continue
                        batch.sent += 1
                        if outcome == UNCERTAIN:
                            batch.errors.append(f"{sender.address}: connection lost while sending; its other "
                                                "probes were not sent")
                            break
            except TransportError as exc:
                batch.errors.append(exc.message)
    return batch


def read_probes(worker: Worker, batch: str, now: _dt.datetime) -> TickReport:
    """Look for the batch's probes at the seeds (and keep them, like any warmup mail)."""
    report = TickReport(now.isoformat())
    worker.receive(now, {r.ip.label: r for r in worker.ramps(now)}, report, batch=batch)
    return report


def wait_for_probes(worker: Worker, batch: str, wait: float, poll: float = 5.0,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> int:
    """Read the seeds until every probe is seen or ``wait`` seconds passed; returns how many are still missing."""
    deadline = clock() + wait
    while True:
        read_probes(worker, batch, worker.clock())
        missing = [p for p in worker.store.placements(batch) if p["status"] != REFUSED and p["placement"] is None]
        if not missing or clock() >= deadline:
            return len(missing)
        sleep(poll)


def _status(share: float, total: int) -> str:
    if not total:
        return OK
    return OK if share >= GOOD_SHARE else WARN if share >= BAD_SHARE else FAIL


def summarize(worker: Worker, batch: str, ramps: list[IpRamp]) -> dict:
    """Per IP and per domain: probes per provider and where they landed; the inbox share (Promotions counts
    as inbox: it is not spam)."""
    providers = {a.address: a.provider for a in worker.accounts.values() if a.kind == SEED}
    domain_of = {m.address: d.name for d in worker.settings.domains for m in d.mailboxes}
    by_ip: dict[str, dict[str, dict[str, int]]] = {}
    by_domain: dict[str, dict[str, dict[str, int]]] = {}
    probes = []
    for p in worker.store.placements(batch):
        if p["status"] == REFUSED:
            continue
        where = p["placement"] or MISSING
        provider = providers.get(p["recipient"], "other")
        for table, key in ((by_ip, p["sender_ip"]), (by_domain, domain_of.get(p["sender"], ""))):
            counts = table.setdefault(key, {}).setdefault(provider, dict.fromkeys((*PLACEMENTS, MISSING), 0))
            counts[where] += 1
        probes.append({"sender": p["sender"], "ip": p["sender_ip"], "seed": p["recipient"], "provider": provider,
                       "placement": where, "folder": p["folder"]})

    def rows(table: dict, key_name: str, extra: Callable[[str], dict]) -> list[dict]:
        out = []
        for key, per_provider in sorted(table.items()):
            total = sum(sum(c.values()) for c in per_provider.values())
            good = sum(c[INBOX] + c[PROMOTIONS] for c in per_provider.values())
            share = good / total if total else 0.0
            out.append({key_name: key, **extra(key), "probes": total, "inbox_share": round(share, 4),
                        "status": _status(share, total), "providers": per_provider})
        return out

    addresses = {r.ip.label: r.address for r in ramps}
    return {"batch": batch, "probes": probes,
            "ips": rows(by_ip, "ip", lambda k: {"address": addresses.get(k)}),
            "domains": rows(by_domain, "domain", lambda k: {})}


def record(worker: Worker, summary: dict, now: _dt.datetime) -> list:
    """``warmup.placement`` per IP (``ip:<address>``, or its label while unknown) and per domain."""
    observations = []
    for row in summary["ips"]:
        subject = signals.ip_subject(row["address"] or row["ip"])
        observations.append(_observation(subject, row, summary["batch"]))
    for row in summary["domains"]:
        observations.append(_observation(signals.domain_subject(row["domain"]), row, summary["batch"]))
    return worker.store.history.record(observations, at=now)


def _observation(subject: str, row: dict, batch: str) -> Observation:
    parts = ", ".join(f"{p}: {c[INBOX]} inbox, {c['promotions']} promotions, {c['spam']} spam, {c[MISSING]} missing"
                      for p, c in sorted(row["providers"].items()))
    return Observation(signals.WARMUP_PLACEMENT, subject, row["status"],
                       f"{row['inbox_share']:.0%} in the inbox ({parts})", SOURCE, row["inbox_share"],
                       {"provider": "all", "providers": row["providers"], "probes": row["probes"], "batch": batch})
