"""Authentication as a receiver sees it: SPF, DMARC, DKIM, FCrDNS, HELO and MTA-STS.

- ``auth.spf``: pyspf evaluates the domain's SPF for its own sending IP (must pass) and for a foreign
  address from TEST-NET-1 (must fail, or softfail with ``~all``), with the IP's PTR name as HELO.
- ``auth.spf-record`` / ``auth.dmarc``: checkdmarc validates syntax, counts SPF lookups (at most 10)
  and void lookups (at most 2), and checks the DMARC report authorisation of an external ``rua``.
- ``auth.rua-mx`` / ``auth.tlsrpt-mx``: the report addresses' domains accept mail (have MX).
- ``auth.dkim``: the key at the selector parses, is at least 2048 bits and equals Mailcow's key.
- ``auth.fcrdns``: PTR → name → A → the same IP, with the name the stack set.
- ``auth.helo``: the HELO each IP's relay says (read from its greeting where the relay can be reached,
  on the server; else the configured one) equals the IP's live PTR.
- ``auth.mta-sts``: with MTA-STS on, the policy is fetched over HTTPS and matches the stack's.

Every lookup goes through the recursive resolver, as a receiving server's would.
"""

from __future__ import annotations

import base64
import socket
from typing import Optional

from coldmail.model.mailcow import DKIM_MIN_STRONG_BITS
from coldmail.model.records import dkim_name, mta_sts_policy_for
from coldmail.ops.history import FAIL, OK, UNKNOWN, WARN, Observation
from coldmail.ops.signals import AUTH, domain_subject

from .context import SOURCE, CheckContext
from .resolve import Answer
from .smtp import ProtocolError, greeting_name
from .targets import DomainTarget, IpTarget

#: TEST-NET-1 (RFC 5737): never a sender of anybody's mail, so every SPF must reject it.
FOREIGN_IP = "192.0.2.1"
MAX_VOID_LOOKUPS = 2


def _obs(check: str, subject: str, status: str, summary: str, **data) -> Observation:
    return Observation(f"{AUTH}.{check}", subject, status, summary, SOURCE, data=data)


# --------------------------------------------------------------------------------------------
# SPF evaluation (pyspf) with the run's resolver
# --------------------------------------------------------------------------------------------

def _spf_query_class():
    import spf

    class Query(spf.query):
        """pyspf's evaluation, its DNS answered by the run's resolver instead of the system's."""

        def __init__(self, *args, lookup, **kwargs):
            self._lookup = lookup
            super().__init__(*args, **kwargs)

        def dns(self, name, qtype, cnames=None, ignore_void=False):
            ans: Answer = self._lookup(name, "TXT" if qtype == "SPF" else qtype)
            if not ans.ok:
                raise spf.TempError(f"DNS {ans.error}")
            if qtype in ("TXT", "SPF"):
                result = [(v.encode(),) for v in ans.values]
            elif qtype == "MX":
                result = [(int(v.split()[0]), v.split()[1]) for v in ans.values]
            else:
                result = list(ans.values)
            if not result and not ignore_void:
                self.void_lookups += 1
                if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                    raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
            return result

    return Query


def spf_result(ctx: CheckContext, ip: str, domain: str, helo: str) -> tuple[str, str]:
    """pyspf's ``(result, explanation)`` for mail from ``postmaster@domain`` sent by ``ip``."""
    query = _spf_query_class()(i=ip, s=f"postmaster@{domain}", h=helo, lookup=ctx.dns.lookup,
                               querytime=ctx.timeout * 4)
    result, _code, explanation = query.check()
    return result, explanation


