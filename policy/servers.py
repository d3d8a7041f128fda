"""Server rules: memory, firewall, FCrDNS of every sending IP and the relays' HELO names.

Resource rules read a resource's inputs; stack rules read outputs and the resource tree (:mod:`.stack_index`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from coldmail.model import ports, tokens
from coldmail.model.catalogue import MIN_MEMORY_GB, RECOMMENDED_MEMORY_GB, SERVER_TYPES
from coldmail.model.networks import internet_versions
from coldmail.model.secrets import set_secret_command

from .sdk import UNKNOWN, config_schema, config_value, fqdn, known, plain
from .stack_index import StackIndex


def _server_memory(args: ResourceValidationArgs, report_violation: ReportViolation, minimum: int, word: str) -> None:
    if args.resource_type != tokens.HCLOUD_SERVER:
        return
    stype = plain(args.props).get("serverType")
    if not isinstance(stype, str) or stype.lower() not in SERVER_TYPES:
        return
    memory = SERVER_TYPES[stype.lower()][0]
    if memory < minimum:
        family = re.sub(r"\d+$", "", stype.lower())
        bigger = sorted((m, t) for t, (m, _) in SERVER_TYPES.items()
                        if m >= minimum and re.sub(r"\d+$", "", t) == family)
        hint = f" such as {bigger[0][1]} ({bigger[0][0]} GB)" if bigger else ""
        report_violation(
            f"Server {args.name} has serverType {stype} with {memory} GB RAM; Mailcow needs {word} {minimum} GB. "
            f"Set `coldmail:servers[…].serverType` to a bigger type{hint}.", args.urn)


def server_type_min_memory_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Mailcow with ClamAV and Solr does not run in 4 GB: it swaps, then services get OOM-killed."""
    _server_memory(args, report_violation, int(config_value(args, "minMemoryGb", MIN_MEMORY_GB)), "at least")


server_type_min_memory = ResourceValidationPolicy(
    name="server-type-min-memory",
    description=f"The mail server type has at least {MIN_MEMORY_GB} GB of RAM.",
    validate=server_type_min_memory_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(minMemoryGb={"type": "integer", "default": MIN_MEMORY_GB, "minimum": 1}))


def server_type_recommended_memory_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Below 8 GB Mailcow runs but has no headroom for growth or updates."""
    _server_memory(args, report_violation, int(config_value(args, "recommendedMemoryGb", RECOMMENDED_MEMORY_GB)),
                   "a recommended")


server_type_recommended_memory = ResourceValidationPolicy(
    name="server-type-recommended-memory",
    description=f"The mail server type has the recommended {RECOMMENDED_MEMORY_GB} GB of RAM.",
    validate=server_type_recommended_memory_validator, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=config_schema(recommendedMemoryGb={"type": "integer", "default": RECOMMENDED_MEMORY_GB,
                                                     "minimum": 1}))


def _stack_name(urn: str) -> str:
    """The stack of a URN (``urn:pulumi:<stack>::<project>::<type>::<name>``)."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1] if urn.startswith("urn:pulumi:") else ""


def stack_config_secrets_encrypted_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """A credential in clear in ``Pulumi.<stack>.yaml`` is readable by anyone with the file or the repository.

    The pack cannot read the stack file; the program reads which keys the engine marks secret and hands
    the paths of the clear ones to each MailServer as its ``plaintextSecrets`` input.
    """
    if args.resource_type != tokens.MAIL_SERVER:
        return
    paths = plain(args.props).get("plaintextSecrets")
    if not isinstance(paths, list):
        return
    stack = _stack_name(args.urn)
    for path in paths:
        if isinstance(path, str) and known(path):
            report_violation(
                f"{path} is in plain text in Pulumi.{stack or '<stack>'}.yaml, where anyone who can read the file "
                f"or the repository has it. Remove it and store it encrypted: {set_secret_command(path, stack)} "
                "(and rotate it if the file was ever committed).", args.urn)


stack_config_secrets_encrypted = ResourceValidationPolicy(
    name="stack-config-secrets-encrypted",
    description="Every credential in the stack config (provider tokens, SSH key, Mailcow API keys) is a Pulumi secret.",
    validate=stack_config_secrets_encrypted_validator, enforcement_level=EnforcementLevel.MANDATORY)


# --- firewall -----------------------------------------------------------------------------------

def _ports(spec: Any) -> Optional[tuple[int, int]]:
    """An hcloud firewall ``port`` (``"25"``, ``"9000-9100"``, ``"any"``) as an inclusive range."""
    if spec is None or spec is UNKNOWN:
        return None
    text = str(spec).strip().lower()
    if text in ("any", ""):
        return (1, 65535)
    lo, _, hi = text.partition("-")
    try:
        return (int(lo), int(hi or lo))
    except ValueError:
        return None


