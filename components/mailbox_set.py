"""MailboxSet: the mailboxes of one domain, their generated passwords and the credentials to hand out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_random as random

from coldmail.model import Domain, StackConfig
from coldmail.model.ports import IMAPS, SUBMISSION
from coldmail.model.sizing import planned_daily_sends
from dynamic_providers.mailbox_set import MailcowMailboxSet, MailcowMailboxSetArgs

PASSWORD_LENGTH = 24
# Sequencers import credentials from CSV and send them in SMTP AUTH PLAIN: quotes, commas, semicolons,
# backslashes, spaces, %, + and friends get mangled somewhere along that path; - and _ survive all of it.
PASSWORD_SPECIALS = "-_"


@dataclass(frozen=True, kw_only=True)
class MailboxSetArgs:
    """Inputs of :class:`MailboxSet`; the mailbox list comes expanded from the config model."""

    domain: Domain
    settings: StackConfig
    api_url: pulumi.Input[str]
    server_name: str
    verify_tls: bool = True
    ca_bundle: Optional[str] = None
    owns_limits: bool = True
    """False for a second set on a domain whose limits another set owns (report mailboxes in a sending domain)."""
    sends: bool = True
    """False for mailboxes that only receive (the report mailboxes): no send plan, daily limit 0."""


class MailboxSet(pulumi.ComponentResource):
    """All mailboxes of one domain: a password per mailbox and one Mailcow write resource for the set."""

    addresses: list[str]
    """The mailbox addresses (punycode domain)."""
    daily_limit: int
    """Planned sends per mailbox per day, from the warmup plan."""
    passwords: dict[str, random.RandomPassword]
    mailbox_set: MailcowMailboxSet
    credentials: pulumi.Output[list]
    """Secret: one entry per mailbox with address, names, password and SMTP/IMAP endpoints."""

    def __init__(self, name: str, args: MailboxSetArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("coldmail:index:MailboxSet", name, None, opts)
        domain, settings = args.domain, args.settings
        host = settings.server(args.server_name).hostname
        child = pulumi.ResourceOptions(parent=self)

        # One password resource per local part: adding or removing a mailbox leaves every other
        # password (and so every sequencer login) untouched.
        self.passwords = {
            m.local_part: random.RandomPassword(
                f"{name}-{m.local_part}-password", length=PASSWORD_LENGTH, special=True,
                override_special=PASSWORD_SPECIALS, min_lower=2, min_upper=2, min_numeric=2, opts=child)
            for m in domain.mailboxes
        }
        results = {lp: pw.result for lp, pw in self.passwords.items()}
        password_map = pulumi.Output.secret(pulumi.Output.all(**results) if results else {})
        self.daily_limit = planned_daily_sends(settings, domain) if args.sends else 0
        self.addresses = [m.address for m in domain.mailboxes]

        self.mailbox_set = MailcowMailboxSet(
            f"{name}-set",
            MailcowMailboxSetArgs(
                api_url=args.api_url, server=args.server_name, domain=domain.name,
                mailboxes=[{"local_part": m.local_part, "name": m.name, "quota_mb": m.quota_mb, "active": True}
                           for m in domain.mailboxes],
                passwords=password_map, daily_send_limit=self.daily_limit if args.sends else None,
                **(settings.domain_sizing(domain) if args.owns_limits else {}),
                verify_tls=args.verify_tls, ca_bundle=args.ca_bundle),
            # A component's depends_on does not hold back its children: the Mailcow write must wait for
            # the server's readiness and the domain itself.
            opts=pulumi.ResourceOptions(parent=self, depends_on=(opts.depends_on if opts else None)))

        boxes = list(domain.mailboxes)
        limit = self.daily_limit

        def entries(pw: dict) -> list[dict]:
            return [{"email": m.address, "first_name": m.first_name, "last_name": m.last_name,
                     "password": pw[m.local_part], "smtp_host": host, "smtp_port": SUBMISSION,
                     "imap_host": host, "imap_port": IMAPS, "daily_limit": limit} for m in boxes]

        # Credentials are valid only once Mailcow holds the mailboxes, so they wait for the set.
        self.credentials = pulumi.Output.secret(
            pulumi.Output.all(password_map, self.mailbox_set.id).apply(lambda v: entries(v[0])))
        self.register_outputs({"addresses": self.addresses, "daily_limit": self.daily_limit,
                               "credentials": self.credentials})