def check_spf(ctx: CheckContext, target: DomainTarget) -> Observation:
    sending = ctx.targets.sending(target)
    expect_foreign = "fail" if ctx.stack.dns.spf_all == "-all" else "softfail"
    if sending is None:
        return _obs("spf", target.subject, UNKNOWN, f"the sending IP of {target.ip.label} is unknown (no stack outputs)")
    own = {ip: spf_result(ctx, ip, target.name, target.ip.ptr_name)[0] for ip in (*sending.ipv4s, *sending.ipv6s)}
    foreign = spf_result(ctx, FOREIGN_IP, target.name, target.ip.ptr_name)[0]
    data = {"own": own, "foreign": {FOREIGN_IP: foreign}, "expected_foreign": expect_foreign}
    if any(r in ("temperror",) for r in (*own.values(), foreign)):
        return _obs("spf", target.subject, UNKNOWN, "SPF could not be evaluated (DNS failure)", **data)
    bad = [f"{ip} gets {r}" for ip, r in own.items() if r != "pass"]
    if bad:
        return _obs("spf", target.subject, FAIL, f"SPF does not pass the domain's own IP: {'; '.join(bad)}", **data)
    if foreign != expect_foreign:
        return _obs("spf", target.subject, FAIL,
                    f"SPF gives a foreign IP {foreign} instead of {expect_foreign}", **data)
    return _obs("spf", target.subject, OK,
                f"SPF passes {', '.join(own)} and {expect_foreign}s a foreign IP", **data)


# --------------------------------------------------------------------------------------------
# checkdmarc: SPF and DMARC syntax, lookups, report authorisation
# --------------------------------------------------------------------------------------------

def check_spf_record(ctx: CheckContext, target: DomainTarget) -> Observation:
    from checkdmarc.spf import check_spf as cd_check_spf

    r = cd_check_spf(target.name, resolver=ctx.dns.recursive, timeout=ctx.timeout, retries=0)
    data = {"record": r.get("record"), "dns_lookups": r.get("dns_lookups"),
            "void_dns_lookups": r.get("void_dns_lookups"), "warnings": list(r.get("warnings") or [])}
    if not r.get("valid"):
        err = str(r.get("error") or "invalid")
        status = UNKNOWN if _is_dns_failure(err) else FAIL
        return _obs("spf-record", target.subject, status, f"SPF record: {err}", **data, error=err)
    if (r.get("void_dns_lookups") or 0) > MAX_VOID_LOOKUPS:
        return _obs("spf-record", target.subject, FAIL, f"SPF causes {r['void_dns_lookups']} void lookups "
                    f"(at most {MAX_VOID_LOOKUPS})", **data)
    if data["warnings"]:
        return _obs("spf-record", target.subject, WARN, "SPF record: " + "; ".join(data["warnings"]), **data)
    return _obs("spf-record", target.subject, OK, f"SPF record valid, {r.get('dns_lookups', 0)}/10 DNS lookups", **data)


def check_dmarc(ctx: CheckContext, target: DomainTarget) -> Observation:
    from checkdmarc.dmarc import check_dmarc as cd_check_dmarc

    r = cd_check_dmarc(target.name, resolver=ctx.dns.recursive, timeout=ctx.timeout, retries=0)
    tags = r.get("tags") or {}
    policy = (tags.get("p") or {}).get("value") if isinstance(tags.get("p"), dict) else None
    warnings = [str(w) for w in r.get("warnings") or []]
    # p=none is a phase the stack chose (it starts there and tightens later), not a finding.
    chosen = [w for w in warnings if policy == target.domain.dmarc_phase == "none" and "p tag value of none" in w]
    data = {"record": r.get("record"), "location": r.get("location"), "policy": policy,
            "expected_policy": target.domain.dmarc_phase,
            "warnings": [w for w in warnings if w not in chosen], "accepted_warnings": chosen}
    if not r.get("valid"):
        err = str(r.get("error") or "invalid")
        status = UNKNOWN if _is_dns_failure(err) else FAIL
        return _obs("dmarc", target.subject, status, f"DMARC: {err}", **data, error=err)
    if policy != target.domain.dmarc_phase:
        return _obs("dmarc", target.subject, FAIL,
                    f"DMARC policy is p={policy}, the stack sets p={target.domain.dmarc_phase}", **data)
    if data["warnings"]:
        return _obs("dmarc", target.subject, WARN, "DMARC: " + "; ".join(data["warnings"]), **data)
    return _obs("dmarc", target.subject, OK, f"DMARC valid, p={policy}", **data)