def _inbound_rules(props: Mapping[str, Any]) -> list[dict]:
    rules = props.get("rules")
    if not isinstance(rules, list):
        return []
    return [r for r in rules if isinstance(r, dict) and str(r.get("direction", "in")).lower() == "in"
            and str(r.get("protocol", "")).lower() in ("tcp", "udp")]


def _sources(rule: Mapping[str, Any]) -> list[str]:
    src = rule.get("sourceIps")
    return [str(s) for s in src if isinstance(s, str)] if isinstance(src, list) else []


def _tcp_sources(rules: list[dict], port: int) -> list[str]:
    """The known sources of every inbound TCP rule that opens ``port``: together, who can reach it."""
    return [s for r in rules if str(r.get("protocol")).lower() == "tcp" and (rng := _ports(r.get("port")))
            and rng[0] <= port <= rng[1] for s in _sources(r)]


def firewall_mail_ports_open_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Closed mail ports mean lost replies and bounces, and clients that cannot fetch mail."""
    if args.resource_type != tokens.FIREWALL:
        return
    props = plain(args.props)
    if not known(props.get("rules")) or not isinstance(props.get("rules"), list):
        return
    rules = _inbound_rules(props)
    if any(not known(r.get("port"), r.get("sourceIps")) for r in rules):
        return
    # Much of the internet reaches mail servers over IPv4 only, so IPv6 alone does not count as open.
    missing = [port for port in ports.MAIL_REQUIRED if 4 not in internet_versions(_tcp_sources(rules, port))]
    if missing:
        report_violation(
            f"Firewall {args.name} does not open TCP {', '.join(map(str, missing))} to the whole IPv4 internet "
            "(0.0.0.0/0): mail to and from this server fails. Add inbound tcp rules for these ports with sourceIps "
            "0.0.0.0/0 and ::/0.", args.urn)


firewall_mail_ports_open = ResourceValidationPolicy(
    name="firewall-mail-ports-open",
    description="The firewall opens SMTP, submission and IMAP ports "
                f"({', '.join(map(str, ports.MAIL_REQUIRED))}) to the world.",
    validate=firewall_mail_ports_open_validator, enforcement_level=EnforcementLevel.MANDATORY)


def firewall_no_internal_ports_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Databases, Redis, rspamd's controller and the Docker API must never be reachable from outside."""
    if args.resource_type != tokens.FIREWALL:
        return
    forbidden = [int(p) for p in config_value(args, "forbiddenPorts", list(ports.INTERNAL))]
    for rule in _inbound_rules(plain(args.props)):
        rng = _ports(rule.get("port"))
        if rng is None:
            continue
        hit = [p for p in forbidden if rng[0] <= p <= rng[1]]
        if hit:
            report_violation(
                f"Firewall {args.name} opens {rule.get('protocol')} port {rule.get('port')} inbound, which exposes "
                f"internal port(s) {', '.join(map(str, hit))} (database, Redis, rspamd, Docker API…). Remove the "
                "rule; reach these services over SSH instead.", args.urn)


firewall_no_internal_ports = ResourceValidationPolicy(
    name="firewall-no-internal-ports",
    description="The firewall never opens database, cache, rspamd or Docker API ports.",
    validate=firewall_no_internal_ports_validator, enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(forbiddenPorts={"type": "array", "items": {"type": "integer"},
                                                "default": list(ports.INTERNAL)}))


