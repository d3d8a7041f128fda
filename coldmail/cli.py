"""The ``coldmail`` command: plan, preview, up, destroy, refresh, config edits, credentials and status.

Every command prints one result on stdout (a JSON document with ``--json``, see docs/cli.md), progress
and logs on stderr and in ``.coldmail/logs/coldmail.log``, and exits 0 done, 1 failed, 2 bad input,
3 preview found changes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, TextIO

from coldmail import automation, credentials, edits, output
from coldmail import config as cm
from coldmail import plan as plan_mod
from coldmail.output import (EXIT_BAD_INPUT, EXIT_CHANGES, EXIT_FAILED, EXIT_OK, LOG, CliError, Outcome, Progress,
                             table)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print and exit; main decides the format
        raise UsageError(f"{self.prog}: {message}")


@dataclass
class Context:
    project_dir: str
    env: Mapping[str, str]
    stdout: TextIO
    stderr: TextIO
    stdin: TextIO
    as_json: bool
    pulumi_command: Any = None
    log_file: Optional[str] = None

    def stack_options(self, args: argparse.Namespace) -> automation.StackOptions:
        return automation.StackOptions(project_dir=self.project_dir, stack=args.stack, backend=args.backend,
                                       secrets_provider=args.secrets_provider, pulumi_command=self.pulumi_command,
                                       env=self.env)

    def confirm(self, question: str) -> Optional[bool]:
        """Ask on a terminal; None when nobody can answer (``--json``, pipes, CI)."""
        if self.as_json or not getattr(self.stdin, "isatty", lambda: False)():
            return None
        self.stderr.write(f"{question} [y/N] ")
        self.stderr.flush()
        return self.stdin.readline().strip().lower() in ("y", "yes")


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--stack", "-s", default=None, help="stack name, e.g. prod (default: $COLDMAIL_STACK)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout (docs/cli.md)")
    common.add_argument("--project-dir", default=None,
                        help="the Pulumi project (default: the directory holding Pulumi.yaml, from cwd upward)")
    common.add_argument("--backend", default=None,
                        help="state backend URL (default: $PULUMI_BACKEND_URL or file://<project>/.coldmail/state)")
    common.add_argument("--secrets-provider", default="passphrase",
                        help="secrets provider for new stacks (default: passphrase from $PULUMI_CONFIG_PASSPHRASE)")
    common.add_argument("--verbose", "-v", action="store_true", help="debug logs on stderr")
    ops = _Parser(add_help=False)
    ops.add_argument("--parallel", type=int, default=automation.DEFAULT_PARALLEL,
                     help=f"resource operations at once (default {automation.DEFAULT_PARALLEL}: Cloudflare rate limit)")
    apply_ = _Parser(add_help=False)
    apply_.add_argument("--yes", "-y", action="store_true", help="apply without asking (needed when not on a terminal)")

    p = _Parser(prog="coldmail", description="Self-hosted cold-email infrastructure over Pulumi: plan, deploy, "
                "edit domains and mailboxes, export credentials. Reference: docs/cli.md")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def leaf(subparsers, name: str, command: str, handler: Callable, help_: str, parents=()) -> argparse.ArgumentParser:
        sp = subparsers.add_parser(name, help=help_, description=help_, parents=[common, *parents])
        sp.set_defaults(command=command, handler=handler)
        return sp

    sp = leaf(sub, "plan", "plan", cmd_plan, "show what the stack would build, with no credentials and no pulumi CLI")
    sp.add_argument("--config", default=None, help="read this stack file instead of Pulumi.<stack>.yaml")
    sp = leaf(sub, "preview", "preview", cmd_preview, "preview the changes to the real stack", [ops])
    sp.add_argument("--expect-no-changes", action="store_true", help="exit 3 when anything would change")
    sp.add_argument("--diff", action="store_true", help="show property-level diffs")
    leaf(sub, "up", "up", cmd_up, "create or update everything (asks first unless --yes)", [ops, apply_])
    leaf(sub, "destroy", "destroy", cmd_destroy, "delete every resource of the stack (asks first unless --yes)",
         [ops, apply_])
    leaf(sub, "refresh", "refresh", cmd_refresh, "read the real state of every resource into the stack", [ops])
    leaf(sub, "status", "status", cmd_status, "stack outputs and the latest check results")

    dom = sub.add_parser("domain", help="add or remove a sending domain").add_subparsers(
        dest="sub", metavar="ACTION", parser_class=_Parser)
    dom.required = True
    sp = leaf(dom, "add", "domain add", cmd_domain_add, "add a domain (config edit, then preview; --yes applies)",
              [ops, apply_])
    sp.add_argument("name")
    sp.add_argument("--server", default=None, help="server name (default: the one with the fewest domains)")
    sp.add_argument("--ip", type=int, default=None, help="sending IP index: 0 primary, 1..N floating "
                    "(default: the least-loaded floating IP, written explicitly)")
    sp.add_argument("--mailboxes", type=int, default=None, help="mailbox count (default 3)")
    sp = leaf(dom, "remove", "domain remove", cmd_domain_remove, "remove a domain and its mailboxes", [ops, apply_])
    sp.add_argument("name")

    mb = sub.add_parser("mailbox", help="add or remove mailboxes").add_subparsers(
        dest="sub", metavar="ACTION", parser_class=_Parser)
    mb.required = True
    sp = leaf(mb, "add", "mailbox add", cmd_mailbox_add, "add mailboxes to their domains' explicit lists",
              [ops, apply_])
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS")
    sp.add_argument("--name", default=None, help='display name, "First Last"')
    sp = leaf(mb, "remove", "mailbox remove", cmd_mailbox_remove, "remove mailboxes", [ops, apply_])
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS")

    srv = sub.add_parser("server", help="add or remove a mail server").add_subparsers(
        dest="sub", metavar="ACTION", parser_class=_Parser)
    srv.required = True
    sp = leaf(srv, "add", "server add", cmd_server_add, "add a mail server (its Mailcow API key is generated, "
              "stored encrypted)", [ops, apply_])
    sp.add_argument("name")
    sp.add_argument("--hostname", required=True, help="Mailcow host name, e.g. mx2.example.com")
    sp.add_argument("--floating-ips", type=int, required=True, help="number of floating sending IPs")
    sp.add_argument("--ssh-public-key", required=True, help="one line of ~/.ssh/id_ed25519.pub")
    sp.add_argument("--admin-cidr", action="append", required=True, dest="admin_cidrs",
                    help="network allowed to SSH in (repeatable)")
    sp.add_argument("--location", default=None, help="Hetzner location, e.g. fsn1")
    sp.add_argument("--server-type", default=None, help="Hetzner server type, e.g. cx42")
    sp = leaf(srv, "remove", "server remove", cmd_server_remove, "remove a server no domain uses", [ops, apply_])
    sp.add_argument("name")

    cred = sub.add_parser("credentials", help="mailbox credentials").add_subparsers(
        dest="sub", metavar="ACTION", parser_class=_Parser)
    cred.required = True
    sp = leaf(cred, "export", "credentials export", cmd_credentials_export,
              "write every mailbox's SMTP/IMAP login to a 0600 file for a sequencer's bulk import")
    sp.add_argument("--format", choices=("csv", "json"), default="csv")
    sp.add_argument("--out", required=True, help="file to write (kept if it exists, unless --force)")
    sp.add_argument("--force", action="store_true", help="replace an existing file")
    sp.add_argument("--show-passwords", action="store_true", help="also print passwords on stdout")
    return p


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _changes_line(changes: Mapping[str, int]) -> str:
    parts = [f"{op} {n}" for op, n in sorted(changes.items()) if n]
    return ", ".join(parts) if parts else "no resources"


def _stack_config(ctx: Context, stack: str) -> Optional[cm.StackConfig]:
    try:
        raw = cm.raw_from_stack_file(plan_mod.stack_file(ctx.project_dir, stack))
        return cm.load(raw)
    except Exception:  # noqa: BLE001 - next steps are advice; a broken file must not fail an applied up
        return None


def next_steps(ctx: Context, stack: str, outputs: Mapping[str, Any]) -> list[str]:
    """The checklist after a successful ``up``."""
    cfg = _stack_config(ctx, stack)
    steps = ["DNS: records are at Cloudflare now; resolvers pick them up within their TTL "
             f"({cfg.dns.ttl if cfg else 300} s). Check: dig +short MX <domain>, dig +short TXT _dmarc.<domain>"]
    steps.append("Port 25: Hetzner blocks outbound SMTP on new projects. Send the unblock request "
                 "(Hetzner Console > Support > 'Sending mails', after the first paid invoice); nothing leaves before.")
    ptr_checks = []
    servers = outputs.get("servers")
    items = servers.values() if isinstance(servers, Mapping) else servers if isinstance(servers, list) else []
    for s in items:
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
    steps.append(f"Credentials: in the stack outputs (encrypted in the state). Export: coldmail credentials export "
                 f"--stack {stack} --format csv --out mailboxes.csv")
    return steps


def _report_text(report: automation.OperationReport, title: str) -> str:
    lines = [f"{title}: {_changes_line(report.changes)}" +
             (f" in {report.duration_seconds:.1f}s" if report.duration_seconds else "")]
    if report.failed_resources:
        lines.append("failed: " + ", ".join(report.failed_resources))
    if report.next_steps:
        lines.append("")
        lines.append("Next steps:")
        lines += [f"  [ ] {s}" for s in report.next_steps]
    return "\n".join(lines)


def _require_stack(args: argparse.Namespace, ctx: Context) -> None:
    if not args.stack:
        args.stack = ctx.env.get("COLDMAIL_STACK")
    if not args.stack:
        raise UsageError("--stack is required (or set COLDMAIL_STACK)")


def _total(report: Optional[automation.OperationReport]) -> Optional[int]:
    return sum(report.changes.values()) if report else None


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

def cmd_plan(args: argparse.Namespace, ctx: Context) -> Outcome:
    return plan_mod.build(plan_mod.PlanInputs(ctx.project_dir, args.stack, args.config))


def cmd_preview(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = Outcome("preview", stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args))
    try:
        report = automation.preview(stack, parallel=args.parallel, expect_no_changes=args.expect_no_changes,
                                    diff=args.diff, on_event=Progress(ctx.stderr, operation="preview"))
    except automation.ChangesFound as found:
        out.exit_code, out.result = EXIT_CHANGES, found.report.to_dict()
        out.errors.append(CliError("changes_found", f"the preview found changes: {_changes_line(found.report.changes)}",
                                   fix=f"review them, then `coldmail up --stack {args.stack} --yes`"))
        out.text = _report_text(found.report, "preview")
        return out
    out.result = report.to_dict()
    out.text = _report_text(report, "preview")
    return out


def _apply(args: argparse.Namespace, ctx: Context, stack: Any, out: Outcome,
           preview_report: Optional[automation.OperationReport] = None) -> Optional[automation.OperationReport]:
    """Run ``up`` when --yes or the user agrees; otherwise mark the outcome refused (exit 2)."""
    if not args.yes:
        if preview_report is not None and not preview_report.has_changes:
            return None
        answer = ctx.confirm(f"Apply these changes to stack {args.stack}?")
        if not answer:
            out.exit_code = EXIT_BAD_INPUT if answer is None else EXIT_OK
            if answer is None:
                out.errors.append(CliError("confirmation_required", "not applied: nobody to confirm",
                                           fix=f"re-run with --yes: coldmail {args.command} --stack {args.stack} --yes"
                                           if args.command == "up" else
                                           f"apply with: coldmail up --stack {args.stack} --yes"))
            else:
                out.warnings.append("not applied")
            return None
    report = automation.up(stack, parallel=args.parallel,
                           on_event=Progress(ctx.stderr, total=_total(preview_report), operation="up"))
    report.next_steps = next_steps(ctx, args.stack, report.outputs)
    return report


def cmd_up(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = Outcome("up", stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args))
    pre = None
    if not args.yes:
        pre = automation.preview(stack, parallel=args.parallel, on_event=Progress(ctx.stderr, operation="preview"))
        ctx.stderr.write(_report_text(pre, "preview") + "\n")
        if not pre.has_changes:
            out.result = dict(pre.to_dict(), operation="up")
            out.text = "up: nothing to change"
            return out
    report = _apply(args, ctx, stack, out, pre)
    if report is None:
        out.result = dict(pre.to_dict(), operation="up") if pre else None
        return out
    out.result = report.to_dict()
    out.text = _report_text(report, "up")
    if report.failed_resources:
        out.exit_code = EXIT_FAILED
    return out


def cmd_destroy(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = Outcome("destroy", stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args), create=False)
    if not args.yes:
        answer = ctx.confirm(f"Delete EVERY resource of stack {args.stack} (servers, IPs, DNS records, mailboxes)?")
        if not answer:
            out.exit_code = EXIT_BAD_INPUT if answer is None else EXIT_OK
            if answer is None:
                out.errors.append(CliError("confirmation_required", "not destroyed: nobody to confirm",
                                           fix=f"re-run with --yes: coldmail destroy --stack {args.stack} --yes"))
            return out
    report = automation.destroy(stack, parallel=args.parallel, on_event=Progress(ctx.stderr, operation="destroy"))
    out.result, out.text = report.to_dict(), _report_text(report, "destroy")
    return out


def cmd_refresh(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = Outcome("refresh", stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args), create=False)
    report = automation.refresh(stack, parallel=args.parallel, on_event=Progress(ctx.stderr, operation="refresh"))
    out.result, out.text = report.to_dict(), _report_text(report, "refresh")
    return out


def _edit(args: argparse.Namespace, ctx: Context, make: Callable[[dict], edits.Edit]) -> Outcome:
    out = Outcome(args.command, stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args))
    raw = edits.raw_from_config_map(automation.read_config(stack))
    edit = make(raw)
    edits.validate(edit)
    LOG.debug("%s: writing %d config operations", args.command, len(edit.ops))
    automation.write_config(stack, edit.ops)
    result: dict[str, Any] = {"edit": edit.name, "target": edit.target, "operations": [o.to_dict() for o in edit.ops],
                              "preview": None, "applied": False}
    out.result = result
    lines = [f"{edit.name} {' '.join(edit.target)}: wrote {len(edit.ops)} change(s) to "
             f"Pulumi.{args.stack}.yaml"] + [f"  {o}" for o in edit.ops]
    if args.yes:
        report = automation.up(stack, parallel=args.parallel, on_event=Progress(ctx.stderr, operation="up"))
        report.next_steps = next_steps(ctx, args.stack, report.outputs)
        result["preview"], result["applied"] = report.to_dict(), True
        lines.append(_report_text(report, "up"))
    else:
        report = automation.preview(stack, parallel=args.parallel, on_event=Progress(ctx.stderr, operation="preview"))
        result["preview"] = report.to_dict()
        lines.append(_report_text(report, "preview"))
        lines.append(f"Apply with: coldmail up --stack {args.stack} --yes")
    out.text = "\n".join(lines)
    return out


def cmd_domain_add(args, ctx):
    return _edit(args, ctx, lambda raw: edits.domain_add(raw, args.name, args.server, args.ip, args.mailboxes))


def cmd_domain_remove(args, ctx):
    return _edit(args, ctx, lambda raw: edits.domain_remove(raw, args.name))


def cmd_mailbox_add(args, ctx):
    return _edit(args, ctx, lambda raw: edits.mailbox_add(raw, args.addresses, args.name))


def cmd_mailbox_remove(args, ctx):
    return _edit(args, ctx, lambda raw: edits.mailbox_remove(raw, args.addresses))


def cmd_server_add(args, ctx):
    return _edit(args, ctx, lambda raw: edits.server_add(
        raw, args.name, args.hostname, args.floating_ips, args.ssh_public_key, args.admin_cidrs,
        location=args.location, server_type=args.server_type))


def cmd_server_remove(args, ctx):
    return _edit(args, ctx, lambda raw: edits.server_remove(raw, args.name))


def cmd_credentials_export(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = Outcome("credentials export", stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args), create=False)
    rows = credentials.rows_from_outputs(automation.plain_outputs(automation.stack_outputs(stack)))
    if not rows:
        raise credentials.CredentialsError(f"stack {args.stack} has no mailbox credentials in its outputs",
                                           f"deploy first: coldmail up --stack {args.stack} --yes")
    path = os.path.abspath(args.out)
    credentials.write_private(path, credentials.render(rows, args.format), force=args.force)
    shown = rows if args.show_passwords else [credentials.masked(r) for r in rows]
    out.result = {"file": path, "format": args.format, "mode": "0600", "count": len(rows),
                  "columns": list(credentials.COLUMNS), "accounts": shown}
    out.text = "\n".join([
        table(["email", "smtp", "imap", "daily_limit"] + (["password"] if args.show_passwords else []),
              [[r["email"], f"{r['smtp_host']}:{r['smtp_port']}", f"{r['imap_host']}:{r['imap_port']}",
                r["daily_limit"]] + ([r["smtp_password"]] if args.show_passwords else []) for r in rows]),
        "", f"wrote {len(rows)} accounts to {path} (mode 0600)" +
        ("" if args.show_passwords else "; passwords are in the file only")])
    return out


_SECRET_KEY = re.compile(r"password|api_?key|token|secret|private_?key", re.I)


def redact(value: Any) -> Any:
    """Outputs with every secret-named field masked: a server summary carries its API key and admin password."""
    if isinstance(value, Mapping):
        return {k: "[secret]" if _SECRET_KEY.search(str(k)) and v is not None else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def cmd_status(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = Outcome("status", stack=args.stack)
    stack = automation.open_stack(ctx.stack_options(args), create=False)
    outs = automation.stack_outputs(stack)
    plain = automation.plain_outputs(outs)
    secret = set(automation.secret_output_keys(outs))
    shown = {k: ("[secret]" if k in secret and k != "servers" else redact(v)) for k, v in plain.items()}
    checks = None
    latest = os.path.join(ctx.project_dir, ".coldmail", "checks", "latest.json")
    if os.path.isfile(latest):
        try:
            with open(latest, encoding="utf-8") as fh:
                checks = json.load(fh)
        except (OSError, ValueError) as exc:
            out.warnings.append(f"cannot read {latest}: {exc}")
    n_mailboxes = len(credentials.rows_from_outputs(plain))
    servers = redact(plain.get("servers"))
    out.result = {"outputs": shown, "servers": servers if isinstance(servers, (dict, list)) else None,
                  "mailboxes": n_mailboxes, "checks": checks if isinstance(checks, dict) else None}
    lines = [f"stack {args.stack}: {n_mailboxes} mailboxes"]
    items = servers.items() if isinstance(servers, Mapping) else (
        [(s.get("name", i), s) for i, s in enumerate(servers)] if isinstance(servers, list) else [])
    rows = []
    for name, s in items:
        if isinstance(s, Mapping):
            rows.append([name, s.get("ipv4_address", s.get("ipv4")), s.get("ipv6_address", s.get("ipv6")),
                         s.get("mailcow_url"),
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


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def _guess_command(argv: Sequence[str]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] and words[0] in ("domain", "mailbox", "server", "credentials") and len(words) > 1:
        return f"{words[0]} {words[1]}"
    return words[0] if words else "coldmail"


def main(argv: Optional[Sequence[str]] = None, *, pulumi_command: Any = None, env: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None, stdin: Optional[TextIO] = None) -> int:
    """Run the command; returns the exit code. The keyword arguments exist for tests and embedding."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout, stderr, stdin = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    env = dict(os.environ if env is None else env)
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        out = Outcome(_guess_command(argv), EXIT_BAD_INPUT, errors=[CliError("usage", str(exc),
                                                                            fix="coldmail --help")])
        output.emit(out, as_json, stdout, stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    out = Outcome(args.command, stack=args.stack)
    ctx = None
    try:
        project_dir = plan_mod.find_project_dir(args.project_dir)
        ctx = Context(project_dir, env, stdout, stderr, stdin, args.json, pulumi_command)
        ctx.log_file = output.setup_logging(project_dir, stderr, args.verbose)
        LOG.debug("coldmail %s (project %s)", args.command, project_dir)
        _require_stack(args, ctx)
        out = args.handler(args, ctx)
    except UsageError as exc:
        out.exit_code = EXIT_BAD_INPUT
        out.errors.append(CliError("usage", str(exc), fix="coldmail --help"))
    except plan_mod.ProjectNotFound as exc:
        out.exit_code = EXIT_BAD_INPUT
        out.errors.append(CliError("usage", str(exc), fix="run it inside the project, or pass --project-dir"))
    except edits.EditRefused as exc:
        out.exit_code = EXIT_BAD_INPUT
        out.errors += [CliError("config", i.message, i.path, i.fix) for i in exc.issues]
        out.text = "refused, nothing written"
    except cm.ConfigError as exc:
        out.exit_code = EXIT_BAD_INPUT
        out.errors += [CliError("config", i.message, i.path, i.fix) for i in exc.issues]
        out.text = "refused by the config schema, nothing written"
    except automation.PassphraseMissing as exc:
        out.exit_code = EXIT_BAD_INPUT
        out.errors.append(CliError(exc.kind, str(exc), fix=exc.fix))
    except automation.AutomationError as exc:
        out.exit_code = EXIT_FAILED
        out.errors.append(CliError(exc.kind, str(exc), fix=exc.fix))
    except credentials.CredentialsError as exc:
        out.exit_code = exc.exit_code
        out.errors.append(CliError("credentials", str(exc), fix=exc.fix or None))
    except Exception as exc:  # noqa: BLE001 - one document and exit 1, whatever broke
        LOG.debug("unexpected error", exc_info=True)
        out.exit_code = EXIT_FAILED
        out.errors.append(CliError("internal", f"{type(exc).__name__}: {exc}",
                                   fix="see .coldmail/logs/coldmail.log; please report it"))
    if out.stack is None:
        out.stack = args.stack
    for e in out.errors:
        LOG.debug("error: %s", e)
    LOG.debug("exit %d", out.exit_code)
    output.emit(out, args.json, stdout, stderr)
    output.close_logging()
    return out.exit_code


if __name__ == "__main__":
    sys.exit(main())
