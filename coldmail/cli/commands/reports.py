"""``reports fetch``, ``reports summary`` and ``dmarc advance``: DMARC and TLS reports, read and acted on.

Reports live in the history file (``.coldmail/history.sqlite``), so ``reports summary`` needs no Pulumi
CLI. ``reports fetch --stack`` reads the report mailboxes' IMAP logins and the sending IPs from the stack
outputs; with ``--imap-host/--imap-user`` it reads one mailbox with the password from
``$COLDMAIL_REPORTS_IMAP_PASSWORD`` or stdin, never from the command line.
"""

from __future__ import annotations

import getpass
import os
from typing import Any, Mapping, Optional

from coldmail import model
from coldmail.errors import UsageError
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops import automation, credentials, edits
from coldmail.ops.automation import DEFAULT_PARALLEL
from coldmail.ops.history import History, default_path, parse_since, utcnow
from coldmail.ops.notify import Notifier
from coldmail.ops.project import stack_file
from coldmail.reports import (THRESHOLDS, DomainSummary, ImapMailbox, Parser, ReportsError, ReportStore, SourceSet,
                              fetch, next_phase, observations, readiness, stack_ips_from_outputs, summarise)
from coldmail.reports.errors import PhaseNotReady
from coldmail.ops.imap import IMAP_PORT, IMAPS_PORT
from coldmail.reports.parse import domain_name

from ..output import Outcome, table
from ..session import Session
from .config_edits import _edit

ENV_PASSWORD = "COLDMAIL_REPORTS_IMAP_PASSWORD"
#: The window ``reports fetch`` records in the history (and alerts on): the same default as ``reports summary``.
FETCH_WINDOW = "7d"


def _store(session: Session) -> ReportStore:
    return ReportStore(History(default_path(session.project_dir, session.env)))


def _load_config(session: Session, stack: str) -> model.StackConfig:
    """The stack config from ``Pulumi.<stack>.yaml``, read without the Pulumi CLI; ConfigError lists every problem."""
    path = stack_file(session.project_dir, stack)
    if not os.path.isfile(path):
        raise UsageError(f"no stack file {path}", f"check --stack and --project-dir, or `coldmail plan --stack {stack}`")
    return model.load(raw_from_stack_file(path))


def _config_or_warn(session: Session, stack: str, out: Outcome) -> Optional[model.StackConfig]:
    """The stack config, or None with a warning on ``out``: a summary is still useful without it."""
    try:
        return _load_config(session, stack)
    except (UsageError, model.ConfigError, OSError, ValueError) as exc:
        out.warnings.append(f"the stack config does not load ({str(exc).splitlines()[0]}): domains are listed as "
                            f"the reports name them, without DMARC phases; `coldmail plan --stack {stack}` shows why")
        return None


def _sources(store: ReportStore, stack: str, cfg: Optional[model.StackConfig]) -> SourceSet:
    return SourceSet(store.stack_ips(stack), cfg.reports.known_sources if cfg else ())


def _password(session: Session, from_stdin: bool) -> str:
    if from_stdin:
        if session.stdin is None:
            raise UsageError("--password-stdin: nothing to read the password from", "pipe it in: ... < file")
        if getattr(session.stdin, "isatty", lambda: False)():
            password = getpass.getpass("IMAP password: ", stream=session.progress)
        else:
            password = session.stdin.readline().rstrip("\r\n")
    else:
        password = session.env.get(ENV_PASSWORD, "")
    if not password:
        raise UsageError("no IMAP password for --imap-user", f"export {ENV_PASSWORD}=… or pipe it with --password-stdin "
                         "(never on the command line: it would show in the process list and the shell history)")
    return password


def report_addresses(cfg: model.StackConfig) -> list[str]:
    """Every address the stack's DMARC and TLS-RPT records send reports to, once each."""
    found = [cfg.dmarc.rua, cfg.dmarc.ruf, cfg.dns.tls_rpt_rua if cfg.dns.tls_rpt else None]
    return list(dict.fromkeys(a.lower() for a in found if a))


