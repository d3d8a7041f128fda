"""``suppression scan | list | add | export``: the addresses no stack mailbox may mail again."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from coldmail import hygiene, model
from coldmail.errors import ColdmailError, UsageError
from coldmail.model.names import email_problem, normalise_domain
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops import credentials, remote, services
from coldmail.ops.notify import record_and_notify
from coldmail.ops.project import stack_file

from ..output import Outcome, table
from ..session import Session
from . import day2


def _stack(session: Session, stack: str) -> model.StackConfig:
    return model.load(raw_from_stack_file(stack_file(session.project_dir, stack)))


def _domain(cfg: model.StackConfig, domain: Optional[str]) -> Optional[str]:
    if domain is None:
        return None
    try:
        name = normalise_domain(domain)
    except ValueError as exc:
        raise UsageError(f"--domain {domain!r} is not a domain: {exc}", "give a domain of the stack") from None
    if name not in {d.name for d in cfg.domains}:
        raise UsageError(f"{domain!r} is not a domain of the stack",
                         f"use one of: {', '.join(d.name for d in cfg.domains[:8])}…" if len(cfg.domains) > 8
                         else f"use one of: {', '.join(d.name for d in cfg.domains)}")
    return name


def _entries_text(rows: Sequence[hygiene.Suppression]) -> str:
    if not rows:
        return "no suppressed address"
    return table(["email", "type", "sending domain", "last seen", "count", "reason"],
                 [[r.address, r.kind, r.domain, r.last_seen[:10], r.count, r.reason[:60]] for r in rows])


def suppression_list(session: Session, stack: str, *, domain: Optional[str] = None) -> Outcome:
    """The suppression list: of one sending domain (with the entries for every domain), or all of it."""
    out = Outcome("suppression list", stack=stack)
    name = _domain(_stack(session, stack), domain)
    rows = hygiene.HygieneStore(day2.history(session)).suppressions(name)
    out.result = {"domain": name, "count": len(rows), "entries": [r.to_dict() for r in rows]}
    out.text = _entries_text(rows)
    return out


def suppression_add(session: Session, stack: str, addresses: Sequence[str], *, domain: Optional[str] = None,
                    reason: str = "added by hand") -> Outcome:
    """Suppress addresses by hand, for one sending domain or (without ``domain``) for every domain."""
    out = Outcome("suppression add", stack=stack)
    bad = [a for a in addresses if email_problem(a)]
    if bad:
        raise UsageError(f"not an email address: {', '.join(bad)}", "give addresses like jane@example.com")
    name = _domain(_stack(session, stack), domain) or hygiene.EVERY_DOMAIN
    store = hygiene.HygieneStore(day2.history(session))
    added = [a.lower() for a in addresses if store.suppress(name, a, reason)]
    already = [a.lower() for a in addresses if a.lower() not in added]
    out.result = {"domain": name, "added": added, "already": already}
    out.text = (f"suppressed for {'every domain' if name == hygiene.EVERY_DOMAIN else name}: {len(added)} added"
                + (f", {len(already)} already there" if already else ""))
    return out


def suppression_export(session: Session, stack: str, *, out_file: str, fmt: str = "csv",
                       domain: Optional[str] = None, force: bool = False) -> Outcome:
    """Write the list as CSV for a sequencer's blocklist import (``email`` first), to a new 0600 file."""
    out = Outcome("suppression export", stack=stack)
    if fmt != "csv":
        raise UsageError(f"--format {fmt} is not supported", "use --format csv")
    name = _domain(_stack(session, stack), domain)
    rows = hygiene.HygieneStore(day2.history(session)).suppressions(name)
    path = os.path.abspath(out_file)
    text = hygiene.to_csv(rows)
    credentials.write_private(path, text, force=force)
    count = len(text.splitlines()) - 1
    out.result = {"file": path, "format": fmt, "mode": "0600", "domain": name, "count": count,
                  "columns": list(hygiene.CSV_COLUMNS)}
    out.text = f"wrote {count} address(es) to {path} (mode 0600); import it as a blocklist, column `email`"
    return out


def suppression_scan(session: Session, stack: str, *, server: Optional[str] = None, since: str = "24h",
                     logs: bool = True, imap: bool = True) -> Outcome:
    """Read Postfix's logs (Mailcow's and the relays') and the reports in every mailbox; update the suppression
    list and the bounce and complaint rates (history ``hygiene.*``, alerts on change)."""
    out = Outcome("suppression scan", stack=stack)
    services.docker_since(since)
    cfg = _stack(session, stack)
    mailboxes = [m.address for d in cfg.domains for m in d.mailboxes]
    outputs, private_key = remote.read_stack(session.stack_options(stack))
    history = day2.history(session)
    store = hygiene.HygieneStore(history)
    tally = hygiene.Tally()
    scanned = {"servers": [], "log_lines": 0, "deliveries": 0, "mailboxes": 0}
    if logs:
        for target in remote.targets_from(outputs, session.env, private_key, [server] if server else None):
            session.progress.write(f"reading the mail logs of {target.server} since {since}…\n")
            try:
                lines = [f"{line.time or ''} {line.message}" for line in
                         services.logs(target, "postfix", since=since, tail=None)]
                lines += services.relay_logs(target, since)
            except ColdmailError as exc:
                out.fail(exc)
                continue
            deliveries = hygiene.parse_maillog(lines)
            scanned["servers"].append(target.server)
            scanned["log_lines"] += len(lines)
            scanned["deliveries"] += len(deliveries)
            tally.merge(hygiene.ingest_deliveries(store, deliveries, mailboxes))
    if imap:
        accounts = hygiene.accounts_from_rows(cfg, credentials.rows_from_outputs(outputs), server)
        session.progress.write(f"reading reports in {len(accounts)} mailbox(es)…\n")
        for account in accounts:
            try:
                tally.merge(hygiene.ingest_mailbox(store, account))
            except ColdmailError as exc:
                out.warnings.append(f"{account.address}: {exc.message}")
                continue
            scanned["mailboxes"] += 1
    observations = hygiene.observations(hygiene.rates(store, history, mailboxes))
    changes, delivery = record_and_notify(history, observations, day2.notifier(session), stack=stack, what="hygiene")
    flagged = hygiene.flagged(observations)
    out.result = {"since": since, "window_days": hygiene.WINDOW.days, "scanned": scanned, "new": tally.to_dict(),
                  "suppressed": len(store.suppressions()),
                  "flagged": [{"check": o.check, "subject": o.subject, "value": o.value, "summary": o.summary}
                              for o in flagged],
                  "alerts": day2.alerts(changes, delivery)}
    lines = [f"scanned {scanned['log_lines']} log line(s) on {', '.join(scanned['servers']) or 'no server'} and "
             f"{scanned['mailboxes']} mailbox(es): {tally.hard} new hard bounce(s), {tally.soft} soft, "
             f"{tally.complaints} complaint(s), {tally.sends} send(s)",
             f"suppression list: {out.result['suppressed']} address(es)"]
    lines += [f"FLAGGED {o.subject}: {o.summary}" for o in flagged]
    out.text = "\n".join(lines)
    return out