def _is_dns_failure(text: str) -> bool:
    t = text.lower()
    return any(w in t for w in ("timed out", "timeout", "servfail", "no nameservers", "temporary"))


def check_report_mx(ctx: CheckContext) -> list[Observation]:
    """The rua (and TLS-RPT) addresses' domains have MX, or reports go nowhere."""
    wanted: dict[str, set[str]] = {}
    wanted.setdefault(ctx.stack.dmarc.rua.rsplit("@", 1)[-1].lower(), set()).add("rua-mx")
    if ctx.stack.dns.tls_rpt:
        rua = ctx.stack.dns.tls_rpt_rua or ctx.stack.dmarc.rua
        wanted.setdefault(rua.rsplit("@", 1)[-1].lower(), set()).add("tlsrpt-mx")
    out = []
    for domain, checks in sorted(wanted.items()):
        mx = ctx.dns.lookup(domain, "MX")
        for check in sorted(checks):
            what = "DMARC reports" if check == "rua-mx" else "TLS reports"
            if not mx.ok:
                out.append(_obs(check, domain_subject(domain), UNKNOWN, f"MX of {domain}: {mx.error}"))
            elif not mx.values:
                out.append(_obs(check, domain_subject(domain), FAIL,
                                f"{domain} has no MX, so {what} sent to it are lost", mx=[]))
            else:
                out.append(_obs(check, domain_subject(domain), OK, f"{domain} accepts {what} (MX {', '.join(mx.values)})",
                                mx=list(mx.values)))
    return out


# --------------------------------------------------------------------------------------------
# DKIM
# --------------------------------------------------------------------------------------------

