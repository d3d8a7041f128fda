"""Where DMARC and TLS reports go, and which of those mailboxes the stack makes itself.

By default the reports go to ``dmarc-reports@`` and ``tls-reports@`` the zone of the first server's hostname
(``acme-mailops.com`` for ``mx1.acme-mailops.com``): a zone the stack writes anyway, so it can give it the MX,
SPF and DMARC records that make reports arrive (checkdmarc refuses a ``rua`` whose domain has no MX). Any
address in that zone is a mailbox the stack makes on the server that receives the zone's mail; an address
elsewhere is the owner's to run, and the schema warns that its MX cannot be checked offline.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from .errors import ConfigIssue
from .names import local_part_problem, unicode_domain
from .reader import NAMESPACE
from .types import DmarcConfig, DnsConfig, Domain, Mailbox, Server

DMARC_LOCAL_PART = "dmarc-reports"
TLS_LOCAL_PART = "tls-reports"
#: Aggregate reports are a few KiB each: a GiB holds years of them for hundreds of domains.
REPORT_QUOTA_MB = 1024
REPORT_DOMAIN_DESCRIPTION = "coldmail: DMARC and TLS reports"


def report_zone(servers: Sequence[Server]) -> Optional[str]:
    """The zone of the first server's hostname, where the stack's report mailboxes live."""
    return servers[0].zone if servers else None


def resolve(issues: list[ConfigIssue], servers: Sequence[Server], domains: Sequence[Domain], dmarc: DmarcConfig,
            dns: DnsConfig) -> tuple[DmarcConfig, DnsConfig, Optional[Domain], list[ConfigIssue]]:
    """The report addresses with their defaults filled in, the report domain with the mailboxes the stack makes
    (None when it makes none), and the warnings for addresses outside the stack."""
    zone = report_zone(servers)
    if zone is None:
        return dmarc, dns, None, []
    dmarc = dataclasses.replace(dmarc, rua=dmarc.rua or f"{DMARC_LOCAL_PART}@{zone}")
    dns = dataclasses.replace(dns, tls_rpt_rua=dns.tls_rpt_rua or f"{TLS_LOCAL_PART}@{zone}")
    wanted = [("dmarc.rua", dmarc.rua, "DMARC reports"), ("dmarc.ruf", dmarc.ruf, "DMARC failure reports")]
    if dns.tls_rpt:
        wanted.append(("dns.tlsRptRua", dns.tls_rpt_rua, "TLS reports"))
    boxes: dict[str, str] = {}
    warnings = []
    for path, address, label in wanted:
        if not address:
            continue
        local, _, domain = address.rpartition("@")
        if domain.lower() != zone:
            warnings.append(ConfigIssue(
                f"{NAMESPACE}:{path}", f"{address} is outside the stack: whether its domain has an MX (without one "
                "every report is lost) cannot be checked offline",
                f"`coldmail check auth --stack <stack>` checks it once deployed (auth.rua-mx); or leave it unset to "
                f"have the stack make the mailbox for {label} in {zone}"))
            continue
        why = local_part_problem(local.lower())
        if why:
            issues.append(ConfigIssue(f"{NAMESPACE}:{path}", f"{address}: {local!r} {why}",
                                      f"use the default, {DMARC_LOCAL_PART if 'DMARC' in label else TLS_LOCAL_PART}@{zone}"))
            continue
        boxes.setdefault(local.lower(), label)
    if not boxes:
        return dmarc, dns, None, warnings
    sending = {d.name: d for d in domains}
    hostnames = {h: s for s in servers for h in (s.hostname, *s.ptr_names)}
    if zone in hostnames:
        path = f"{NAMESPACE}:servers[{hostnames[zone].index}].hostname"
        if any(i.path == path for i in issues):  # a hostname refused already: this would only echo it
            return dmarc, dns, None, warnings
        issues.append(ConfigIssue(
            path,
            f"{zone} is both a mail hostname and the domain of the report mailboxes, and Mailcow refuses a domain "
            "that is its hostname (domain_cannot_match_hostname)",
            f"give the server a hostname under {zone} (mx1.{zone}), or set coldmail:dmarc.rua and "
            "coldmail:dns.tlsRptRua to addresses elsewhere"))
        return dmarc, dns, None, warnings
    own = sending.get(zone)
    if own is not None:
        taken = {m.local_part for m in own.mailboxes} & set(boxes)
        for local in sorted(taken):
            issues.append(ConfigIssue(
                f"{NAMESPACE}:domains[{own.index}].mailboxes",
                f"{local}@{zone} is both a sending mailbox and a report mailbox",
                "rename that mailbox, or point coldmail:dmarc.rua / coldmail:dns.tlsRptRua at another local part"))
    first = servers[0]
    report = Domain(
        name=zone, unicode_name=unicode_domain(zone), server=own.server if own else first.name, ip=0, zone=zone,
        zone_id=own.zone_id if own else first.zone_id,
        mailboxes=tuple(Mailbox(lp, label, REPORT_QUOTA_MB, zone) for lp, label in boxes.items()),
        mailbox_quota_mb=REPORT_QUOTA_MB, description=REPORT_DOMAIN_DESCRIPTION, dmarc_phase=dmarc.phase, index=-1)
    return dmarc, dns, report, warnings
