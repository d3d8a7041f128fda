"""The command line: argparse lives here and nowhere else.

Each leaf parser stores ``command`` (its name in the envelope) and ``call``, which maps the parsed
arguments onto one typed function of :mod:`coldmail.cli.commands`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from coldmail.errors import UsageError
from coldmail.ops.automation import DEFAULT_PARALLEL, MAX_PARALLEL

from . import commands as c
from .session import Session

Call = Callable[[Session, argparse.Namespace], Any]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print and exit; main decides the format
        raise UsageError(f"{self.prog}: {message}", "coldmail --help")


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
    ops.add_argument("--parallel", type=_int_in(1, MAX_PARALLEL), default=DEFAULT_PARALLEL, metavar="N",
                     help=f"resource operations at once, 1..{MAX_PARALLEL} (default {DEFAULT_PARALLEL}: "
                          "Cloudflare rate limit)")
    create = _Parser(add_help=False)
    create.add_argument("--create", action="store_true",
                        help="create the stack if the backend does not have it (else: an error listing the stacks)")
    apply_ = _Parser(add_help=False)
    apply_.add_argument("--yes", "-y", action="store_true", help="apply without asking (needed when not on a terminal)")

    p = _Parser(prog="coldmail", description="Self-hosted cold-email infrastructure over Pulumi: plan, deploy, "
                "edit domains and mailboxes, export credentials, run backups, keep lists clean, operate the "
                "servers. Reference: docs/cli.md")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def leaf(subparsers: Any, name: str, command: str, call: Call, help_: str, parents=()) -> argparse.ArgumentParser:
        sp = subparsers.add_parser(name, help=help_, description=help_, parents=[common, *parents])
        sp.set_defaults(command=command, call=call)
        return sp

    def group(name: str, help_: str) -> Any:
        g = sub.add_parser(name, help=help_).add_subparsers(dest="sub", metavar="ACTION", parser_class=_Parser)
        g.required = True
        return g

    sp = leaf(sub, "plan", "plan", lambda s, a: c.plan(s, a.stack, config_file=a.config, domains=a.domains,
                                                     details=a.details),
              "show what the stack would build, with no credentials and no pulumi CLI")
    sp.add_argument("--config", default=None, help="read this stack file instead of Pulumi.<stack>.yaml")
    sp.add_argument("--domain", action="append", default=[], dest="domains", metavar="NAME",
                    help="also show this domain's DNS records and mailboxes (repeatable)")
    sp.add_argument("--details", action="store_true",
                    help="show every domain's records, the host records and the resource counts")
    stk = group("stack", "create a stack")
    sp = leaf(stk, "init", "stack init", lambda s, a: c.stack_init(s, a.stack),
              "create a stack in the backend (the only command that creates one, besides --create)")
    sp.add_argument("stack_name", metavar="NAME", help="the new stack, e.g. staging")
    sp = leaf(sub, "preview", "preview", lambda s, a: c.preview(
        s, a.stack, parallel=a.parallel, expect_no_changes=a.expect_no_changes, diff=a.diff, create=a.create),
        "preview the changes to the real stack", [ops, create])
    sp.add_argument("--expect-no-changes", action="store_true", help="exit 3 when anything would change")
    sp.add_argument("--diff", action="store_true", help="show property-level diffs")
    leaf(sub, "up", "up", lambda s, a: c.up(s, a.stack, yes=a.yes, parallel=a.parallel, create=a.create),
         "create or update everything (asks first unless --yes)", [ops, apply_, create])
    sp = leaf(sub, "destroy", "destroy", lambda s, a: c.destroy(
        s, a.stack, yes=a.yes, parallel=a.parallel, keep_data=a.keep_data, backup_dir=a.backup_dir),
        "delete every resource of the stack (asks first unless --yes)", [ops, apply_])
    sp.add_argument("--keep-data", action="store_true",
                    help="first back up every server and keep the backup (off-site, else downloaded); "
                         "a failed backup destroys nothing")
    sp.add_argument("--backup-dir", default=None,
                    help="where --keep-data downloads backups without an off-site copy "
                         "(default: <project>/.coldmail/backups/<stack>)")
    leaf(sub, "refresh", "refresh", lambda s, a: c.refresh(s, a.stack, parallel=a.parallel),
         "read the real state of every resource into the stack", [ops])
    leaf(sub, "status", "status", lambda s, a: c.status(s, a.stack), "stack outputs and the latest check results")

    dom = group("domain", "add or remove a sending domain")
    sp = leaf(dom, "add", "domain add", lambda s, a: c.domain_add(
        s, a.stack, a.name, server=a.server, ip=a.ip, mailboxes=a.mailboxes, yes=a.yes, parallel=a.parallel),
        "add a domain (config edit, then preview; --yes applies)", [ops, apply_])
    sp.add_argument("name", help="the domain, e.g. acme-growth.com")
    sp.add_argument("--server", default=None, help="server name (default: the one with the fewest domains)")
    sp.add_argument("--ip", type=int, default=None, help="sending IP index: 0 primary, 1..N floating "
                    "(default: the least-loaded floating IP, written explicitly)")
    sp.add_argument("--mailboxes", type=int, default=None, help="mailbox count (default 3)")
    sp = leaf(dom, "move", "domain move", lambda s, a: c.domain_move(
        s, a.stack, a.name, ip=a.ip, yes=a.yes, parallel=a.parallel),
        "send a domain from another IP of its server; SPF and relayhost follow (config edit, then preview)",
        [ops, apply_])
    sp.add_argument("name", help="a domain of the stack")
    sp.add_argument("--ip", type=int, required=True, help="sending IP index: 0 primary, 1..N floating")
    sp = leaf(dom, "remove", "domain remove", lambda s, a: c.domain_remove(
        s, a.stack, a.name, yes=a.yes, parallel=a.parallel), "remove a domain and its mailboxes", [ops, apply_])
    sp.add_argument("name", help="a domain of the stack")

    mb = group("mailbox", "add or remove mailboxes")
    sp = leaf(mb, "add", "mailbox add", lambda s, a: c.mailbox_add(
        s, a.stack, a.addresses, name=a.name, yes=a.yes, parallel=a.parallel),
        "add mailboxes to their domains' explicit lists", [ops, apply_])
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS", help="new addresses on domains of the stack")
    sp.add_argument("--name", default=None, help='display name, "First Last"')
    sp = leaf(mb, "remove", "mailbox remove", lambda s, a: c.mailbox_remove(
        s, a.stack, a.addresses, yes=a.yes, parallel=a.parallel), "remove mailboxes", [ops, apply_])
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS", help="mailboxes of the stack")

    srv = group("server", "add, remove and operate a mail server")
    sp = leaf(srv, "add", "server add", lambda s, a: c.server_add(
        s, a.stack, a.name, hostname=a.hostname, floating_ips=a.floating_ips, ssh_public_key=a.ssh_public_key,
        admin_cidrs=a.admin_cidrs, location=a.location, server_type=a.server_type, yes=a.yes, parallel=a.parallel),
        "add a mail server (its Mailcow API key is generated, stored encrypted)", [ops, apply_])
    sp.add_argument("name")
    sp.add_argument("--hostname", required=True, help="Mailcow host name, e.g. mx2.example.com")
    sp.add_argument("--floating-ips", type=int, required=True, help="number of floating sending IPs")
    sp.add_argument("--ssh-public-key", required=True, help="one line of ~/.ssh/id_ed25519.pub")
    sp.add_argument("--admin-cidr", action="append", required=True, dest="admin_cidrs",
                    help="network allowed to SSH in (repeatable)")
    sp.add_argument("--location", default=None, help="Hetzner location, e.g. fsn1")
    sp.add_argument("--server-type", default=None, help="Hetzner server type, e.g. cx42")
    sp = leaf(srv, "remove", "server remove", lambda s, a: c.server_remove(
        s, a.stack, a.name, yes=a.yes, parallel=a.parallel), "remove a server no domain uses", [ops, apply_])
    sp.add_argument("name")
    sp = leaf(srv, "restart", "server restart", lambda s, a: c.server_restart(s, a.stack, a.name, service=a.service),
              "restart a Mailcow service (docker compose restart <service>-mailcow) or all of them, over SSH")
    sp.add_argument("name")
    sp.add_argument("--service", default=None, help="postfix, dovecot, rspamd, … (default: every service)")
    sp = leaf(srv, "logs", "server logs", lambda s, a: c.server_logs(
        s, a.stack, a.name, service=a.service, since=a.since, tail=a.tail),
        "a Mailcow service's logs (docker compose logs), over SSH")
    sp.add_argument("name")
    sp.add_argument("--service", required=True, help="postfix, dovecot, rspamd, …")
    sp.add_argument("--since", default=None, help="only lines since: 30m, 1h, 2d or 2026-08-05T10:00:00Z")
    sp.add_argument("--tail", type=_int_in(1, 100000), default=1000, help="at most this many lines (default 1000)")
    sp = leaf(srv, "queue", "server queue", lambda s, a: c.server_queue(
        s, a.stack, a.name, flush=a.flush, delete=a.delete, yes=a.yes),
        "Postfix's queue (deferred mail by reason and destination); flush it or delete one message", [apply_])
    sp.add_argument("name")
    sp.add_argument("--flush", nargs="?", const="", default=None, metavar="QUEUE_ID",
                    help="retry delivery now: one message, or the whole queue without an id")
    sp.add_argument("--delete", default=None, metavar="QUEUE_ID", help="delete one message (asks unless --yes)")

    sp = leaf(sub, "check", "check", lambda s, a: c.check_history(s, a.stack, since=a.since)
              if a.kinds == ["history"] else c.check(s, a.stack, a.kinds or ["all"], nameserver=a.nameserver,
                                                     outputs_file=a.outputs),
              "check the live stack: DNS, authentication, blacklists, SMTP/TLS (`check history` summarises)")
    # Kinds are checked by the command (argparse rejects an empty `*` list that has choices).
    sp.add_argument("kinds", nargs="*", metavar="KIND",
                    help="dns, auth, blacklist, smtp, postmaster or all (default); `history` summarises past runs")
    sp.add_argument("--nameserver", default=None, metavar="IP[:PORT]",
                    help="ask this DNS server for everything (authoritative and recursive), e.g. a test server")
    sp.add_argument("--outputs", default=None, metavar="FILE",
                    help="stack outputs as `pulumi stack output --json` writes them (default: read them through "
                         "the Pulumi CLI, when it can open the stack)")
    sp.add_argument("--since", default="7d", help="with `history`: 7d, 12h, 30m or an ISO date (default 7d)")
    sp = leaf(sub, "status-page", "status-page", lambda s, a: c.status_page(
        s, a.stack, out_dir=a.out, outputs_file=a.outputs), "write the static HTML status page of the check history")
    sp.add_argument("--out", required=True, metavar="DIR", help="directory for index.html (created)")
    sp.add_argument("--outputs", default=None, metavar="FILE", help="stack outputs JSON, as for `check`")

    agent = group("agent", "the on-server agent (runs in a container the stack deploys)")
    sp = leaf(agent, "run", "agent run", lambda s, a: c.agent_run(s, a.stack, config_file=a.config, once=a.once),
              "run the scheduled jobs (checks, hygiene, warmup, backup health) from the agent's config file")
    sp.add_argument("--config", required=True, metavar="FILE", help="the agent file the program renders")
    sp.add_argument("--once", action="store_true", help="run the jobs that are due, then exit")
    sp.set_defaults(needs_project=False)

    cred = group("credentials", "mailbox credentials")
    sp = leaf(cred, "export", "credentials export", lambda s, a: c.credentials_export(
        s, a.stack, out_file=a.out, fmt=a.format, force=a.force, show_passwords=a.show_passwords),
        "write every mailbox's SMTP/IMAP login to a 0600 file for a sequencer's bulk import")
    sp.add_argument("--format", choices=("csv", "json"), default="csv")
    sp.add_argument("--out", required=True, help="file to write (kept if it exists, unless --force)")
    sp.add_argument("--force", action="store_true", help="replace an existing file")
    sp.add_argument("--show-passwords", action="store_true", help="also print passwords on stdout")

    rep = group("reports", "DMARC and TLS reports: read the report mailboxes, summarise per domain")
    sp = leaf(rep, "fetch", "reports fetch", lambda s, a: c.reports_fetch(
        s, a.stack, imap_host=a.imap_host, imap_port=a.imap_port, imap_user=a.imap_user, imap_tls=a.imap_tls,
        imap_ca_file=a.imap_ca_file, imap_folder=a.imap_folder, password_stdin=a.password_stdin, rescan=a.rescan),
        "read new messages in the report mailboxes (IMAP, read-only) and store each report once")
    sp.add_argument("--imap-host", default=None, help="read this IMAP server instead of the stack's report mailboxes")
    sp.add_argument("--imap-user", default=None, help="its login; the password comes from "
                    "$COLDMAIL_REPORTS_IMAP_PASSWORD or --password-stdin, never the command line")
    sp.add_argument("--imap-port", type=_int_in(1, 65535), default=None, help="default 993 (ssl) or 143 (starttls, plain)")
    sp.add_argument("--imap-tls", choices=("ssl", "starttls", "plain"), default=None,
                    help="default ssl; plain only to this machine (127.0.0.1, ::1, localhost)")
    sp.add_argument("--imap-ca-file", default=None, help="PEM file of the CA to trust for the IMAP certificate")
    sp.add_argument("--imap-folder", default="INBOX", help="folder to read (default INBOX)")
    sp.add_argument("--password-stdin", action="store_true", help="read the IMAP password from the first line of stdin")
    sp.add_argument("--rescan", action="store_true", help="read every message again (stored reports still count once)")
    sp = leaf(rep, "summary", "reports summary", lambda s, a: c.reports_summary(
        s, a.stack, since=a.since, domain=a.domain),
        "per domain: messages, aligned SPF/DKIM/DMARC pass, sources (unknown ones flagged), TLS failures, next phase")
    sp.add_argument("--since", default="7d", help="7d, 12h, 30m or an ISO date (default 7d)")
    sp.add_argument("--domain", default=None, help="only this domain")

    dm = group("dmarc", "DMARC policy phases")
    sp = leaf(dm, "advance", "dmarc advance", lambda s, a: c.dmarc_advance(
        s, a.stack, a.domain, yes=a.yes, force=a.force, parallel=a.parallel),
        "move a domain's DMARC policy one phase on (none, quarantine, reject) when the reports show it is safe "
        "(config edit, then preview; --yes applies)", [ops, apply_])
    sp.add_argument("domain")
    sp.add_argument("--force", action="store_true", help="write the edit even when the evidence is not there")
    bak = group("backup", "Mailcow's backups on the servers, over SSH")
    sp = leaf(bak, "now", "backup now", lambda s, a: c.backup_now(s, a.stack, server=a.server),
              "back up now and wait for it (every server, or --server)")
    sp.add_argument("--server", default=None, help="one server (default: all)")
    sp = leaf(bak, "list", "backup list", lambda s, a: c.backup_list(s, a.stack, server=a.server),
              "the restore points and the last run of each server; records their health")
    sp.add_argument("--server", default=None, help="one server (default: all)")
    sp = leaf(bak, "restore", "backup restore", lambda s, a: c.backup_restore(
        s, a.stack, a.point, server=a.server, parts=a.parts.split(",") if a.parts else None, yes=a.yes),
        "restore parts of a restore point (asks unless --yes)", [apply_])
    sp.add_argument("point", metavar="POINT", help="a restore point, e.g. mailcow-2026-08-05-03-30-01")
    sp.add_argument("--server", default=None, help="the server (needed when the stack has several)")
    sp.add_argument("--parts", default=None,
                    help="comma-separated: vmail,crypt,redis,rspamd,postfix,mysql or all (default: all the point holds)")

    sup = group("suppression", "addresses no mailbox may mail again: hard bounces, complaints, by hand")
    sp = leaf(sup, "scan", "suppression scan", lambda s, a: c.suppression_scan(
        s, a.stack, server=a.server, since=a.since, logs=not a.no_logs, imap=not a.no_imap),
        "read bounces and complaints (Postfix logs over SSH, reports over IMAP); update the list and the rates")
    sp.add_argument("--server", default=None, help="one server (default: all)")
    sp.add_argument("--since", default="24h", help="log window: 30m, 24h, 2d… (default 24h)")
    sp.add_argument("--no-logs", action="store_true", help="skip the Postfix logs")
    sp.add_argument("--no-imap", action="store_true", help="skip the mailboxes")
    sp = leaf(sup, "list", "suppression list", lambda s, a: c.suppression_list(s, a.stack, domain=a.domain),
              "the suppression list")
    sp.add_argument("--domain", default=None, help="one sending domain (with the entries for every domain)")
    sp = leaf(sup, "add", "suppression add", lambda s, a: c.suppression_add(
        s, a.stack, a.addresses, domain=a.domain, reason=a.reason), "suppress addresses by hand")
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS")
    sp.add_argument("--domain", default=None, help="only for this sending domain (default: every domain)")
    sp.add_argument("--reason", default="added by hand")
    sp = leaf(sup, "export", "suppression export", lambda s, a: c.suppression_export(
        s, a.stack, out_file=a.out, fmt=a.format, domain=a.domain, force=a.force),
        "write the list as CSV for a sequencer's blocklist import, to a 0600 file")
    sp.add_argument("--format", choices=("csv",), default="csv")
    sp.add_argument("--out", required=True, help="file to write (kept if it exists, unless --force)")
    sp.add_argument("--domain", default=None, help="one sending domain (with the entries for every domain)")
    sp.add_argument("--force", action="store_true", help="replace an existing file")
    wu = group("warmup", "warmup ramp, exchanges and inbox placement")
    sources = _Parser(add_help=False)
    sources.add_argument("--history", default=None,
                         help="the history file (default: $COLDMAIL_HISTORY or <project>/.coldmail/history.sqlite)")
    sources.add_argument("--config", default=None,
                         help="read the config from this file (a stack file, or JSON of coldmail:* keys)")
    logins = _Parser(add_help=False)
    logins.add_argument("--outputs", default=None,
                        help="stack outputs as JSON (pulumi stack output --json --show-secrets) instead of Pulumi")
    logins.add_argument("--accounts", default=None,
                        help="mailbox logins from a `coldmail credentials export` file instead of the outputs")
    sp = leaf(wu, "schedule", "warmup schedule", lambda s, a: c.warmup_schedule(
        s, a.stack, weeks=a.weeks, config_file=a.config, history=a.history),
        "each sending IP's daily caps (per IP and per mailbox), day by day", [sources])
    sp.add_argument("--weeks", type=int, default=8, help="how many weeks to show (default 8)")
    sp = leaf(wu, "status", "warmup status", lambda s, a: c.warmup_status(
        s, a.stack, config_file=a.config, history=a.history, outputs_file=a.outputs),
        "today's caps, sent, received, replied and placement per IP, mailbox and seed", [sources])
    sp.add_argument("--outputs", default=None, help="stack outputs as JSON, for the IPs' addresses")
    leaf(wu, "run", "warmup run", lambda s, a: c.warmup_run(
        s, a.stack, config_file=a.config, accounts_file=a.accounts, outputs_file=a.outputs, history=a.history),
        "one worker run: enforce today's caps, keep and answer warmup mail, send what is due", [sources, logins])
    sp = leaf(wu, "placement", "warmup placement", lambda s, a: c.warmup_placement(
        s, a.stack, sample=a.sample, wait=a.wait, config_file=a.config, accounts_file=a.accounts,
        outputs_file=a.outputs, history=a.history),
        "send a test from every IP and domain to the seeds and report inbox, spam or promotions", [sources, logins])
    sp.add_argument("--sample", type=int, default=None, help="probe only the first N domains of each IP")
    sp.add_argument("--wait", type=float, default=300, help="seconds to wait for the probes (default 300)")
    sp = leaf(sub, "mcp", "mcp", lambda s, a: c.mcp(s, a.stack, allow_apply=a.allow_apply),
              "serve the commands to agents over MCP on stdio; every change is previewed first (README: MCP)")
    sp.add_argument("--allow-apply", action="store_true",
                    help="let a previewed change be applied with its token (default: previews only)")
    return p


def _groups(parser: argparse.ArgumentParser) -> set[str]:
    """The commands that take an action word (``domain add``), read off the parser itself."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name for name, p in sub.choices.items()
            if any(isinstance(a, argparse._SubParsersAction) for a in p._actions)}


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in ``lo..hi``, else a usage error naming the range."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n} is out of range: use {lo}..{hi}")
        return n
    parse.bounds = (lo, hi)  # type: ignore[attr-defined]  # read by describe()
    return parse


