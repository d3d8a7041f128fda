"""MailDomain: one sending domain's Cloudflare records, Mailcow domain, DKIM key and mailboxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_cloudflare as cloudflare

from coldmail.model import records as rec
from coldmail.model import Domain, StackConfig
from dynamic_providers.dkim import MailcowDkim, MailcowDkimArgs
from dynamic_providers.domain import MailcowDomain, MailcowDomainArgs
from dynamic_providers.mta_sts import MailcowMtaSts, MailcowMtaStsArgs

from .mail_server import MailServer
from .zones import zone_id_output
from .mailbox_set import MailboxSet, MailboxSetArgs

# Stands in for the IPs while only the static records are rendered (RFC 5737 documentation address).
_NO_IPS = rec.SendingAddresses(("192.0.2.1",))


@dataclass(frozen=True, kw_only=True)
class MailDomainArgs:
    """Inputs of :class:`MailDomain`."""

    domain: Domain
    settings: StackConfig
    server: MailServer
    """The domain's server: its hostname, IP outputs, relayhost ids and its ``ready`` resource."""


class MailDomain(pulumi.ComponentResource):
    """DNS (MX, SPF, DKIM, DMARC, client discovery, MTA-STS, TLS-RPT) plus the Mailcow side of one domain."""

    domain_name: str
    """The domain in punycode."""
    zone_id: pulumi.Output[str]
    records: dict[str, cloudflare.DnsRecord]
    """Cloudflare records by key (``mx``, ``spf``, ``dkim``, ``dmarc``…, see ``coldmail.model.records``)."""
    mailcow_domain: MailcowDomain
    dkim: MailcowDkim
    mta_sts: Optional[MailcowMtaSts]
    """The policy Mailcow serves at ``https://mta-sts.<domain>`` (with ``coldmail:dns.mtaSts``)."""
    mailboxes: MailboxSet
    addresses: list[str]
    credentials: pulumi.Output[list]
    """Secret: the mailbox credentials, for ``coldmail credentials export``."""
    summary: dict[str, Any]
    """What the stack exports for the domain: server, sending IP, records' names, mailboxes. No secret."""

    def __init__(self, name: str, args: MailDomainArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("coldmail:index:MailDomain", name, None, opts)
        domain, settings, server = args.domain, args.settings, args.server
        srv = settings.server(domain.server)
        if server.hostname != srv.hostname:
            raise ValueError(f"MailDomainArgs.server is {server.hostname!r}, but domain {domain.name!r} "
                             f"is configured on server {srv.name!r} ({srv.hostname})")
        if not 0 <= domain.ip < len(server.ip_addresses):
            raise ValueError(f"domain {domain.name!r} sends from IP {domain.ip}, but server {srv.name!r} "
                             f"has IPs 0..{len(server.ip_addresses) - 1}")
        if domain.ip and domain.ip not in server.relayhost_ids:
            raise ValueError(f"server {srv.name!r} has no relayhost for IP {domain.ip} (domain {domain.name!r})")

        self.domain_name = domain.name
        self.addresses = list(domain.addresses)
        mailcow = pulumi.ResourceOptions(parent=self, depends_on=[server.ready])
        conn = {"api_url": server.api_url, "server": domain.server, "verify_tls": srv.mailcow_tls_verify,
                "ca_bundle": srv.mailcow_ca_bundle}

        # The relayhost id is an Output of the server's MailcowRelayhost, so this domain depends on it and
        # loses its relayhost assignment before the relayhost itself is deleted.
        relayhost_id = server.relayhost_ids[domain.ip] if domain.ip else "0"
        # The limits size the domain when it is created; from then on its mailbox set owns them, so they can
        # grow before the mailboxes change and shrink after (docs/architecture.md, "Domain limits").
        self.mailcow_domain = MailcowDomain(
            f"{name}-domain",
            MailcowDomainArgs(**conn, domain=domain.name, description=domain.description,
                              **settings.domain_sizing(domain), relayhost_id=relayhost_id, active=True),
            opts=mailcow)
        after_domain = pulumi.ResourceOptions(parent=self, depends_on=[server.ready, self.mailcow_domain])
        self.dkim = MailcowDkim(
            f"{name}-dkim",
            MailcowDkimArgs(**conn, domain=domain.name, selector=settings.dkim.selector,
                            key_size=settings.dkim.key_size),
            opts=after_domain)
        self.mailboxes = MailboxSet(
            f"{name}-mailboxes",
            MailboxSetArgs(domain=domain, settings=settings, api_url=server.api_url, server_name=domain.server,
                           verify_tls=srv.mailcow_tls_verify, ca_bundle=srv.mailcow_ca_bundle),
            opts=after_domain)
        self.credentials = self.mailboxes.credentials
        self.mta_sts = None
        if settings.dns.mta_sts:
            dns = settings.dns
            self.mta_sts = MailcowMtaSts(
                f"{name}-mta-sts",
                MailcowMtaStsArgs(**conn, domain=domain.name, mode=dns.mta_sts_mode, mx=[srv.hostname],
                                  max_age=dns.mta_sts_max_age,
                                  testing_since=(dns.mta_sts_testing_since.isoformat()
                                                 if dns.mta_sts_testing_since else None)),
                opts=after_domain)

        self.zone_id = zone_id_output(domain.zone, domain.zone_id)
        # Names, types and all static contents come from one rendering; only SPF (the server's IPs) and
        # DKIM (Mailcow's key) are re-rendered over their Outputs, so each record depends on exactly those.
        self._template = rec.domain_records(settings, domain, _NO_IPS, "")
        self.records = self._create_records(name, domain, settings, server)
        self.summary = {
            "unicode_name": domain.unicode_name, "server": domain.server, "ip_index": domain.ip,
            "sending_ip": server.ip_addresses[domain.ip], "ptr_name": server.ptr_names[domain.ip],
            "dmarc_phase": domain.dmarc_phase, "zone_id": self.zone_id, "mailboxes": self.addresses,
            "daily_limit_per_mailbox": self.mailboxes.daily_limit,
            # A change here is an edit/domain in Mailcow, so `pulumi preview --diff` shows the cost of an edit
            # that crosses a step of the sizing (docs/architecture.md, "Domain limits").
            "mailcow_limits": settings.domain_sizing(domain),
            "records": [f"{s.type} {s.name}" for s in self._template],
        }
        self.register_outputs({"domain_name": self.domain_name, "zone_id": self.zone_id,
                               "addresses": self.addresses, "dkim_dns_name": self.dkim.dns_name,
                               "credentials": self.credentials})

    def _create_records(self, name: str, domain: Domain, settings: StackConfig,
                        server: MailServer) -> dict[str, cloudflare.DnsRecord]:
        ipv4 = server.ip_addresses[domain.ip]
        ipv6 = server.ipv6_address if rec.sends_over_ipv6(settings, domain) else None

        def spf(ips: list) -> str:
            sending = rec.SendingAddresses((ips[0],), (ips[1],) if len(ips) > 1 and ips[1] else ())
            return _spec(rec.domain_records(settings, domain, sending, ""), "spf").content

        def dkim(txt: str) -> str:
            return _spec(rec.domain_records(settings, domain, _NO_IPS, txt), "dkim").content

        dynamic = {
            "spf": pulumi.Output.all(*([ipv4, ipv6] if ipv6 is not None else [ipv4])).apply(spf),
            "dkim": self.dkim.txt_value.apply(dkim),
            "mta-sts-host": server.ip_addresses[0],
        }
        if self.mta_sts is not None:
            # Published once Mailcow serves the policy: a sender that sees a new id fetches the policy at once.
            txt = _spec(self._template, "mta-sts").content
            dynamic["mta-sts"] = self.mta_sts.id.apply(lambda _id: txt)
        zones = rec.managed_zones(settings)
        out: dict[str, cloudflare.DnsRecord] = {}
        for spec in self._template:
            zone_id = self.zone_id if spec.zone is None else zone_id_output(spec.zone, zones.get(spec.zone))
            out[spec.key] = cloudflare.DnsRecord(
                f"{name}-dns-{spec.key}", zone_id=zone_id, name=spec.name, type=spec.type,
                content=dynamic.get(spec.key, spec.content), priority=spec.priority,
                data=dict(spec.data) if spec.data is not None else None,
                ttl=settings.dns.ttl, proxied=False, comment=rec.COMMENT,
                opts=pulumi.ResourceOptions(parent=self))
        return out


def _spec(specs: list[rec.DnsRecordSpec], key: str) -> rec.DnsRecordSpec:
    return next(s for s in specs if s.key == key)