def firewall_ssh_restricted_validator(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """SSH open to the internet invites brute force on the one door to root; limit it to admin networks."""
    if args.resource_type != tokens.FIREWALL:
        return
    sources = _tcp_sources(_inbound_rules(plain(args.props)), ports.SSH)
    versions = internet_versions(sources)
    if versions:
        whole = " and ".join(f"IPv{v}" for v in sorted(versions))
        report_violation(
            f"Firewall {args.name} allows SSH (port {ports.SSH}) from the whole {whole} internet (sourceIps "
            f"{', '.join(sources)}). Restrict it with `coldmail:servers[…].adminCidrs` to your admin networks.",
            args.urn)


firewall_ssh_restricted = ResourceValidationPolicy(
    name="firewall-ssh-restricted",
    description="SSH is not open to the whole internet, however the networks are written.",
    validate=firewall_ssh_restricted_validator, enforcement_level=EnforcementLevel.MANDATORY)


# --- reverse DNS and relays ---------------------------------------------------------------------

def fcrdns_complete_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every sending IP needs a PTR whose name resolves back to it (FCrDNS), or Gmail and Yahoo reject."""
    stack = StackIndex(args.resources)
    owners: list[tuple[PolicyResource, Any, str]] = []
    for r, p in stack.of(tokens.FLOATING_IP):
        if str(p.get("type", "ipv4")).lower() == "ipv4":
            owners.append((r, p.get("ipAddress"), "floating IP"))
    for r, p in stack.of(tokens.PRIMARY_IP):
        if str(p.get("type", "ipv4")).lower() == "ipv4":
            owners.append((r, p.get("ipAddress"), "primary IP"))
    primary_ips = {p.get("ipAddress") for _, p in stack.of(tokens.PRIMARY_IP) if known(p.get("ipAddress"))}
    for r, p in stack.of(tokens.HCLOUD_SERVER):
        if p.get("ipv4Address") not in primary_ips:
            owners.append((r, p.get("ipv4Address"), "primary IP of server"))
    rdns = stack.of(tokens.RDNS)
    a_records = stack.records("A")
    owner_keys = ("ipAddress", "floatingIpId", "serverId", "primaryIpId")
    for res, ip, what in owners:
        ip_known = isinstance(ip, str) and known(ip)
        ptrs = [(r, p) for r, p in rdns
                if (known(p.get("ipAddress")) and p.get("ipAddress") == ip)
                or (stack.depends_on(r, owner_keys, res) and (
                    not known(p.get("ipAddress")) or (not ip_known and ":" not in str(p.get("ipAddress")))))]
        if not ptrs:
            if ip_known or not rdns:
                report_violation(
                    f"FCrDNS: {what} {res.name} ({ip if ip_known else 'address pending'}) has no reverse DNS. Add an "
                    "hcloud.Rdns with its PTR name (coldmail:servers[…].ptrNames).", res.urn)
            continue
        for rr, rp in ptrs:
            ptr = fqdn(rp.get("dnsPtr"))
            if not ptr or not known(rp.get("dnsPtr")):
                continue
            matches = [(r, p) for r, p in a_records if fqdn(p.get("name")) == ptr]
            unproxied = [(r, p) for r, p in matches if p.get("proxied") is not True]
            if ip_known:
                good = [m for m in unproxied if m[1].get("content") == ip
                        or (not known(m[1].get("content")) and stack.depends_on(m[0], ("content",), res))]
            else:
                good = unproxied  # the address comes with the update; a record for the name is what we can check
            if good:
                continue
            shown = ", ".join(f"{r.name}={p.get('content')}{' proxied' if p.get('proxied') else ''}"
                              for r, p in matches) or "none"
            report_violation(
                f"FCrDNS: PTR of {what} {res.name} is {ptr}, but {ptr} has no unproxied A record to "
                f"{ip if ip_known else 'that IP'} (A records: {shown}). Add a Cloudflare A record {ptr} → the IP, "
                "DNS only.", rr.urn)


fcrdns_complete = StackValidationPolicy(
    name="fcrdns-complete",
    description="Every primary and floating IPv4 has a PTR whose name has an A record back to that IP.",
    validate=fcrdns_complete_validator, enforcement_level=EnforcementLevel.MANDATORY)


def relay_helo_matches_ptr_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A HELO that differs from the IP's PTR name fails receivers' hostname checks and looks forged."""
    stack = StackIndex(args.resources)
    rdns = stack.of(tokens.RDNS)
    for relay, p in stack.of(tokens.MAILCOW_RELAYHOST):
        ip, helo = p.get("source_ip"), p.get("helo_name")
        if not (isinstance(ip, str) and known(ip) and known(helo)):
            continue
        ptrs = [fqdn(rp.get("dnsPtr")) for _, rp in rdns if rp.get("ipAddress") == ip and known(rp.get("dnsPtr"))]
        if not ptrs:
            report_violation(
                f"Relayhost {relay.name} sends from {ip}, which has no reverse DNS in this stack. Add an hcloud.Rdns "
                f"for {ip} named {helo}.", relay.urn)
        elif fqdn(helo) not in ptrs:
            report_violation(
                f"Relayhost {relay.name} says HELO {helo!r} but {ip} has PTR {ptrs[0]!r}. Set the relay's HELO "
                f"(smtp_helo_name) to {ptrs[0]}.", relay.urn)


relay_helo_matches_ptr = StackValidationPolicy(
    name="relay-helo-matches-ptr",
    description="Each relay's HELO name equals the PTR name of the IP it sends from.",
    validate=relay_helo_matches_ptr_validator, enforcement_level=EnforcementLevel.MANDATORY)