def stack_mailboxes(stack: str, cfg: model.StackConfig, outputs: Mapping[str, Any], *, tls: Optional[str],
                    ca_file: Optional[str], folder: str) -> tuple[list[ImapMailbox], list[ReportsError]]:
    """The report mailboxes' IMAP logins from the outputs, and an error for each address with none.

    Logins come from the secret output ``report_mailboxes`` (entries shaped like ``credentials``: ``email``,
    ``password``, ``imap_host``, ``imap_port``, optional ``imap_username``), then from ``credentials`` when a
    report address is one of the sending domains' mailboxes. A host that is one of the stack's servers gets
    that server's ``mailcowTlsVerify``/``mailcowCaBundle``.
    """
    rows = (credentials.rows_from_outputs({"credentials": outputs.get("report_mailboxes")})
            + credentials.rows_from_outputs(outputs))
    by_email: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_email.setdefault(r["email"].lower(), r)
    servers = {s.hostname: s for s in cfg.servers}
    found, missing = [], []
    for address in report_addresses(cfg):
        row = by_email.get(address)
        if row is None:
            missing.append(ReportsError(
                f"the stack outputs hold no IMAP login for the report address {address}",
                f"if it is a mailbox elsewhere, read it directly: coldmail reports fetch --stack {stack} --imap-host "
                f"HOST --imap-user {address} (password in ${ENV_PASSWORD})", kind="report_mailbox_unknown"))
            continue
        srv = servers.get(row["imap_host"])
        port = int(row["imap_port"] or IMAPS_PORT)
        found.append(ImapMailbox(
            host=row["imap_host"], user=row["imap_username"], password=row["imap_password"], port=port,
            tls=tls or ("ssl" if port == IMAPS_PORT else "starttls"),
            ca_file=ca_file or (srv.mailcow_ca_bundle if srv else None),
            verify=srv.mailcow_tls_verify if srv else True, folder=folder, address=address))
    return found, missing


def reports_fetch(session: Session, stack: str, *, imap_host: Optional[str] = None, imap_port: Optional[int] = None,
                  imap_user: Optional[str] = None, imap_tls: Optional[str] = None, imap_ca_file: Optional[str] = None,
                  imap_folder: str = "INBOX", password_stdin: bool = False, rescan: bool = False) -> Outcome:
    """Read the report mailboxes and store every new report; records the per-domain state in the history."""
    out = Outcome("reports fetch", stack=stack)
    store = _store(session)
    stack_ips: Optional[int] = None
    problems: list[ReportsError] = []
    if imap_host or imap_user:
        if not (imap_host and imap_user):
            raise UsageError("--imap-host and --imap-user go together", "give both, or neither to use the stack outputs")
        tls = imap_tls or "ssl"
        mailboxes = [ImapMailbox(imap_host, imap_user, _password(session, password_stdin),
                                 imap_port or (IMAPS_PORT if tls == "ssl" else IMAP_PORT), tls, imap_ca_file,
                                 folder=imap_folder, address=imap_user if "@" in imap_user else None)]
        cfg = _config_or_warn(session, stack, out)
    else:
        cfg = _load_config(session, stack)
        handle = automation.open_stack(session.stack_options(stack), create=False)
        outputs = automation.plain_outputs(automation.stack_outputs(handle))
        ips = stack_ips_from_outputs(outputs)
        if ips:
            store.set_stack_ips(stack, ips)
            stack_ips = len(ips)
        else:
            out.warnings.append("the stack outputs name no sending IP yet (deployed?): the summary cannot tell the "
                                "stack's sources from others")
        mailboxes, problems = stack_mailboxes(stack, cfg, outputs, tls=imap_tls, ca_file=imap_ca_file,
                                              folder=imap_folder)
    results = []
    parser = Parser() if mailboxes else None
    for mb in mailboxes:
        try:
            results.append(fetch(mb, store, parser=parser, rescan=rescan))
        except ReportsError as exc:
            problems.append(exc)
    for exc in problems:
        out.fail(exc)
    changes = _record(session, store, stack, cfg, out) if cfg is not None and results else []
    totals = {k: sum(r.new[k] for r in results) for k in ("aggregate", "failure", "smtp_tls")}
    out.result = {"mailboxes": [r.to_dict() for r in results], "new": totals,
                  "duplicates": sum(r.duplicates for r in results), "skipped": sum(len(r.skipped) for r in results),
                  "stack_ips": stack_ips, "history": store.path,
                  "changes": [{"check": c.observation.check, "subject": c.observation.subject, "previous": c.previous,
                               "status": c.observation.status, "summary": c.observation.summary} for c in changes]}
    lines = [f"{r.address or r.mailbox}: {r.messages} new message(s): " + ", ".join(f"{n} {k}" for k, n in r.new.items())
             + f" report(s) stored, {r.duplicates} duplicate(s), {len(r.skipped)} not a report" for r in results]
    lines += [f"  skipped uid {s['uid']} ({s['subject'] or 'no subject'}): {s['reason']}"
              for r in results for s in r.skipped]
    if stack_ips is not None:
        lines.append(f"sending IPs from the stack outputs: {stack_ips}")
    lines += [f"changed: {c.observation.subject} {c.observation.check} {c.previous or 'new'} → {c.observation.status}"
              f" ({c.observation.summary})" for c in changes]
    lines.append(f"see: coldmail reports summary --stack {stack}")
    out.text = "\n".join(lines)
    return out


