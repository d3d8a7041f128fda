"""``warmup schedule|status|run|placement``: the ramp, where it stands, one worker run, inbox placement.

``schedule`` and ``status`` need only the stack file (and the history, when there is one). ``run`` and
``placement`` log into mailboxes, so they need passwords: by default the config is read decrypted and
the credentials from the stack outputs (Pulumi CLI and passphrase); on the server, or without Pulumi,
``--config`` (a stack file or a JSON of ``coldmail:*`` keys), ``--outputs`` (``pulumi stack output --json
--show-secrets``) and ``--accounts`` (``coldmail credentials export``) give them as files.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator, Optional

from coldmail import model
from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.model.stackfile import namespaced, raw_from_stack_file
from coldmail.ops import automation, credentials
from coldmail.ops.history import History, default_path, utcnow
from coldmail.ops.notify import Notifier
from coldmail.ops.project import stack_file
from coldmail.warmup import placement as placement_ops
from coldmail.warmup import status as status_ops
from coldmail.warmup.inputs import InputError, ip_addresses, read_accounts_file, worker_for
from coldmail.warmup.ramps import current_ramps
from coldmail.warmup.schedule import ramp_between
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.worker import Worker

from ..output import Outcome, table
from ..session import Session


def _read_json(path: str, what: str, fix: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}", fix, exit_code=EXIT_BAD_INPUT) from None


def _raw_config(session: Session, stack: str, config_file: Optional[str]) -> dict[str, Any]:
    """The ``coldmail:*`` keys of ``config_file`` (a stack YAML file, or JSON of ``coldmail:*`` keys), or of
    the stack file."""
    path = config_file or stack_file(session.project_dir, stack)
    if path.endswith(".json"):
        return namespaced(_read_json(path, "the config", "write it as {\"coldmail:servers\": [...], ...}"))
    try:
        return raw_from_stack_file(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the stack config {path}: {exc}", f"check {path}",
                         exit_code=EXIT_BAD_INPUT) from None


def _history_path(session: Session, history: Optional[str]) -> str:
    return history or default_path(session.project_dir, session.env)


@contextlib.contextmanager
def _store(session: Session, history: Optional[str], out: Outcome, create: bool) -> Iterator[WarmupStore]:
    """The warmup store in the history; a read that finds no history reads an empty one (and says so)."""
    path = _history_path(session, history)
    if create or os.path.exists(path):
        store = WarmupStore(History(path))
        try:
            yield store
        finally:
            store.close()
        return
    out.warnings.append(f"no history at {path}: the worker has not run here (it runs on the server; pass "
                        "--history with a copy of its history file)")
    with tempfile.TemporaryDirectory() as d:
        store = WarmupStore(History(os.path.join(d, "history.sqlite")))
        try:
            yield store
        finally:
            store.close()


def warmup_schedule(session: Session, stack: str, *, weeks: int = 8, config_file: Optional[str] = None,
                    history: Optional[str] = None) -> Outcome:
    """Each sending IP's caps (per IP and per mailbox) day by day, from its ramp's start, for ``weeks`` weeks."""
    out = Outcome("warmup schedule", stack=stack)
    if weeks < 1:
        raise ColdmailError(f"--weeks must be at least 1, got {weeks}", "use e.g. --weeks 8", kind="usage",
                            exit_code=EXIT_BAD_INPUT)
    settings = model.load(_raw_config(session, stack, config_file))
    plan = settings.warmup
    with _store(session, history, out, create=False) as store:
        ramps = current_ramps(settings, store, store.history, utcnow())
        ips = []
        for r in ramps:
            held = store.held_days(r.ip.label) | ({r.today.date} if r.hold.held else set())
            days = ramp_between(settings, r.ip, r.start, r.start, weeks * 7, held)
            ips.append({"ip": r.ip.label, "server": r.ip.server, "index": r.ip.index, "ptr": r.ip.ptr_name,
                        "start": r.start.isoformat(), "held_days": sorted(d.isoformat() for d in held),
                        "hold_reasons": list(r.hold.reasons), "mailboxes": list(r.mailboxes),
                        "days": [d.to_dict() for d in days]})
    out.result = {"weeks": weeks, "start_date": plan.start_date.isoformat() if plan.start_date else None,
                  "plan": {"start_per_ip_per_day": plan.start_per_ip_per_day, "growth_factor": plan.growth_factor,
                           "period_days": plan.period_days, "max_per_ip_per_day": plan.max_per_ip_per_day,
                           "max_per_mailbox_per_day": plan.max_per_mailbox_per_day},
                  "ips": ips}
    lines = [f"warmup plan: {plan.start_per_ip_per_day} a day per IP, x{plan.growth_factor:g} every "
             f"{plan.period_days} days, at most {plan.max_per_ip_per_day} per IP and "
             f"{plan.max_per_mailbox_per_day} per mailbox"
             + ("" if plan.start_date else "; no startDate: each IP starts the day the worker first sees it")]
    for ip in ips:
        lines += ["", f"{ip['ip']} ({ip['ptr']}), {len(ip['mailboxes'])} mailbox(es), from {ip['start']}"
                  + (f"; held: {', '.join(ip['held_days'])}" if ip["held_days"] else "")]
        weekly = [d for i, d in enumerate(ip["days"]) if i % 7 == 0]
        lines.append(table(["week", "from", "per IP", "per mailbox"],
                           [[i + 1, d["date"], d["ip_cap"], d["mailbox_cap"]] for i, d in enumerate(weekly)], "  "))
    out.text = "\n".join(lines)
    return out


def warmup_status(session: Session, stack: str, *, config_file: Optional[str] = None,
                  history: Optional[str] = None, outputs_file: Optional[str] = None) -> Outcome:
    """Today's caps, sent, received, replied and placement per IP, mailbox and seed."""
    out = Outcome("warmup status", stack=stack)
    settings = model.load(_raw_config(session, stack, config_file))
    outputs = _read_json(outputs_file, "the outputs", "write them with pulumi stack output --json") \
        if outputs_file else {}
    with _store(session, history, out, create=False) as store:
        doc = status_ops.warmup_status(settings, store, utcnow(), ip_addresses(settings, outputs))
    out.result = doc
    out.text = _status_text(doc)
    return out


