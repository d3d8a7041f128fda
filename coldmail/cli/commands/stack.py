"""Commands over the whole stack: plan, preview, up, destroy, refresh and status."""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence

from coldmail import model
from coldmail.errors import EXIT_BAD_INPUT, EXIT_CHANGES, EXIT_FAILED, EXIT_OK
from coldmail.model.secrets import redact
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops import automation, credentials
from coldmail.ops import plan as plan_ops
from coldmail.ops.project import stack_file

from .. import plan_text
from ..output import ErrorEntry, Outcome, Progress, table
from .backup import final_backups, kept_text
from ..session import Session

DEFAULT_PARALLEL = automation.DEFAULT_PARALLEL


def changes_line(changes: Mapping[str, int]) -> str:
    parts = [f"{op} {n}" for op, n in sorted(changes.items()) if n]
    return ", ".join(parts) if parts else "no resources"


def report_text(report: automation.OperationReport, title: str) -> str:
    lines = [f"{title}: {changes_line(report.changes)}" +
             (f" in {report.duration_seconds:.1f}s" if report.duration_seconds else "")]
    if report.failed_resources:
        lines.append("failed: " + ", ".join(report.failed_resources))
    if report.next_steps:
        lines.append("")
        lines.append("Next steps:")
        lines += [f"  [ ] {s}" for s in report.next_steps]
    return "\n".join(lines)


def _stack_config(session: Session, stack: str) -> Optional[model.StackConfig]:
    try:
        return model.load(raw_from_stack_file(stack_file(session.project_dir, stack)))
    except Exception:  # noqa: BLE001 - next steps are advice; a broken file must not fail an applied up
        return None


def next_steps(session: Session, stack: str, outputs: Mapping[str, Any]) -> list[str]:
    """The checklist after a successful ``up``."""
    cfg = _stack_config(session, stack)
    steps = ["DNS: records are at Cloudflare now; resolvers pick them up within their TTL "
             f"({cfg.dns.ttl if cfg else 300} s). Check: dig +short MX <domain>, dig +short TXT _dmarc.<domain>"]
    steps.append("Port 25: Hetzner blocks outbound SMTP on new projects. Send the unblock request "
                 "(Hetzner Console > Support > 'Sending mails', after the first paid invoice); nothing leaves before.")
    ptr_checks = []
    servers = outputs.get("servers")
    for s in servers.values() if isinstance(servers, Mapping) else ():
        if not isinstance(s, Mapping):
            continue
        for f in s.get("floating_ips") or []:
            if isinstance(f, Mapping) and f.get("ip"):
                ptr_checks.append(f"dig +short -x {f['ip']} (expect {f.get('ptr')})")
    steps.append("PTR: every sending IP must resolve back to its name: " + ("; ".join(ptr_checks) if ptr_checks
                 else "dig +short -x <ip> for each floating IP"))
    if cfg and cfg.warmup.start_date:
        steps.append(f"Warmup: starts {cfg.warmup.start_date.isoformat()} at {cfg.warmup.start_per_ip_per_day} "
                     f"mails per IP per day, x{cfg.warmup.growth_factor:g} every {cfg.warmup.period_days} days.")
    else:
        start = cfg.warmup.start_per_ip_per_day if cfg else 20
        steps.append(f"Warmup: start after the 24-48 h new-domain window, at {start} mails per IP per day "
                     "(set coldmail:warmup.startDate to pin the date).")
    steps.append(f"Credentials: in the stack outputs (encrypted in the state). Export them outside the repository: "
                 f"coldmail credentials export --stack {stack} --format csv --out ~/coldmail-{stack}-mailboxes.csv")
    return steps


def _total(report: Optional[automation.OperationReport]) -> Optional[int]:
    return sum(report.changes.values()) if report else None


def plan(session: Session, stack: str, *, config_file: Optional[str] = None, domains: Sequence[str] = (),
         details: bool = False) -> Outcome:
    """What the stack would build, with no credentials and no Pulumi CLI.

    The text shows a summary and the servers, plus the records of ``domains`` (of every domain with
    ``details``); the result document is always complete.
    """
    out = Outcome("plan", stack=stack)
    try:
        report = plan_ops.build(session.project_dir, stack, config_file, domains)
    except model.ConfigError as exc:
        path = os.path.abspath(config_file) if config_file else stack_file(session.project_dir, stack)
        out.fail(exc)
        out.text, out.errors_in_text = plan_text.render_errors(out.errors, path), True
        return out
    out.result, out.warnings = report.result, list(report.warnings)
    out.text = plan_text.render(report.result, report.focus, details)
    if report.error is not None:
        out.fail(report.error)
        out.text += "\n\n" + plan_text.render_errors(out.errors, report.path)
    out.errors_in_text = True
    return out


