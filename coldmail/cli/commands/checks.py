"""Health commands: ``check``, ``check history`` and ``status-page``, thin layers over ``coldmail.checks``.

They read the stack config and outputs through the Pulumi CLI when it can open the stack (secrets
decrypted); without it they read ``Pulumi.<stack>.yaml`` directly and check what the config says should
be live, every address-dependent check then reporting ``unknown``. ``--outputs FILE`` (the JSON of
``pulumi stack output --json``) supplies the addresses without the CLI.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from coldmail import model
from coldmail.checks import CheckContext, RunReport, resolve_kinds, run
from coldmail.checks import status_page as pages
from coldmail.checks.summary import summarise
from coldmail.errors import EXIT_FAILED, ColdmailError, UsageError
from coldmail.model.monitoring import parse_nameserver
from coldmail.model.stackfile import namespaced, raw_from_stack_file
from coldmail.ops import automation
from coldmail.ops.history import FAIL, SEVERITY, STATUSES, History, default_path, parse_since
from coldmail.ops.notify import Notifier
from coldmail.ops.project import stack_file

from ..output import LOG, ErrorEntry, Outcome, table
from ..session import Session

LATEST = os.path.join(".coldmail", "checks", "latest.json")


@dataclass
class Loaded:
    stack: model.StackConfig
    outputs: dict[str, Any]
    sources: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def load_stack(session: Session, stack: str, outputs_file: Optional[str] = None) -> Loaded:
    """The validated stack and its outputs: from the Pulumi CLI when possible, else from the stack file."""
    outputs: dict[str, Any] = {}
    sources = {"config": "pulumi", "outputs": "pulumi"}
    warnings: list[str] = []
    if outputs_file:
        try:
            with open(outputs_file, encoding="utf-8") as fh:
                outputs = json.load(fh)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read outputs from {outputs_file}: {exc}",
                             "write them with: pulumi stack output --json > outputs.json") from None
        sources["outputs"] = outputs_file
    try:
        handle = automation.open_stack(session.stack_options(stack), create=False)
        raw = namespaced(automation.read_config(handle))
        if not outputs_file:
            outputs = automation.plain_outputs(automation.stack_outputs(handle))
    except ColdmailError as exc:
        LOG.debug("stack not opened through the Pulumi CLI: %s", exc.message)
        path = stack_file(session.project_dir, stack)
        try:
            raw = raw_from_stack_file(path)
        except OSError as err:
            raise UsageError(f"no stack {stack!r}: {err}", f"create {os.path.basename(path)} or pass --stack") from None
        sources["config"] = path
        if not outputs_file:
            sources["outputs"] = "none"
            warnings.append(f"stack outputs not read ({exc.message.splitlines()[0]}); checking what the config says, "
                            "so every check that needs an IP address is unknown (pass --outputs FILE to supply them)")
    if sources["outputs"] != "none" and not outputs.get("servers"):
        warnings.append("the stack outputs name no server (is the stack deployed?); every check that needs an IP "
                        "address is unknown")
    return Loaded(model.load(raw), outputs, sources, warnings)


def _nameservers(nameserver: Optional[str]) -> list[tuple[str, int]]:
    if not nameserver:
        return []
    try:
        return [parse_nameserver(nameserver)]
    except ValueError as exc:
        raise UsageError(str(exc), "--nameserver 127.0.0.1:5353") from None


def _notifier(session: Session, stack: model.StackConfig) -> Notifier:
    try:
        return Notifier.from_env(session.env, extra=stack.checks.notify_urls)
    except ValueError as exc:
        raise UsageError(str(exc), "fix coldmail:checks.notifyUrls or $COLDMAIL_NOTIFY_URLS") from None


def _history(session: Session) -> History:
    return History(default_path(session.project_dir, session.env))


def check(session: Session, stack: str, kinds: Sequence[str] = ("all",), *, nameserver: Optional[str] = None,
          outputs_file: Optional[str] = None) -> Outcome:
    """Run the checks, record them in the history, alert on change; exit 1 when any check fails."""
    out = Outcome("check", stack=stack)
    nameservers = _nameservers(nameserver)
    loaded = load_stack(session, stack, outputs_file)
    out.warnings += loaded.warnings
    ctx = CheckContext.create(stack, loaded.stack, loaded.outputs, nameservers=nameservers, env=session.env)
    chosen = resolve_kinds(kinds, ctx)
    history = _history(session)
    report = run(ctx, chosen, history=history, notifier=_notifier(session, loaded.stack))
    latest = os.path.join(session.project_dir, LATEST)
    os.makedirs(os.path.dirname(latest), exist_ok=True)
    result = dict(report.to_dict(), sources=loaded.sources, history=history.path, latest=latest)
    with open(latest, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    out.result = result
    out.text = check_text(report, history.path)
    failing = report.counts()[FAIL]
    if failing:
        out.exit_code = EXIT_FAILED
        fix = ("run the proposed `coldmail domain move` edits" if report.proposals
               else "fix what the failing checks name, then run `coldmail check` again")
        out.errors.append(ErrorEntry("checks_failed", f"{failing} check(s) failing", fix=fix))
    return out


def check_text(report: RunReport, history_path: str) -> str:
    counts = report.counts()
    order = [s for s in ("fail", "warn", "unknown", "info", "ok") if counts.get(s)]
    lines = [f"checks of {report.stack} ({', '.join(report.kinds)}): "
             + ", ".join(f"{counts[s]} {s}" for s in order)]
    shown = sorted((o for o in report.observations if SEVERITY[o.status] > 0 or (o.status == "info" and
                                                                                o.data.get("listed"))),
                   key=lambda o: (-SEVERITY[o.status], o.subject, o.check))
    if shown:
        lines += ["", table(["status", "subject", "check", "finding"],
                            [[o.status.upper(), o.subject, o.check, o.summary] for o in shown])]
    if report.proposals:
        lines += ["", "Proposed (nothing moves until you run it):"]
        for p in report.proposals:
            lines += [f"  {line}" for line in p.lines()]
    if report.changes:
        sent = ("alert sent" if report.delivery and report.delivery.ok else
                "alert NOT sent" if report.delivery and report.delivery.targets else "no notification target configured")
        lines += ["", f"{len(report.changes)} change(s) since the last run ({sent}):"]
        lines += [f"  {c.observation.subject}: {c.observation.check} {c.previous or 'new'} → {c.observation.status}"
                  for c in report.changes]
    lines += ["", f"history: {history_path}"]
    return "\n".join(lines)


def check_history(session: Session, stack: str, *, since: str = "7d") -> Outcome:
    """What the checks saw over a window: runs, changes, current problems."""
    out = Outcome("check history", stack=stack)
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise UsageError(str(exc), "--since 7d") from None
    history = _history(session)
    summary = summarise(history, start)
    out.result = dict(summary, history=history.path)
    lines = [f"checks of {stack} since {start:%Y-%m-%d %H:%M} UTC: {summary['runs']} run(s), "
             f"{summary['observations']} observation(s), {len(summary['changes'])} change(s)"]
    fam = summary["families"]
    if fam:
        lines += ["", table(["family", *STATUSES], [[f, *(c[s] for s in STATUSES)] for f, c in fam.items()])]
    if summary["changes"]:
        lines += ["", table(["at", "subject", "check", "change"],
                            [[c["at"][:16].replace("T", " "), c["subject"], c["check"], f"{c['from']} → {c['to']}"]
                             for c in summary["changes"]])]
    if summary["problems"]:
        lines += ["", "Now:", table(["status", "subject", "check", "since", "finding"],
                                    [[p["status"].upper(), p["subject"], p["check"], p["since"][:16].replace("T", " "),
                                      p["summary"]] for p in summary["problems"]])]
    out.text = "\n".join(lines)
    return out


def status_page(session: Session, stack: str, *, out_dir: str, outputs_file: Optional[str] = None) -> Outcome:
    """Write the static status page (``index.html``) of the history into ``out_dir``."""
    out = Outcome("status-page", stack=stack)
    loaded = load_stack(session, stack, outputs_file)
    out.warnings += loaded.warnings
    ctx = CheckContext.create(stack, loaded.stack, loaded.outputs, env=session.env)
    history = _history(session)
    page = pages.render(stack, ctx.targets, history)
    path = pages.write(os.path.abspath(out_dir), page)
    states = history.current()
    out.result = {"file": path, "bytes": len(page.encode()), "states": len(states),
                  "subjects": len({s.observation.subject for s in states}), "history": history.path}
    out.text = f"status page: {path} ({len(states)} check states)\nopen it: xdg-open {path}"
    return out