def _placement(p: dict) -> str:
    total = p["inbox"] + p["spam"] + p["promotions"]
    return f"{p['inbox']}/{p['spam']}/{p['promotions']}" if total else "-"


def _status_text(doc: dict) -> str:
    lines = ["IPs (placement: inbox/spam/promotions of the mail they sent, last "
             f"{doc['placement_days']} days)",
             table(["ip", "day", "ramp day", "cap", "sent", "received", "replied", "placement", "hold"],
                   [[i["ip"], i["date"], i["ramp_day"] if i["ramp_day"] is not None else "not started", i["ip_cap"],
                     i["sent"], i["received"], i["replied"], _placement(i["placement"]),
                     "; ".join(i["hold_reasons"]) or ("held today" if i["held"] else "-")] for i in doc["ips"]], "  "),
             "", "mailboxes",
             table(["mailbox", "ip", "cap", "sent", "received", "replied", "placement"],
                   [[m["address"], m["ip"], m["cap"], m["sent"], m["received"], m["replied"],
                     _placement(m["placement"])] for m in doc["mailboxes"]], "  ")]
    if doc["seeds"]:
        lines += ["", "seeds", table(["seed", "provider", "cap", "received", "replied"],
                                     [[s["address"], s["provider"], s["cap"], s["received"], s["replied"]]
                                      for s in doc["seeds"]], "  ")]
    return "\n".join(lines)