def stack_init(session: Session, stack: str) -> Outcome:
    """Create the stack in the backend (the one way, besides ``--create``, that a stack comes to exist)."""
    out = Outcome("stack init", stack=stack)
    opts = session.stack_options(stack)
    created = automation.init_stack(opts)
    path = stack_file(session.project_dir, stack)
    has_file = os.path.isfile(path)
    out.result = {"stack": stack, "created": created, "backend": automation.backend_url(opts),
                  "secrets_provider": opts.secrets_provider, "stack_file": path, "stack_file_exists": has_file}
    lines = [f"stack {stack}: {'created' if created else 'exists already'} in {out.result['backend']}"]
    if not has_file:
        lines.append(f"Next: write {os.path.basename(path)} (Pulumi.prod.yaml is an example), then "
                     f"`coldmail plan --stack {stack}`")
    else:
        lines.append(f"Next: `coldmail plan --stack {stack}`, then set the secrets it lists")
    out.text = "\n".join(lines)
    return out


def preview(session: Session, stack: str, *, parallel: int = DEFAULT_PARALLEL, expect_no_changes: bool = False,
            diff: bool = False, create: bool = False) -> Outcome:
    """Preview the changes to the real stack; exit 3 with ``expect_no_changes`` when there are any.

    A stack the backend does not have is an error, unless ``create``.
    """
    out = Outcome("preview", stack=stack)
    handle = automation.open_stack(session.stack_options(stack), create=create)
    try:
        report = automation.preview(handle, parallel=parallel, expect_no_changes=expect_no_changes, diff=diff,
                                    on_event=Progress(session.progress, operation="preview"))
    except automation.ChangesFound as found:
        out.exit_code, out.result = EXIT_CHANGES, found.report.to_dict()
        out.errors.append(ErrorEntry("changes_found",
                                     f"the preview found changes: {changes_line(found.report.changes)}",
                                     fix=f"review them, then `coldmail up --stack {stack} --yes`"))
        out.text = report_text(found.report, "preview")
        return out
    out.result = report.to_dict()
    out.text = report_text(report, "preview")
    return out


def _apply(session: Session, stack: str, handle: Any, out: Outcome, *, yes: bool, parallel: int, command: str,
           preview_report: Optional[automation.OperationReport] = None) -> Optional[automation.OperationReport]:
    """Run ``up`` when ``yes`` or the user agrees; otherwise mark the outcome refused (exit 2)."""
    if not yes:
        if preview_report is not None and not preview_report.has_changes:
            return None
        answer = session.confirm(f"Apply these changes to stack {stack}?")
        if not answer:
            out.exit_code = EXIT_BAD_INPUT if answer is None else EXIT_OK
            if answer is None:
                out.errors.append(ErrorEntry("confirmation_required", "not applied: nobody to confirm",
                                             fix=f"re-run with --yes: coldmail {command} --stack {stack} --yes"
                                             if command == "up" else
                                             f"apply with: coldmail up --stack {stack} --yes"))
            else:
                out.warnings.append("not applied")
            return None
    report = automation.up(handle, parallel=parallel,
                           on_event=Progress(session.progress, total=_total(preview_report), operation="up"))
    report.next_steps = next_steps(session, stack, report.outputs)
    return report


def up(session: Session, stack: str, *, yes: bool = False, parallel: int = DEFAULT_PARALLEL,
       create: bool = False) -> Outcome:
    """Create or update everything; without ``yes`` it previews and asks first.

    A stack the backend does not have is an error, unless ``create``.
    """
    out = Outcome("up", stack=stack)
    handle = automation.open_stack(session.stack_options(stack), create=create)
    pre = None
    if not yes:
        pre = automation.preview(handle, parallel=parallel, on_event=Progress(session.progress, operation="preview"))
        session.progress.write(report_text(pre, "preview") + "\n")
        if not pre.has_changes:
            out.result = dict(pre.to_dict(), operation="up")
            out.text = "up: nothing to change"
            return out
    report = _apply(session, stack, handle, out, yes=yes, parallel=parallel, command="up", preview_report=pre)
    if report is None:
        out.result = dict(pre.to_dict(), operation="up") if pre else None
        return out
    out.result = report.to_dict()
    out.text = report_text(report, "up")
    if report.failed_resources:
        out.exit_code = EXIT_FAILED
    return out