def _tags(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(";"):
        k, sep, v = part.strip().partition("=")
        if sep:
            out[k.strip().lower()] = "".join(v.split())
    return out


def key_bits(p: str) -> int:
    """The size of an RSA public key given as DKIM's base64 ``p=``.

    :raises ValueError: it does not decode to an RSA public key.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(base64.b64decode(p, validate=True))
    except Exception as exc:  # noqa: BLE001 - binascii, ValueError, UnsupportedAlgorithm: all "does not parse"
        raise ValueError(f"the key does not parse ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"the key is not RSA but {type(key).__name__}")
    return key.key_size


def check_dkim(ctx: CheckContext, target: DomainTarget) -> Observation:
    name = dkim_name(ctx.stack.dkim.selector, target.name)
    live = ctx.dns.lookup(name, "TXT")
    if not live.ok:
        return _obs("dkim", target.subject, UNKNOWN, f"TXT {name}: {live.error}", name=name)
    records = [v for v in live.values if "p=" in v]
    if not records:
        return _obs("dkim", target.subject, FAIL, f"no DKIM key at {name}", name=name)
    if len(records) > 1:
        return _obs("dkim", target.subject, FAIL, f"{len(records)} DKIM records at {name}; receivers need one",
                    name=name)
    p = _tags(records[0]).get("p", "")
    if not p:
        return _obs("dkim", target.subject, FAIL, f"the DKIM key at {name} is revoked (empty p=)", name=name)
    try:
        bits = key_bits(p)
    except ValueError as exc:
        return _obs("dkim", target.subject, FAIL, f"DKIM key at {name}: {exc}", name=name)
    data = {"name": name, "bits": bits}
    if bits < DKIM_MIN_STRONG_BITS:
        return _obs("dkim", target.subject, FAIL, f"the DKIM key at {name} has {bits} bits; at least "
                    f"{DKIM_MIN_STRONG_BITS} are needed", **data)
    mailcow = ctx.mailcow_key(target.name)
    if mailcow.public_key is None:
        return _obs("dkim", target.subject, UNKNOWN, f"DKIM key at {name} parses ({bits} bits); Mailcow's key "
                    f"is not known: {mailcow.why}", **data)
    if "".join(mailcow.public_key.split()) != p:
        return _obs("dkim", target.subject, FAIL, f"the DKIM key at {name} is not Mailcow's: mail signed by Mailcow "
                    "fails DKIM", **data, matches_mailcow=False)
    return _obs("dkim", target.subject, OK, f"DKIM key at {name}: {bits} bits, equals Mailcow's", **data,
                matches_mailcow=True)


# --------------------------------------------------------------------------------------------
# FCrDNS and HELO
# --------------------------------------------------------------------------------------------

def check_fcrdns(ctx: CheckContext, ip: IpTarget) -> Observation:
    if ip.address is None:
        return _obs("fcrdns", ip.subject, UNKNOWN, f"the address of {ip.label} is unknown (no stack outputs)")
    ptr = ctx.dns.ptr(ip.address)
    data = {"address": ip.address, "expected_ptr": ip.ptr_name, "ptr": list(ptr.values)}
    if not ptr.ok:
        return _obs("fcrdns", ip.subject, UNKNOWN, f"PTR of {ip.address}: {ptr.error}", **data)
    if not ptr.values:
        return _obs("fcrdns", ip.subject, FAIL, f"{ip.address} has no PTR (expected {ip.ptr_name})", **data)
    if ip.ptr_name not in ptr.values:
        return _obs("fcrdns", ip.subject, FAIL, f"PTR of {ip.address} is {', '.join(ptr.values)}, expected "
                    f"{ip.ptr_name}", **data)
    a = ctx.dns.lookup(ip.ptr_name, "A" if ":" not in ip.address else "AAAA")
    data["forward"] = list(a.values)
    if not a.ok:
        return _obs("fcrdns", ip.subject, UNKNOWN, f"A of {ip.ptr_name}: {a.error}", **data)
    if ip.address not in a.values:
        return _obs("fcrdns", ip.subject, FAIL, f"{ip.ptr_name} resolves to {', '.join(a.values) or 'nothing'}, "
                    f"not {ip.address}", **data)
    if len(ptr.values) > 1:
        return _obs("fcrdns", ip.subject, WARN, f"{ip.address} has {len(ptr.values)} PTR records", **data)
    return _obs("fcrdns", ip.subject, OK, f"{ip.address} → {ip.ptr_name} → {ip.address}", **data)


def relay_helo(ctx: CheckContext, ip: IpTarget) -> tuple[Optional[str], str, Optional[str]]:
    """``(helo, where it was read, error)``: the relay's greeting when reachable, else the configured name."""
    endpoint = ctx.relays.get((ip.server, ip.index))
    if endpoint is None and ip.index == 0 and ip.address is not None:
        endpoint = (ip.address, ctx.port(25))
    if endpoint is None:
        return ip.ptr_name, "config", None
    try:
        return greeting_name(endpoint[0], endpoint[1], ctx.timeout), f"greeting of {endpoint[0]}:{endpoint[1]}", None
    except (OSError, ProtocolError) as exc:
        return None, f"greeting of {endpoint[0]}:{endpoint[1]}", str(exc) or type(exc).__name__


def check_helo(ctx: CheckContext, ip: IpTarget) -> Observation:
    if ip.address is None:
        return _obs("helo", ip.subject, UNKNOWN, f"the address of {ip.label} is unknown (no stack outputs)")
    helo, source, error = relay_helo(ctx, ip)
    data = {"helo": helo, "source": source}
    if helo is None:
        return _obs("helo", ip.subject, UNKNOWN, f"HELO of {ip.label} not read ({source}: {error})", **data)
    ptr = ctx.dns.ptr(ip.address)
    data["ptr"] = list(ptr.values)
    if not ptr.ok:
        return _obs("helo", ip.subject, UNKNOWN, f"PTR of {ip.address}: {ptr.error}", **data)
    said = "is configured to say" if source == "config" else "says"
    if helo not in ptr.values:
        return _obs("helo", ip.subject, FAIL, f"{ip.label} {said} HELO {helo} but its PTR is "
                    f"{', '.join(ptr.values) or 'missing'}", **data)
    where = " (configured; the on-server agent reads the relay itself)" if source == "config" else ""
    return _obs("helo", ip.subject, OK, f"HELO {helo} equals the PTR of {ip.address}{where}", **data)


# --------------------------------------------------------------------------------------------
# MTA-STS
# --------------------------------------------------------------------------------------------

def https_get(ctx: CheckContext, hostname: str, path: str) -> tuple[int, str]:
    """GET ``https://hostname/path`` with the run's resolver and certificate checks; ``(status, body)``."""
    a = ctx.dns.lookup(hostname, "A")
    if not a.values:
        raise OSError(f"{hostname} does not resolve ({a.error or 'no A record'})")
    with socket.create_connection((a.values[0], ctx.https_port), timeout=ctx.timeout) as raw:
        with ctx.tls_context().wrap_socket(raw, server_hostname=hostname) as tls:
            tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {hostname}\r\nUser-Agent: coldmail-check\r\n\r\n".encode())
            chunks = []
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if sum(map(len, chunks)) > 65536:
                    raise OSError("the policy is larger than 64 KiB (RFC 8461 allows 64 KiB)")
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response: {status_line[:60]!r}")
    return int(parts[1]), body.decode("utf-8", "replace")


def _policy_fields(text: str) -> dict[str, object]:
    fields: dict[str, object] = {"mx": []}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "mx":
            fields["mx"].append(value.lower())  # type: ignore[union-attr]
        else:
            fields[key] = value
    fields["mx"] = sorted(fields["mx"])  # type: ignore[arg-type]
    return fields


def check_mta_sts(ctx: CheckContext, target: DomainTarget) -> Observation:
    import ssl

    from checkdmarc.mta_sts import MTASTSPolicyError, parse_mta_sts_policy

    host = f"mta-sts.{target.name}"
    expected = mta_sts_policy_for(ctx.stack, target.domain)
    try:
        status, body = https_get(ctx, host, "/.well-known/mta-sts.txt")
    except ssl.SSLCertVerificationError as exc:
        return _obs("mta-sts", target.subject, FAIL, f"https://{host}: certificate invalid ({exc.verify_message})")
    except (OSError, ssl.SSLError) as exc:
        return _obs("mta-sts", target.subject, FAIL, f"https://{host}/.well-known/mta-sts.txt not fetched: {exc}")
    if status != 200:
        return _obs("mta-sts", target.subject, FAIL, f"https://{host}/.well-known/mta-sts.txt answered HTTP {status}")
    try:
        parse_mta_sts_policy(body)
    except MTASTSPolicyError as exc:
        return _obs("mta-sts", target.subject, FAIL, f"the MTA-STS policy is invalid: {exc}", policy=body)
    live, want = _policy_fields(body), _policy_fields(expected)
    diff = sorted(k for k in set(live) | set(want) if live.get(k) != want.get(k))
    data = {"policy": body, "expected": expected, "differs": diff}
    if diff:
        return _obs("mta-sts", target.subject, FAIL, "the MTA-STS policy differs from the stack's in "
                    + ", ".join(diff), **data)
    return _obs("mta-sts", target.subject, OK, f"MTA-STS policy matches (mode {want.get('mode')})", **data)


def check_auth(ctx: CheckContext) -> list[Observation]:
    from checkdmarc.utils import DNS_CACHE

    # checkdmarc caches answers process-wide by name, whichever resolver asked: a run (and every hourly
    # run of the agent) must see the DNS as it is now.
    DNS_CACHE.clear()
    out: list[Observation] = []
    for target in ctx.targets.domains:
        out += [check_spf(ctx, target), check_spf_record(ctx, target), check_dmarc(ctx, target),
                check_dkim(ctx, target)]
        if ctx.stack.dns.mta_sts:
            out.append(check_mta_sts(ctx, target))
    out += check_report_mx(ctx)
    for ip in ctx.targets.ips:
        out += [check_fcrdns(ctx, ip), check_helo(ctx, ip)]
    return out