# --------------------------------------------------------------------------------------------
# The parameters of a command, for callers that are no command line (the MCP server)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One parameter of a command as this parser defines it, and how to write it back on a command line."""

    dest: str
    flag: Optional[str]
    """``--server``; None for a positional."""
    type: str
    """The JSON type of one value: ``string``, ``integer``, ``number`` or ``boolean`` (a switch)."""
    many: bool
    """A list: ``nargs`` ``+``/``*``, or a flag given once per value."""
    required: bool
    default: Any
    choices: Optional[tuple[Any, ...]]
    bounds: Optional[tuple[int, int]]
    help: str


def _leaf(words: Sequence[str]) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def describe(words: Sequence[str]) -> tuple[str, dict[str, Option]]:
    """The help text and the parameters (by ``dest``) of the command ``words``, e.g. ``("domain", "add")``."""
    parser = _leaf(words)
    found: dict[str, Option] = {}
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        switch = isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        many = a.nargs in ("+", "*") or isinstance(a, argparse._AppendAction)
        bounds = getattr(a.type, "bounds", None)
        kind = ("boolean" if switch else "integer" if a.type is int or bounds else
                "number" if a.type is float else "string")
        required = (a.nargs not in ("*", "?")) if not a.option_strings else bool(a.required)
        found[a.dest] = Option(a.dest, max(a.option_strings, key=len) if a.option_strings else None, kind, many,
                               required, a.default, tuple(a.choices) if a.choices else None, bounds, a.help or "")
    return parser.description or "", found