def _record(session: Session, store: ReportStore, stack: str, cfg: model.StackConfig, out: Outcome) -> list:
    """Write the per-domain state over :data:`FETCH_WINDOW` to the history; alert on what changed."""
    now = utcnow()
    summaries = summarise(store, _sources(store, stack, cfg), since=parse_since(FETCH_WINDOW, now), now=now, stack=cfg)
    changes = store.history.record(observations(summaries), at=now)
    if changes:
        try:
            Notifier.from_env(session.env).changes(changes, stack=stack, what="report")
        except ValueError as exc:
            out.warnings.append(f"alerts not sent: {exc}")
    return changes


def _pct(rate: Optional[float]) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _summary_text(stack: str, since: str, summaries: list[DomainSummary], stored: Mapping[str, int]) -> str:
    lines = [f"stack {stack}, reports since {since}; stored: {stored['aggregate']} aggregate, {stored['smtp_tls']} TLS, "
             f"{stored['failure']} failure report(s)", ""]
    heard = [s for s in summaries if s.messages or s.tls_successful or s.tls_failed or s.failure_reports]
    rows = []
    for s in heard:
        d = s.to_dict()
        phase = s.dmarc_phase or "-"
        if s.readiness is not None and s.readiness.next_phase:
            phase += f" → {s.readiness.next_phase}: {'ready' if s.readiness.ready else 'not yet'}"
        rows.append([s.domain, s.messages, _pct(d["spf_aligned_rate"]), _pct(d["dkim_aligned_rate"]),
                     _pct(d["dmarc_pass_rate"]), s.reports, len(s.unknown_sources), s.tls_failed, phase])
    lines.append(table(["domain", "messages", "spf", "dkim", "dmarc", "reports", "unknown", "tls fail", "phase"], rows))
    unknown = [(s.domain, u) for s in summaries for u in s.unknown_sources]
    if unknown:
        lines += ["", "Sources outside the stack (a spoofer, or a tool sending around the stack):"]
        lines += [f"  {d}: {u.ip} {u.messages} message(s), {u.dmarc_pass} passed DMARC"
                  + (f" ({', '.join(x for x in (u.name, u.country) if x)})" if u.name or u.country else "")
                  for d, u in unknown]
    tls = [(s.domain, k, n) for s in summaries for k, n in s.tls_failures.items()]
    if tls:
        lines += ["", "TLS failures (sessions):"] + [f"  {d}: {k} {n}" for d, k, n in tls]
    phases = [s.readiness.line() for s in summaries if s.readiness is not None and s.readiness.messages]
    if phases:
        lines += ["", "DMARC phases:"] + [f"  {p}" for p in phases]
    heard_names = {s.domain for s in heard}
    quiet = [s.domain for s in summaries if s.domain not in heard_names]
    if quiet:
        lines += ["", f"No reports since {since} for: {', '.join(quiet)}"]
    return "\n".join(lines)


