"""DNS rules: mail records never proxied, SPF valid, single and covering the sending IP, DMARC present.

Resource rules read a record's inputs; stack rules read outputs and the resource tree (:mod:`.stack_index`).
"""

from __future__ import annotations

import datetime as _dt
import re

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from coldmail.model import tokens
from coldmail.model.records import (MTA_STS_MIN_TESTING_DAYS, SPF_MAX_LOOKUPS, dmarc_tags, is_spf,
                                    mta_sts_enforce_problem, spf_covers, spf_lookup_terms)

from .sdk import config_schema, config_value, fqdn, known, plain, txt_of
from .stack_index import StackIndex

#: First labels of names that are mail hosts: their A/AAAA/CNAME must resolve to the mail server itself.
# PTR names such as mx1-ip2.<zone> match too; any other proxied host record of a sending IP is caught
# by fcrdns-complete, which wants an unproxied A record for every PTR name.
DEFAULT_MAIL_HOST_PATTERN = r"^(mx|mail|smtp|imap|pop3?|autoconfig|autodiscover|mta-sts)[a-z0-9-]*\."


def mail_dns_not_proxied_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Mail records behind Cloudflare's proxy resolve to Cloudflare, which neither takes SMTP nor has our PTR."""
    if args.resource_type != tokens.DNS_RECORD:
        return
    props = plain(args.props)
    if props.get("proxied") is not True:
        return
    rtype = str(props.get("type", "")).upper()
    name = fqdn(props.get("name"))
    pattern = re.compile(config_value(args, "mailHostPattern", DEFAULT_MAIL_HOST_PATTERN), re.IGNORECASE)
    first_label = name.split(".", 1)[0]
    is_mail = (rtype in ("MX", "TXT", "SRV")
               or (rtype in ("A", "AAAA", "CNAME") and bool(pattern.match(name + ".")))
               or first_label in ("_dmarc", "_domainkey", "_mta-sts", "_smtp") or "._domainkey." in name)
    if is_mail:
        report_violation(
            f"DNS record {args.name} ({rtype} {name}) has proxied=true: mail records behind Cloudflare's proxy "
            "resolve to Cloudflare, which takes no SMTP and breaks FCrDNS. Set proxied=false (DNS only).",
            args.urn)


mail_dns_not_proxied = ResourceValidationPolicy(
    name="mail-dns-not-proxied",
    description="Mail DNS records (MX, mail hosts, SPF, DKIM, DMARC, autoconfig, SRV) are DNS only, never proxied.",
    validate=mail_dns_not_proxied_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(mailHostPattern={
        "type": "string", "default": DEFAULT_MAIL_HOST_PATTERN,
        "description": "Regex on an A/AAAA/CNAME name that marks a mail host."}))


def spf_record_valid_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """One SPF record must parse, end with a hard or soft fail and stay within RFC 7208's 10 lookups."""
    if args.resource_type != tokens.DNS_RECORD:
        return
    props = plain(args.props)
    text = txt_of(props)
    if text is None or not is_spf(text):
        return
    name = fqdn(props.get("name"))
    where = f"SPF record {args.name} ({name})"
    if not text.lower().startswith("v=spf1 ") and text.lower() != "v=spf1":
        report_violation(f"{where} is {text!r}: it must start with 'v=spf1 ' or receivers ignore it. "
                         "Put 'v=spf1' first.", args.urn)
        return
    last = text.split()[-1].lower()
    if last not in ("-all", "~all"):
        report_violation(f"{where} ends with {last!r}: end it with '-all' (or '~all' while testing) so other "
                         "hosts cannot send as this domain.", args.urn)
    lookups = spf_lookup_terms(text)
    if lookups > SPF_MAX_LOOKUPS:
        report_violation(f"{where} needs {lookups} DNS lookups (include, a, mx, ptr, exists, redirect), more than "
                         f"the {SPF_MAX_LOOKUPS} RFC 7208 allows (permerror). List sending IPs as ip4: terms, which "
                         "cost no lookup, and drop includes.", args.urn)