def _worker(session: Session, stack_name: str, out: Outcome, store: WarmupStore, *, config_file: Optional[str],
            accounts_file: Optional[str], outputs_file: Optional[str]) -> Worker:
    """A worker with every login, IP address and Mailcow client the inputs give (see the module doc)."""
    handle: Any = None

    def stack() -> Any:
        nonlocal handle
        if handle is None:
            handle = automation.open_stack(session.stack_options(stack_name), create=False)
        return handle

    raw = _raw_config(session, stack_name, config_file) if config_file else \
        namespaced(automation.read_config(stack()))
    if outputs_file:
        outputs = _read_json(outputs_file, "the outputs", "write them with: pulumi stack output --json --show-secrets")
    elif accounts_file and config_file:
        outputs = {}   # fully offline: the IPs' addresses are unknown, their own listings are not read
    else:
        outputs = automation.plain_outputs(automation.stack_outputs(stack()))
    settings = model.load(raw)
    rows = read_accounts_file(accounts_file) if accounts_file else credentials.rows_from_outputs(outputs)
    worker, warnings = worker_for(settings, store, rows, outputs, raw.get("servers"), session.env, stack=stack_name,
                                  notifier=Notifier.from_env(session.env))
    out.warnings += warnings
    return worker


def warmup_run(session: Session, stack: str, *, config_file: Optional[str] = None, accounts_file: Optional[str] = None,
               outputs_file: Optional[str] = None, history: Optional[str] = None) -> Outcome:
    """One worker run: enforce today's caps, answer and rescue warmup mail, send what is due."""
    out = Outcome("warmup run", stack=stack)
    with _store(session, history, out, create=True) as store:
        worker = _worker(session, stack, out, store, config_file=config_file, accounts_file=accounts_file,
                         outputs_file=outputs_file)
        report = worker.tick()
    out.result = report.to_dict()
    out.warnings += report.errors
    out.text = "\n".join([f"warmup run at {report.at}: sent {report.sent} (refused {report.refused}, uncertain "
                          f"{report.uncertain}), received {report.received}, rescued from spam {report.rescued}, "
                          f"replied {report.replied}"] +
                         [f"  rate limits on {r['server']}: {len(r['changed'])} of {r['checked']} changed"
                          for r in report.rate_limits])
    return out


def warmup_placement(session: Session, stack: str, *, sample: Optional[int] = None, wait: float = 300,
                     config_file: Optional[str] = None, accounts_file: Optional[str] = None,
                     outputs_file: Optional[str] = None, history: Optional[str] = None) -> Outcome:
    """Send a probe from each IP and domain (or the first ``sample`` domains per IP) to every seed, wait up to
    ``wait`` seconds for them, and report where they landed."""
    out = Outcome("warmup placement", stack=stack)
    if sample is not None and sample < 1:
        raise ColdmailError(f"--sample must be at least 1, got {sample}", "use e.g. --sample 2", kind="usage",
                            exit_code=EXIT_BAD_INPUT)
    with _store(session, history, out, create=True) as store:
        worker = _worker(session, stack, out, store, config_file=config_file, accounts_file=accounts_file,
                         outputs_file=outputs_file)
        if not worker.settings.warmup_exchange.seeds:
            raise ColdmailError("no seed mailboxes configured: placement is read at the seeds",
                                "add seeds under coldmail:warmup.seeds (README: Warmup)", kind="config",
                                exit_code=EXIT_BAD_INPUT, path="coldmail:warmup.seeds")
        now = worker.clock()
        batch = placement_ops.send_probes(worker, now, sample)
        missing = placement_ops.wait_for_probes(worker, batch.id, wait) if batch.sent else 0
        summary = placement_ops.summarize(worker, batch.id, worker.ramps(now))
        placement_ops.record(worker, summary, worker.clock())
    out.warnings += batch.errors
    out.result = {**summary, "sent": batch.sent, "missing": missing, "skipped": batch.skipped,
                  "errors": batch.errors}
    out.text = "\n".join([f"placement {batch.id}: {batch.sent} probe(s) sent, {missing} not seen after {wait:g} s",
                          table(["ip", "address", "inbox share", "status", "per provider (inbox/spam/promotions/"
                                 "missing)"],
                                [[r["ip"], r["address"] or "-", f"{r['inbox_share']:.0%}", r["status"],
                                  ", ".join(f"{p} {c['inbox']}/{c['spam']}/{c['promotions']}/{c['missing']}"
                                            for p, c in sorted(r["providers"].items()))] for r in summary["ips"]],
                                "  ")] +
                         [f"skipped {s['domain']} → {s['seed'] or 'all seeds'}: {s['reason']}"
                          for s in batch.skipped])
    return out