def reports_summary(session: Session, stack: str, *, since: str = "7d", domain: Optional[str] = None) -> Outcome:
    """Per domain: reported messages, aligned SPF/DKIM/DMARC pass rates, sources, TLS failures, next phase."""
    out = Outcome("reports summary", stack=stack)
    now = utcnow()
    try:
        since_t = parse_since(since, now)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}", "e.g. --since 7d, --since 12h, --since 2026-11-01") from None
    cfg = _config_or_warn(session, stack, out)
    store = _store(session)
    sources = _sources(store, stack, cfg)
    if not sources.stack_ips:
        out.warnings.append(f"no sending IPs recorded for stack {stack}: every source counts as outside the stack. "
                            f"Run `coldmail reports fetch --stack {stack}` once where the pulumi CLI works (it reads "
                            "them from the outputs), or list them in coldmail:reports.knownSources")
    summaries = summarise(store, sources, since=since_t, now=now, stack=cfg, domain=domain)
    stored = store.counts()
    out.result = {"since": since_t.isoformat(), "until": now.isoformat(), "history": store.path,
                  "stack_ips": [{"address": a, "label": label} for a, label in sources.stack_ips.items()],
                  "known_sources": list(sources.known), "thresholds": dict(THRESHOLDS), "stored": stored,
                  "domains": [s.to_dict() for s in summaries]}
    out.text = _summary_text(stack, since_t.isoformat(), summaries, stored)
    return out


def dmarc_advance(session: Session, stack: str, domain: str, *, yes: bool = False, force: bool = False,
                  parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Move a domain's DMARC policy one phase on (none → quarantine → reject) when the reports show it is safe.

    Refused, with the numbers, when the evidence is not there (``force`` writes it anyway and says so).
    """
    cfg = _load_config(session, stack)
    name = domain_name(domain)
    d = next((x for x in cfg.domains if x.name == name), None)
    if d is None:
        raise UsageError(f"no domain {domain!r} in stack {stack}",
                         "use one of: " + ", ".join(x.name for x in cfg.domains))
    nxt = next_phase(d.dmarc_phase)
    if nxt is None:
        raise PhaseNotReady(f"{d.name} is at p=reject already: there is no further phase", "nothing to do")
    store = _store(session)
    evidence = readiness(store, d.name, d.dmarc_phase, _sources(store, stack, cfg), utcnow())
    if not evidence.ready and not force:
        out = Outcome("dmarc advance", stack=stack)
        out.result = {"edit": "dmarc advance", "target": [d.name], "operations": [], "preview": None, "applied": False,
                      "written": False, "apply_command": None, "evidence": evidence.to_dict(), "forced": False}
        out.fail(PhaseNotReady(evidence.line(), f"wait for the evidence (see `coldmail reports summary --stack {stack} "
                                                 f"--domain {d.name}`), or re-run with --force if you accept the risk"))
        out.text = evidence.line() + "\nnothing written"
        return out
    out = _edit(session, stack, "dmarc advance", lambda raw: edits.dmarc_phase(raw, d.name, nxt), yes=yes,
                parallel=parallel)
    out.result = dict(out.result or {}, evidence=evidence.to_dict(), forced=not evidence.ready)
    if not evidence.ready:
        out.warnings.append(f"forced past the evidence: {evidence.line()}")
    out.text = f"{d.name}: p={d.dmarc_phase} → p={nxt}\n{evidence.line()}\n{out.text}"
    return out
