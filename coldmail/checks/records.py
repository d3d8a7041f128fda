"""DNS drift: every record the stack expects, compared with what the zones' authoritative servers serve.

Expected records come from the one renderer the program uses (``coldmail.model.records.domain_records``),
fed with the sending IPs from the stack outputs and the DKIM key from Mailcow. TXT values are compared
as resolvers hand them out (strings concatenated), so a long DKIM key split differently is no drift.
A record is *missing* (fail), *different* (fail), or the name carries *unexpected* mail records beside
it (warn: a second MX, SPF or DMARC record; an MTA-STS, TLS-RPT or autoconfig record the stack does not
manage). Without the sending IP or Mailcow's key the expected value is not known, so that record is
``unknown``.
"""

from __future__ import annotations

import dataclasses

from coldmail.model.records import (DnsRecordSpec, SendingAddresses, domain_records, report_authorizations,
                                    report_zone_records)
from coldmail.ops.history import FAIL, OK, UNKNOWN, WARN, Observation
from coldmail.ops.signals import DNS, domain_subject

from .context import SOURCE, CheckContext
from .resolve import Answer, host
from .targets import DomainTarget, IpTarget

# Stand-ins that let the renderer run while a value is unknown; a record built from one is never compared.
_NO_IP = SendingAddresses(("192.0.2.0",))
_NO_DKIM = "v=DKIM1;k=rsa;p="


def check_records(ctx: CheckContext) -> list[Observation]:
    """One observation per expected record, per host record, and one ``dns.unexpected`` per domain."""
    out: list[Observation] = []
    for server in ctx.targets.servers:
        zone = ctx.stack.server(server.name).zone
        for ip in server.ips:
            out.append(_host_record(ctx, zone, ip))
        if server.ipv6 is not None:
            live = ctx.dns.authoritative(zone, server.hostname, "AAAA")
            out.append(_compare(f"{DNS}.host-aaaa", server.subject, server.hostname, "AAAA", server.ipv6, live))
    for target in ctx.targets.domains:
        out += domain_observations(ctx, target)
    out += report_observations(ctx)
    return out


def report_observations(ctx: CheckContext) -> list[Observation]:
    """The report domain's MX, SPF and DMARC and the report authorisation: without them reports are lost."""
    rd = ctx.stack.report_domain
    specs = list(report_authorizations(ctx.stack))
    server = next((s for s in ctx.targets.servers if rd is not None and s.name == rd.server), None)
    primary = server.address if server is not None else None
    specs = report_zone_records(ctx.stack, SendingAddresses((primary or _NO_IP.ipv4s[0],),
                                                            (server.ipv6,) if server and server.ipv6 else ())) + specs
    out = []
    for spec in specs:
        subject = domain_subject(spec.name.removeprefix("*._report._dmarc.").removeprefix("_dmarc."))
        check = f"{DNS}.{spec.key.rstrip('0123456789').rstrip('-')}"
        if spec.key == "report-spf" and primary is None:
            out.append(Observation(check, subject, UNKNOWN, f"TXT {spec.name}: the address of {rd.server if rd else ''} "
                                   "is unknown (no stack outputs)", SOURCE, data={"name": spec.name, "type": "TXT"}))
            continue
        live = ctx.dns.authoritative(spec.zone or "", spec.name.replace("*", "coldmail-check", 1), spec.type)
        out.append(_compare(check, subject, spec.name, spec.type, _expected_text(spec), live))
    return out


def _host_record(ctx: CheckContext, zone: str, ip: IpTarget) -> Observation:
    check = f"{DNS}.host-a"
    if ip.address is None:
        return Observation(check, ip.subject, UNKNOWN, f"A {ip.ptr_name}: the address of {ip.label} is unknown "
                           "(no stack outputs)", SOURCE, data={"name": ip.ptr_name, "type": "A"})
    return _compare(check, ip.subject, ip.ptr_name, "A", ip.address, ctx.dns.authoritative(zone, ip.ptr_name, "A"))


def expected_records(ctx: CheckContext, target: DomainTarget) -> tuple[list[DnsRecordSpec], dict[str, str]]:
    """The domain's records and, per record key, why its value is unknown (no sending IP, no Mailcow key)."""
    sending = ctx.targets.sending(target)
    key = ctx.mailcow_key(target.name)
    unknown: dict[str, str] = {}
    if sending is None:
        unknown["spf"] = f"the sending IP of {target.ip.label} is unknown (no stack outputs)"
    if key.txt_value is None:
        unknown["dkim"] = f"Mailcow's DKIM key is not known: {key.why}"
    specs = domain_records(ctx.stack, target.domain, sending or _NO_IP, key.txt_value or _NO_DKIM)
    return specs, unknown


