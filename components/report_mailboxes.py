"""ReportMailboxes: where the stack's DMARC and TLS reports arrive, and the records that let them arrive.

The report domain (``coldmail.model.report_mailboxes``) gets a Mailcow domain and its mailboxes on the server
that receives its mail, plus MX, SPF and DMARC of its own; a report domain that is also a sending domain
already has those, so only its report mailboxes are added, beside the sending mailboxes and without touching
the domain's limits. The RFC 7489 §7.1 authorisation (one wildcard per report domain) is written here too: it
is a fact of the stack, not of any one sending domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_cloudflare as cloudflare

from coldmail.model import StackConfig
from coldmail.model import records as rec
from dynamic_providers.domain import MailcowDomain, MailcowDomainArgs

from .mail_server import MailServer
from .mailbox_set import MailboxSet, MailboxSetArgs
from .zones import zone_id_output


@dataclass(frozen=True, kw_only=True)
class ReportMailboxesArgs:
    """Inputs of :class:`ReportMailboxes`."""

    settings: StackConfig
    servers: dict[str, MailServer]
    """Every server component by config name; the report domain lives on one of them."""
    after: tuple[pulumi.Resource, ...] = ()
    """What the mailboxes wait for besides the server: the sending domain's Mailcow domain, when the report
    domain is one."""


class ReportMailboxes(pulumi.ComponentResource):
    """The report mailboxes, their domain and its MX/SPF/DMARC, and the report authorisation records."""

    records: dict[str, cloudflare.DnsRecord]
    """Cloudflare records by key (``report-mx``, ``report-spf``, ``report-dmarc``, ``report-auth-0``…)."""
    mailcow_domain: Optional[MailcowDomain]
    mailboxes: Optional[MailboxSet]
    credentials: pulumi.Output[list]
    """Secret: the report mailboxes' logins (entries shaped like ``credentials``), for ``coldmail reports fetch``."""
    addresses: list[str]

    def __init__(self, name: str, args: ReportMailboxesArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("coldmail:index:ReportMailboxes", name, None, opts)
        settings = args.settings
        report = settings.report_domain
        self.mailcow_domain, self.mailboxes = None, None
        self.addresses = list(report.addresses) if report else []
        specs = rec.report_authorizations(settings)
        dynamic: dict[str, pulumi.Output[str]] = {}
        if report is not None:
            server = args.servers[report.server]
            srv = settings.server(report.server)
            conn = {"api_url": server.api_url, "server": srv.name, "verify_tls": srv.mailcow_tls_verify,
                    "ca_bundle": srv.mailcow_ca_bundle}
            sends = rec.report_domain_sends(settings)
            after: list[pulumi.Resource] = [server.ready, *args.after]
            if not sends:
                self.mailcow_domain = MailcowDomain(
                    f"{name}-domain",
                    MailcowDomainArgs(**conn, domain=report.name, description=report.description,
                                      **settings.domain_sizing(report), relayhost_id="0", active=True),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[server.ready]))
                after.append(self.mailcow_domain)
            self.mailboxes = MailboxSet(
                f"{name}-mailboxes",
                MailboxSetArgs(domain=report, settings=settings, api_url=server.api_url, server_name=srv.name,
                               verify_tls=srv.mailcow_tls_verify, ca_bundle=srv.mailcow_ca_bundle,
                               owns_limits=not sends, sends=False),
                opts=pulumi.ResourceOptions(parent=self, depends_on=after))
            self.credentials = self.mailboxes.credentials
            ipv6 = server.ipv6_address

            def spf(ips: list) -> str:
                sending = rec.SendingAddresses((ips[0],), (ips[1],) if len(ips) > 1 and ips[1] else ())
                return next(s for s in rec.report_zone_records(settings, sending) if s.key == "report-spf").content

            placeholder = rec.SendingAddresses(("192.0.2.1",))
            specs = rec.report_zone_records(settings, placeholder) + specs
            if not sends:
                dynamic["report-spf"] = pulumi.Output.all(
                    *([server.ip_addresses[0], ipv6] if ipv6 is not None else [server.ip_addresses[0]])).apply(spf)
        else:
            self.credentials = pulumi.Output.secret([])
        zones = rec.managed_zones(settings)
        self.records = {}
        for spec in specs:
            self.records[spec.key] = cloudflare.DnsRecord(
                f"{name}-dns-{spec.key}", zone_id=zone_id_output(spec.zone, zones.get(spec.zone)), name=spec.name,
                type=spec.type, content=dynamic.get(spec.key, spec.content), priority=spec.priority,
                ttl=settings.dns.ttl, proxied=False, comment=rec.COMMENT, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"addresses": self.addresses, "credentials": self.credentials})
