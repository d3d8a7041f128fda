"""The command line: argparse lives here and nowhere else.

Each leaf parser stores ``command`` (its name in the envelope) and ``call``, which maps the parsed
arguments onto one typed function of :mod:`coldmail.cli.commands`.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from coldmail.errors import UsageError
from coldmail.ops.automation import DEFAULT_PARALLEL

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
    ops.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL,
                     help=f"resource operations at once (default {DEFAULT_PARALLEL}: Cloudflare rate limit)")
    apply_ = _Parser(add_help=False)
    apply_.add_argument("--yes", "-y", action="store_true", help="apply without asking (needed when not on a terminal)")

    p = _Parser(prog="coldmail", description="Self-hosted cold-email infrastructure over Pulumi: plan, deploy, "
                "edit domains and mailboxes, export credentials. Reference: docs/cli.md")
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

    sp = leaf(sub, "plan", "plan", lambda s, a: c.plan(s, a.stack, config_file=a.config),
              "show what the stack would build, with no credentials and no pulumi CLI")
    sp.add_argument("--config", default=None, help="read this stack file instead of Pulumi.<stack>.yaml")
    sp = leaf(sub, "preview", "preview", lambda s, a: c.preview(
        s, a.stack, parallel=a.parallel, expect_no_changes=a.expect_no_changes, diff=a.diff),
        "preview the changes to the real stack", [ops])
    sp.add_argument("--expect-no-changes", action="store_true", help="exit 3 when anything would change")
    sp.add_argument("--diff", action="store_true", help="show property-level diffs")
    leaf(sub, "up", "up", lambda s, a: c.up(s, a.stack, yes=a.yes, parallel=a.parallel),
         "create or update everything (asks first unless --yes)", [ops, apply_])
    leaf(sub, "destroy", "destroy", lambda s, a: c.destroy(s, a.stack, yes=a.yes, parallel=a.parallel),
         "delete every resource of the stack (asks first unless --yes)", [ops, apply_])
    leaf(sub, "refresh", "refresh", lambda s, a: c.refresh(s, a.stack, parallel=a.parallel),
         "read the real state of every resource into the stack", [ops])
    leaf(sub, "status", "status", lambda s, a: c.status(s, a.stack), "stack outputs and the latest check results")

    dom = group("domain", "add or remove a sending domain")
    sp = leaf(dom, "add", "domain add", lambda s, a: c.domain_add(
        s, a.stack, a.name, server=a.server, ip=a.ip, mailboxes=a.mailboxes, yes=a.yes, parallel=a.parallel),
        "add a domain (config edit, then preview; --yes applies)", [ops, apply_])
    sp.add_argument("name")
    sp.add_argument("--server", default=None, help="server name (default: the one with the fewest domains)")
    sp.add_argument("--ip", type=int, default=None, help="sending IP index: 0 primary, 1..N floating "
                    "(default: the least-loaded floating IP, written explicitly)")
    sp.add_argument("--mailboxes", type=int, default=None, help="mailbox count (default 3)")
    sp = leaf(dom, "move", "domain move", lambda s, a: c.domain_move(
        s, a.stack, a.name, ip=a.ip, yes=a.yes, parallel=a.parallel),
        "send a domain from another IP of its server; SPF and relayhost follow (config edit, then preview)",
        [ops, apply_])
    sp.add_argument("name")
    sp.add_argument("--ip", type=int, required=True, help="sending IP index: 0 primary, 1..N floating")
    sp = leaf(dom, "remove", "domain remove", lambda s, a: c.domain_remove(
        s, a.stack, a.name, yes=a.yes, parallel=a.parallel), "remove a domain and its mailboxes", [ops, apply_])
    sp.add_argument("name")

    mb = group("mailbox", "add or remove mailboxes")
    sp = leaf(mb, "add", "mailbox add", lambda s, a: c.mailbox_add(
        s, a.stack, a.addresses, name=a.name, yes=a.yes, parallel=a.parallel),
        "add mailboxes to their domains' explicit lists", [ops, apply_])
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS")
    sp.add_argument("--name", default=None, help='display name, "First Last"')
    sp = leaf(mb, "remove", "mailbox remove", lambda s, a: c.mailbox_remove(
        s, a.stack, a.addresses, yes=a.yes, parallel=a.parallel), "remove mailboxes", [ops, apply_])
    sp.add_argument("addresses", nargs="+", metavar="ADDRESS")

    srv = group("server", "add or remove a mail server")
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
              "run the scheduled jobs (checks; other capabilities add theirs) from the agent's config file")
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
    return p


def guess_command(argv: list[str]) -> str:
    """The command name for the envelope of a command line that did not parse."""
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] and words[0] in ("domain", "mailbox", "server", "credentials", "agent") and len(words) > 1:
        return f"{words[0]} {words[1]}"
    return words[0] if words else "coldmail"