def destroy(session: Session, stack: str, *, yes: bool = False, parallel: int = DEFAULT_PARALLEL,
            keep_data: bool = False, backup_dir: Optional[str] = None) -> Outcome:
    """Delete every resource of the stack; without ``yes`` it asks first. ``keep_data`` first takes a final
    backup of every server and keeps it off-site or in ``backup_dir``; if that fails, nothing is destroyed."""
    out = Outcome("destroy", stack=stack)
    handle = automation.open_stack(session.stack_options(stack))
    if not yes:
        answer = session.confirm(f"Delete EVERY resource of stack {stack} (servers, IPs, DNS records, mailboxes)?")
        if not answer:
            out.exit_code = EXIT_BAD_INPUT if answer is None else EXIT_OK
            if answer is None:
                out.errors.append(ErrorEntry("confirmation_required", "not destroyed: nobody to confirm",
                                             fix=f"re-run with --yes: coldmail destroy --stack {stack} --yes"))
            return out
    kept = final_backups(session, stack, backup_dir) if keep_data else None
    report = automation.destroy(handle, parallel=parallel, on_event=Progress(session.progress, operation="destroy"))
    out.result, out.text = dict(report.to_dict(), kept_data=kept), report_text(report, "destroy")
    if kept is not None:
        out.text += "\n" + kept_text(kept)
    return out


def refresh(session: Session, stack: str, *, parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Read the real state of every resource into the stack."""
    out = Outcome("refresh", stack=stack)
    handle = automation.open_stack(session.stack_options(stack))
    report = automation.refresh(handle, parallel=parallel, on_event=Progress(session.progress, operation="refresh"))
    out.result, out.text = report.to_dict(), report_text(report, "refresh")
    return out


def status(session: Session, stack: str) -> Outcome:
    """The stack outputs (secrets masked) and the latest check results."""
    out = Outcome("status", stack=stack)
    handle = automation.open_stack(session.stack_options(stack))
    outs = automation.stack_outputs(handle)
    plain = automation.plain_outputs(outs)
    secret = set(automation.secret_output_keys(outs))
    shown = {k: ("[secret]" if k in secret else redact(v)) for k, v in plain.items()}
    checks = None
    latest = os.path.join(session.project_dir, ".coldmail", "checks", "latest.json")
    if os.path.isfile(latest):
        try:
            with open(latest, encoding="utf-8") as fh:
                checks = json.load(fh)
        except (OSError, ValueError) as exc:
            out.warnings.append(f"cannot read {latest}: {exc}")
    n_mailboxes = len(credentials.rows_from_outputs(plain))
    servers = redact(plain.get("servers"))
    out.result = {"outputs": shown, "servers": servers if isinstance(servers, dict) else None,
                  "mailboxes": n_mailboxes, "checks": checks if isinstance(checks, dict) else None}
    lines = [f"stack {stack}: {n_mailboxes} mailboxes"]
    rows = []
    for name, s in servers.items() if isinstance(servers, Mapping) else ():
        if isinstance(s, Mapping):
            rows.append([name, s.get("ipv4_address"), s.get("ipv6_address"), s.get("mailcow_url"),
                         ", ".join(f"{f.get('ip')} ({f.get('ptr')})" for f in s.get("floating_ips") or []
                                   if isinstance(f, Mapping))])
    if rows:
        lines.append(table(["server", "ipv4", "ipv6", "mailcow", "floating IPs (ptr)"], rows))
    other = [[k, json.dumps(v)[:80]] for k, v in shown.items() if k != "servers"]
    if other:
        lines += ["", table(["output", "value"], other)]
    lines.append("")
    lines.append(f"checks: {latest}" if checks is not None else "checks: none run yet")
    if isinstance(checks, dict):
        lines.append(json.dumps(checks, indent=2)[:2000])
    out.text = "\n".join(lines)
    return out