spf_record_valid = ResourceValidationPolicy(
    name="spf-record-valid",
    description=f"An SPF record starts with v=spf1, ends with -all or ~all and needs at most {SPF_MAX_LOOKUPS} "
                "DNS lookups.",
    validate=spf_record_valid_validator, enforcement_level=EnforcementLevel.MANDATORY)


def dmarc_enforced_after_warmup_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """``p=none`` only monitors; once warmup ends, receivers expect quarantine or reject."""
    if args.resource_type != tokens.DNS_RECORD:
        return
    props = plain(args.props)
    text = txt_of(props)
    name = fqdn(props.get("name"))
    if text is None or not name.startswith("_dmarc.") or "v=dmarc1" not in text.lower():
        return
    if dmarc_tags(text).get("p", "").lower() != "none":
        return
    end = config_value(args, "warmupEndDate", None)
    today = config_value(args, "today", None) or _dt.date.today().isoformat()
    if not end or str(today) <= str(end):
        return
    domain = name[len("_dmarc."):]
    report_violation(
        f"DMARC record {args.name} ({name}) still has p=none although warmup ended on {end}: move to "
        f"`coldmail:domains[…].dmarcPhase: quarantine` (then reject) for {domain}.", args.urn)


dmarc_enforced_after_warmup = ResourceValidationPolicy(
    name="dmarc-enforced-after-warmup",
    description="DMARC p=none is used only during warmup.",
    validate=dmarc_enforced_after_warmup_validator, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=config_schema(
        warmupEndDate={"type": "string", "format": "date",
                       "description": "Day the warmup ends (YYYY-MM-DD); unset means warming."},
        today={"type": "string", "format": "date", "description": "Override of today's date, for reproducible runs."}))


def mta_sts_enforce_after_testing_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """``enforce`` only after the policy has been served in ``testing`` (``testing_since``, from the config).

    A sender caches an enforced policy for ``max_age`` (a week) and refuses to deliver over any TLS failure in
    that time: a certificate that lacks ``mta-sts.<domain>`` or the MX name, or an MX missing from the policy,
    then bounces mail for days. In ``testing`` the same failures only show up in the TLS reports, so they can be
    fixed first. The engine hands a policy only the planned inputs, never the resource's history, so the
    config records when testing began (``coldmail:dns.mtaStsTestingSince``) and the MTA-STS resource carries it.
    """
    if args.resource_type != tokens.MAILCOW_MTA_STS:
        return
    props = plain(args.props)
    mode = props.get("mode")
    if not known(mode) or mode != "enforce":
        return
    raw = props.get("testing_since")
    today = _dt.date.fromisoformat(str(config_value(args, "today", None) or _dt.date.today().isoformat()))
    try:
        since = _dt.date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        since = None
    why = mta_sts_enforce_problem(mode, since, today)
    if why:
        report_violation(
            f"MTA-STS policy {args.name} ({props.get('domain')}) is set to enforce, but {why}. Senders cache an "
            f"enforced policy for max_age and then refuse mail over any TLS fault, so serve mode testing for "
            f"{MTA_STS_MIN_TESTING_DAYS} days first, read the TLS reports (coldmail reports summary), and set "
            "coldmail:dns.mtaStsTestingSince to the day testing began.", args.urn)


mta_sts_enforce_after_testing = ResourceValidationPolicy(
    name="mta-sts-enforce-after-testing",
    description=f"An MTA-STS policy enforces only after {MTA_STS_MIN_TESTING_DAYS} days in testing mode.",
    validate=mta_sts_enforce_after_testing_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(
        today={"type": "string", "format": "date", "description": "Override of today's date, for reproducible runs."}))