def command_line(words: Sequence[str], values: Mapping[str, Any], *, stack: str, yes: bool = False,
                 extra: Sequence[str] = ()) -> list[str]:
    """The argument list that gives the command ``words`` these parameter ``values`` (by ``dest``).

    Options are written ``--flag=value`` and positionals follow ``--``, so no value (``"--yes"`` as an
    address) can turn into a flag. ``extra`` are positionals given as is (``check history``).

    :raises UsageError: an unknown parameter, or a value of the wrong shape.
    """
    _, options = describe(words)
    head, tail = [*words, f"--stack={stack}"], [*extra]
    for dest, value in values.items():
        opt = options.get(dest)
        if opt is None:
            raise UsageError(f"unknown parameter {dest!r}", f"use: {', '.join(sorted(options))}")
        if value is None:
            continue
        items = value if opt.many else [value]
        if opt.many and not isinstance(value, list) or any(isinstance(v, (list, dict)) for v in items):
            raise UsageError(f"{dest}: expected {'a list of ' if opt.many else 'one '}{opt.type} value(s), "
                             f"got {value!r}", f"pass {dest} as in the tool's input schema")
        if opt.type == "boolean":
            if not isinstance(value, bool):
                raise UsageError(f"{dest}: expected true or false, got {value!r}", f"pass {dest}: true")
            head += [opt.flag] if value else []
        elif opt.flag is None:
            tail += [str(v) for v in items]
        else:
            head += [f"{opt.flag}={v}" for v in items]
    return head + (["--yes"] if yes else []) + (["--", *tail] if tail else [])


def guess_command(argv: list[str]) -> str:
    """The command name for the envelope of a command line that did not parse."""
    words = [a for a in argv if not a.startswith("-")]
    if len(words) > 1 and words[0] in _groups(build_parser()):
        return f"{words[0]} {words[1]}"
    return words[0] if words else "coldmail"
