"""A 170-domain / 3-server / 18-IP stack, every record it registers served from loopback DNS and judged by the
validators receivers use: checkdmarc (DMARC, its report authorisation and the report address's MX), pyspf (SPF
per sending IP) and dkimpy (a signature made with the domain's key verifies against the published TXT).

Mailcow here hands out DKIM as ``SPLIT_DKIM_255=y`` does (already quoted and split), with one real 2048-bit key.
"""

from __future__ import annotations

import base64

import checkdmarc.dmarc
import dkim
import dns.resolver
import pytest
import spf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coldmail import model as cm
from coldmail.model import records as rec
from coldmail.model import tokens
from coldmail.ops.mock_engine import ColdmailMocks, run_program
from program_helpers import MAIN, PlannedDns, engine_config, with_secrets
from tests.support.stacks import ADMIN_CIDR, SSH_PUBLIC_KEY

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption())
DKIM_TXT = f"v=DKIM1;k=rsa;t=s;s=email;p={PUBLIC}"
# What Mailcow answers in get/dkim with SPLIT_DKIM_255=y: quoted 255-byte strings.
SPLIT_DKIM_TXT = " ".join(f'"{DKIM_TXT[i:i + 255]}"' for i in range(0, len(DKIM_TXT), 255))


class SplitDkimMocks(ColdmailMocks):
    def new_resource(self, args):
        rid, outs = super().new_resource(args)
        if args.typ == tokens.MAILCOW_DKIM:
            outs.update(public_key=PUBLIC, txt_value=SPLIT_DKIM_TXT)
        return rid, outs


def raw_170() -> dict:
    servers = [{"name": f"mx{n}", "hostname": f"mx{n}.ops-example.com", "floatingIps": 5, "serverType": "cx52",
                "sshPublicKey": SSH_PUBLIC_KEY, "adminCidrs": [ADMIN_CIDR]} for n in (1, 2, 3)]
    domains = [{"name": f"brand{i:03d}-example.com", "server": f"mx{i % 3 + 1}", "ip": i % 6,
                "mailboxes": {"count": 2, "pattern": "{first}"}} for i in range(170)]
    # No report address set: the stack makes dmarc-reports@ and tls-reports@ops-example.com itself.
    return with_secrets({"servers": servers, "domains": domains, "names": {"firstNames": ["anna", "jonas"],
                                                                            "lastNames": ["berg"]},
                         "dmarc": {"phase": "quarantine"}, "dns": {"tlsRpt": True}})


@pytest.fixture(scope="module")
def planned():
    raw = raw_170()
    stack = cm.load(raw)
    run = run_program(MAIN, config=engine_config(raw), secret_keys=["coldmail:sshPrivateKey", "coldmail:servers"],
                      mocks=SplitDkimMocks())
    assert run.error is None, repr(run.error)
    served = PlannedDns(run)
    yield stack, run, served
    served.close()


def sending_ip(run, stack, domain) -> str:
    ptr = stack.sending_ip(domain).ptr_name
    (ip,) = [r.inputs["ipAddress"] for r in run.of_type(tokens.RDNS)
             if r.inputs["dnsPtr"] == ptr and ":" not in r.inputs["ipAddress"]]
    return ip


def test_the_stack_has_170_domains_on_18_sending_ips_and_no_zone_over_cloudflares_limit(planned):
    stack, run, _ = planned
    assert (len(stack.domains), sum(len(s.sending_ips) for s in stack.servers)) == (170, 18)
    per_zone: dict[str, int] = {}
    zone_of = {**{d.name: d.zone for d in stack.domains}}
    for r in run.of_type(tokens.DNS_RECORD):
        name = r.inputs["name"]
        zone = "ops-example.com" if name.endswith("ops-example.com") else next(
            z for z in zone_of.values() if name == z or name.endswith("." + z))
        per_zone[zone] = per_zone.get(zone, 0) + 1
    # 6 A and 1 AAAA per server; the report domain's MX, SPF and DMARC; one wildcard authorisation.
    assert per_zone.pop("ops-example.com") == 3 * 7 + 3 + 1
    # MX, SPF, DKIM, DMARC, TLS-RPT, autoconfig, autodiscover and 4 SRV.
    assert set(per_zone.values()) == {11} and len(per_zone) == 170
    assert rec.zone_record_counts(stack)["ops-example.com"] == 25


def test_every_domain_passes_dmarc_with_reports_that_can_arrive(planned, monkeypatch):
    stack, _, served = planned
    resolver = served.resolver()
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    failing = {}
    for d in stack.domains:
        result = checkdmarc.dmarc.check_dmarc(d.name, resolver=resolver)
        if not result["valid"] or result["warnings"] or result["tags"]["p"]["value"] != "quarantine":
            failing[d.name] = result.get("error") or result["warnings"]
    assert failing == {}
    assert [(mx.preference, str(mx.exchange)) for mx in resolver.resolve("ops-example.com", "MX")] == \
        [(10, "mx1.ops-example.com.")]


def test_every_domain_passes_spf_from_its_own_ip_and_fails_from_another(planned, monkeypatch):
    stack, run, served = planned
    monkeypatch.setattr(dns.resolver, "default_resolver", served.resolver())
    outcomes = set()
    for d in stack.domains:
        own = sending_ip(run, stack, d)
        other = sending_ip(run, stack, next(x for x in stack.domains if x.ip != d.ip or x.server != d.server))
        outcomes.add((spf.check2(i=own, s=f"anna@{d.name}", h=stack.sending_ip(d).ptr_name)[0],
                      spf.check2(i=other, s=f"anna@{d.name}", h=stack.sending_ip(d).ptr_name)[0]))
    assert outcomes == {("pass", "fail")}


def test_every_domain_passes_dkim_with_mailcows_pre_split_key(planned):
    stack, _, served = planned
    resolver = served.resolver()

    def dnsfunc(name, timeout=5):
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(b"".join(rd.strings) for rd in answer)

    failing = []
    for d in stack.domains:
        message = (f"From: Anna <anna@{d.name}>\r\nTo: seed@example.org\r\nSubject: hello\r\n"
                   f"Message-ID: <1@{d.name}>\r\n\r\nHello.\r\n").encode()
        signed = dkim.sign(message, b"dkim", d.name.encode(), PEM, include_headers=[b"from", b"to", b"subject"])
        if not dkim.verify(signed + message, dnsfunc=dnsfunc):
            failing.append(d.name)
    assert failing == []