def spf_single_record_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Two ``v=spf1`` records on one name are a permerror: receivers treat the domain as having no SPF."""
    stack = StackIndex(args.resources)
    seen: dict[tuple[str, str], list[PolicyResource]] = {}
    for r, p in stack.records("TXT"):
        text = txt_of(p)
        if text is not None and is_spf(text):
            zone = p.get("zoneId") if known(p.get("zoneId")) else ""
            seen.setdefault((str(zone), stack.record_fqdn(r, p)), []).append(r)
    for (_, name), recs in seen.items():
        if len(recs) > 1:
            names = ", ".join(r.name for r in recs)
            for r in recs[1:]:
                report_violation(
                    f"SPF: {name} has {len(recs)} v=spf1 TXT records ({names}); RFC 7208 makes that a permerror. "
                    f"Merge them into one record and delete {r.name}.", r.urn)


spf_single_record = StackValidationPolicy(
    name="spf-single-record",
    description="Each DNS name has at most one SPF record.",
    validate=spf_single_record_validator, enforcement_level=EnforcementLevel.MANDATORY)


def spf_includes_sending_ip_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A domain's SPF must authorize the IP its mail actually leaves from, or every message fails SPF."""
    stack = StackIndex(args.resources)
    for dom, props in stack.of(tokens.MAILCOW_DOMAIN):
        domain = fqdn(props.get("domain"))
        rid = props.get("relayhost_id")
        if not domain:
            continue
        if str(rid) in ("0", "") or rid is None:
            _, ip = stack.primary_ip(str(props.get("server") or ""), props.get("api_url"))
            via = "the server's primary IP (relayhost 0)"
        else:
            relay = stack.relayhost_of(dom, props)
            if relay is None:
                continue
            ip = relay[1].get("source_ip")
            via = f"relayhost {relay[0].name}"
        if not isinstance(ip, str) or not known(ip):
            continue
        spf = [(r, t) for r, t in stack.txt_at(domain) if t is None or is_spf(t)]
        if not spf:
            report_violation(
                f"Domain {domain} ({dom.name}) has no SPF record; its mail leaves from {ip} via {via}. Add a TXT "
                f"record at {domain}: 'v=spf1 ip4:{ip} -all'.", dom.urn)
            continue
        for rec, text in spf:
            if text is None or not known(text):
                continue
            if not spf_covers(text, ip):
                report_violation(
                    f"SPF record {rec.name} for {domain} is {text!r} and does not authorize {ip}, the IP its mail "
                    f"leaves from via {via}. Add 'ip{6 if ':' in ip else 4}:{ip}' before the 'all' term.", rec.urn)


spf_includes_sending_ip = StackValidationPolicy(
    name="spf-includes-sending-ip",
    description="Each domain's SPF record authorizes the IP its mail leaves from.",
    validate=spf_includes_sending_ip_validator, enforcement_level=EnforcementLevel.MANDATORY)


def dmarc_record_present_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Gmail, Yahoo and Microsoft require DMARC for bulk senders, and rua= is how you learn it is broken."""
    stack = StackIndex(args.resources)
    for dom, props in stack.of(tokens.MAILCOW_DOMAIN):
        domain = fqdn(props.get("domain"))
        if not domain:
            continue
        found = stack.txt_at(f"_dmarc.{domain}")
        if not found:
            report_violation(
                f"Domain {domain} ({dom.name}) has no DMARC record. Add a TXT at _dmarc.{domain}: "
                "'v=DMARC1; p=none; rua=mailto:<reports address>' (coldmail:dmarc.rua).", dom.urn)
            continue
        for rec, text in found:
            if text is None:
                continue
            low = text.lower()
            if "v=dmarc1" not in low or "rua=" not in low:
                report_violation(
                    f"DMARC record {rec.name} for {domain} is {text!r}: it needs 'v=DMARC1' and an 'rua=mailto:' "
                    "address to receive aggregate reports. Set coldmail:dmarc.rua.", rec.urn)


dmarc_record_present = StackValidationPolicy(
    name="dmarc-record-present",
    description="Every sending domain has a DMARC record with an rua= report address.",
    validate=dmarc_record_present_validator, enforcement_level=EnforcementLevel.MANDATORY)