def domain_observations(ctx: CheckContext, target: DomainTarget) -> list[Observation]:
    specs, unknown = expected_records(ctx, target)
    out = []
    for spec in specs:
        check = f"{DNS}.{spec.key}"
        zone = spec.zone or target.domain.zone
        live = ctx.dns.authoritative(zone, spec.name, spec.type)
        if spec.key in unknown:
            out.append(Observation(check, target.subject, UNKNOWN, f"{spec.type} {spec.name}: {unknown[spec.key]}",
                                   SOURCE, data={"name": spec.name, "type": spec.type, "live": list(live.values)}))
            continue
        out.append(_compare(check, target.subject, spec.name, spec.type, _expected_text(spec), live))
    out.append(_unexpected(ctx, target, specs))
    return out


def _expected_text(spec: DnsRecordSpec) -> str:
    if spec.type == "MX":
        return f"{spec.priority} {host(spec.content or '')}"
    if spec.type == "SRV":
        d = spec.data or {}
        return f"{d.get('priority', 0)} {d.get('weight', 0)} {d.get('port', 0)} {host(d.get('target', ''))}"
    if spec.type in ("CNAME", "NS", "PTR"):
        return host(spec.content or "")
    return spec.value or ""


def _tag(value: str) -> str:
    """The record family of a TXT value: ``v=spf1``, ``v=dmarc1``, ``v=dkim1``… (else the whole value)."""
    return value.split(";", 1)[0].split(" ", 1)[0].strip().lower()


def _compare(check: str, subject: str, name: str, rtype: str, expected: str, live: Answer) -> Observation:
    data: dict = {"name": name, "type": rtype, "expected": expected, "live": list(live.values), "problem": None}
    where = f"{rtype} {name}"
    if not live.ok:
        return Observation(check, subject, UNKNOWN, f"{where}: {live.error}", SOURCE, data=data)
    values = list(live.values)
    if rtype == "TXT":
        values = [v for v in values if _tag(v) == _tag(expected)]
        data["live"] = values
    if not values:
        data["problem"] = "missing"
        return Observation(check, subject, FAIL, f"{where} is missing", SOURCE, data=data)
    if rtype in ("MX", "A", "AAAA") and expected in values and len(values) > 1:
        extra = [v for v in values if v != expected]
        data["problem"] = "unexpected"
        return Observation(check, subject, WARN, f"{where} also has {', '.join(extra)}", SOURCE, data=data)
    if len(values) > 1:
        data["problem"] = "unexpected"
        return Observation(check, subject, FAIL, f"{where} has {len(values)} records where one is allowed",
                           SOURCE, data=data)
    if values[0] != expected:
        data["problem"] = "different"
        return Observation(check, subject, FAIL, f"{where} is {_short(values[0])}, expected {_short(expected)}",
                           SOURCE, data=data)
    return Observation(check, subject, OK, f"{where} is as expected", SOURCE, data=data)


def _short(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit - 1] + "…")


def _unexpected(ctx: CheckContext, target: DomainTarget, specs: list[DnsRecordSpec]) -> Observation:
    """Mail records the stack would write with every option on, but does not write now, must be absent."""
    every = dataclasses.replace(ctx.stack.dns, mta_sts=True, tls_rpt=True, autoconfig=True)
    full = domain_records(dataclasses.replace(ctx.stack, dns=every), target.domain, _NO_IP, _NO_DKIM)
    managed = {(s.name, s.type) for s in specs}
    found: list[str] = []
    errors: list[str] = []
    for spec in full:
        if (spec.name, spec.type) in managed:
            continue
        live = ctx.dns.authoritative(spec.zone or target.domain.zone, spec.name, spec.type)
        relevant = [v for v in live.values if spec.type != "TXT" or _tag(v) == _tag(spec.value or "")]
        if not live.ok:
            errors.append(f"{spec.type} {spec.name}: {live.error}")
        elif relevant:
            found.append(f"{spec.type} {spec.name}")
    check = f"{DNS}.unexpected"
    data = {"records": found, "errors": errors}
    if found:
        return Observation(check, target.subject, WARN, "records the stack does not manage: " + ", ".join(found),
                           SOURCE, data=data)
    if errors:
        return Observation(check, target.subject, UNKNOWN, "; ".join(errors), SOURCE, data=data)
    return Observation(check, target.subject, OK, "no unmanaged mail records", SOURCE, data=data)

