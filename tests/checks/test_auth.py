"""Authentication checks (pyspf, checkdmarc, DKIM, FCrDNS, HELO, MTA-STS) against the loopback DNS server,
relays greeting on loopback and an HTTPS policy server with a certificate from a test CA."""

from __future__ import annotations

import base64
import dataclasses
import http.server
import ssl
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from coldmail import model as cm
from coldmail.checks import auth
from coldmail.model.records import mta_sts_policy, mta_sts_policy_id, mta_sts_value
from tests.checks.certs import TestCA
from tests.checks.conftest import ADDRESSES, PTRS, make_ctx, reverse, stack_raw, verdicts
from tests.checks.mailservers import Greeter

DOMAINS = ("acme-alpha.com", "acme-beta.io", "acme-gamma.co", "acme-delta.net")


@pytest.fixture
def relays():
    """A greeter per sending IP, each naming the IP's PTR name as a relay's greeting does."""
    started = {n: Greeter(PTRS[n]) for n in PTRS}
    yield started
    for g in started.values():
        g.close()


def ctx_with_relays(zone, stack, mailcow, relays, **kw):
    return make_ctx(zone, stack, mailcow, relays={("mx1", n): g.endpoint for n, g in relays.items()}, **kw)


def all_ok() -> dict[tuple[str, str], str]:
    out = {(f"auth.{c}", f"domain:{d}"): "ok" for d in DOMAINS for c in ("spf", "spf-record", "dmarc", "dkim")}
    out.update({("auth.rua-mx", "domain:ops-test.com"): "ok", ("auth.tlsrpt-mx", "domain:ops-test.com"): "ok"})
    out.update({(f"auth.{c}", f"ip:{a}"): "ok" for a in ADDRESSES.values() for c in ("fcrdns", "helo")})
    return out


def rsa_p(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


def test_a_correct_stack_passes_every_authentication_check(live_zone, stack, mailcow, relays):
    obs = auth.check_auth(ctx_with_relays(live_zone, stack, mailcow, relays))
    assert verdicts(obs) == all_ok()
    by = {(o.check, o.subject): o for o in obs}
    spf = by[("auth.spf", "domain:acme-alpha.com")]
    assert spf.data["own"] == {"203.0.113.11": "pass"} and spf.data["foreign"] == {"192.0.2.1": "fail"}
    assert by[("auth.dkim", "domain:acme-alpha.com")].data == {
        "name": "dkim._domainkey.acme-alpha.com", "bits": 2048, "matches_mailcow": True}
    assert by[("auth.helo", "ip:203.0.113.12")].data["source"] == f"greeting of {relays[2].endpoint[0]}:{relays[2].port}"
    # checkdmarc's note that p=none does not enforce is the phase the stack chose, so it is no warning.
    assert by[("auth.dmarc", "domain:acme-alpha.com")].data["accepted_warnings"]


def test_spf_that_misses_the_own_ip_or_lets_anyone_pass_fails(live_zone, stack, mailcow, relays):
    live_zone.set("acme-alpha.com", "TXT", "v=spf1 ip4:198.51.100.7 -all")
    live_zone.set("acme-beta.io", "TXT", "v=spf1 ip4:203.0.113.11 +all")
    got = verdicts(auth.check_auth(ctx_with_relays(live_zone, stack, mailcow, relays)))
    expected = all_ok()
    expected[("auth.spf", "domain:acme-alpha.com")] = "fail"
    expected[("auth.spf", "domain:acme-beta.io")] = "fail"
    # checkdmarc (the syntax oracle) accepts +all: it is valid syntax; the evaluation above is what fails.
    assert got == expected


def test_softfail_is_what_a_tilde_all_stack_expects_for_a_foreign_ip(zone, mailcow, relays):
    from tests.checks.conftest import dkim_txt, serve_stack

    raw = stack_raw(dns={**stack_raw()["dns"], "spfAll": "~all"})
    soft = cm.load(raw)
    serve_stack(zone, soft, ADDRESSES, dkim_txt(mailcow))
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(zone, soft, mailcow, relays))}
    spf = obs[("auth.spf", "domain:acme-gamma.co")]
    assert (spf.status, spf.data["foreign"]) == ("ok", {"192.0.2.1": "softfail"})


def test_spf_with_too_many_lookups_fails_the_syntax_check(live_zone, stack, mailcow, relays):
    includes = " ".join(f"include:s{i}.example.net" for i in range(11))
    live_zone.set("acme-gamma.co", "TXT", f"v=spf1 ip4:203.0.113.12 {includes} -all")
    for i in range(11):
        live_zone.add(f"s{i}.example.net", "TXT", "v=spf1 -all")
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(live_zone, stack, mailcow, relays))}
    o = obs[("auth.spf-record", "domain:acme-gamma.co")]
    assert (o.status, o.data["dns_lookups"]) == ("fail", 11)
    assert "requires 11/10 maximum DNS lookups" in o.summary


def test_dmarc_weaker_than_the_stack_sets_fails(live_zone, stack, mailcow, relays):
    strict = dataclasses.replace(stack, domains=tuple(dataclasses.replace(d, dmarc_phase="reject")
                                                      if d.name == "acme-delta.net" else d for d in stack.domains))
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(live_zone, strict, mailcow, relays))}
    o = obs[("auth.dmarc", "domain:acme-delta.net")]
    assert (o.status, o.summary) == ("fail", "DMARC policy is p=none, the stack sets p=reject")


def test_dkim_keys_weak_foreign_revoked_or_unverifiable(live_zone, stack, mailcow, relays):
    live_zone.set("dkim._domainkey.acme-alpha.com", "TXT", f"v=DKIM1;k=rsa;p={rsa_p(1024)}")
    live_zone.set("dkim._domainkey.acme-beta.io", "TXT", f"v=DKIM1;k=rsa;p={rsa_p(2048)}")
    live_zone.set("dkim._domainkey.acme-gamma.co", "TXT", "v=DKIM1;k=rsa;p=")
    live_zone.set("dkim._domainkey.acme-delta.net", "TXT", "v=DKIM1;k=rsa;p=bm90IGEga2V5")
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(live_zone, stack, mailcow, relays))}
    assert obs[("auth.dkim", "domain:acme-alpha.com")].status == "fail"
    assert obs[("auth.dkim", "domain:acme-alpha.com")].data["bits"] == 1024
    assert obs[("auth.dkim", "domain:acme-beta.io")].data == {"name": "dkim._domainkey.acme-beta.io", "bits": 2048,
                                                             "matches_mailcow": False}
    assert "revoked" in obs[("auth.dkim", "domain:acme-gamma.co")].summary
    assert "does not parse" in obs[("auth.dkim", "domain:acme-delta.net")].summary


def test_dkim_without_access_to_mailcow_is_unknown_not_ok(live_zone, stack, relays):
    no_key = dataclasses.replace(stack, servers=tuple(dataclasses.replace(s, api_key=None) for s in stack.servers))
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(live_zone, no_key, None, relays))}
    o = obs[("auth.dkim", "domain:acme-alpha.com")]
    assert o.status == "unknown"
    assert "no Mailcow API key for mx1 (set COLDMAIL_MAILCOW_API_KEY_MX1" in o.summary


def test_fcrdns_fails_on_a_wrong_ptr_and_on_a_forward_name_elsewhere(live_zone, stack, mailcow, relays):
    live_zone.set(reverse(ADDRESSES[2]), "PTR", "static.12.113.0.203.clients.your-server.de")
    live_zone.set(PTRS[3], "A", "198.51.100.3")
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(live_zone, stack, mailcow, relays))}
    assert obs[("auth.fcrdns", "ip:203.0.113.12")].summary == (
        "PTR of 203.0.113.12 is static.12.113.0.203.clients.your-server.de, expected mx1-ip2.ops-test.com")
    assert obs[("auth.fcrdns", "ip:203.0.113.13")].summary == "mx1-ip3.ops-test.com resolves to 198.51.100.3, not 203.0.113.13"
    # The relay on ip2 still says its configured name, which now differs from the live PTR.
    assert obs[("auth.helo", "ip:203.0.113.12")].status == "fail"


def test_a_relay_saying_another_helo_than_its_ptr_fails(live_zone, stack, mailcow, relays):
    wrong = Greeter("localhost.localdomain")
    try:
        ctx = make_ctx(live_zone, stack, mailcow, relays={("mx1", 1): wrong.endpoint})
        o = auth.check_helo(ctx, ctx.targets.ips[1])
        assert (o.status, o.summary) == ("fail", "mx1/ip1 says HELO localhost.localdomain but its PTR is "
                                                 "mx1-ip1.ops-test.com")
    finally:
        wrong.close()


def test_without_a_reachable_relay_the_configured_helo_is_compared_and_says_so(live_zone, stack, mailcow):
    ctx = make_ctx(live_zone, stack, mailcow)
    o = auth.check_helo(ctx, ctx.targets.ips[3])
    assert o.status == "ok" and o.data["source"] == "config"
    assert o.summary.endswith("(configured; the on-server agent reads the relay itself)")


def test_report_domains_without_mx_lose_the_reports(live_zone, stack, mailcow, relays):
    live_zone.remove("ops-test.com", "MX")
    obs = {(o.check, o.subject): o for o in auth.check_auth(ctx_with_relays(live_zone, stack, mailcow, relays))}
    assert obs[("auth.rua-mx", "domain:ops-test.com")].summary == "ops-test.com has no MX, so DMARC reports sent to it are lost"
    assert obs[("auth.tlsrpt-mx", "domain:ops-test.com")].status == "fail"


class PolicyServer:
    """HTTPS on 127.0.0.1 serving one MTA-STS policy with a certificate from the test CA."""

    def __init__(self, ca: TestCA, hostname: str, body: str) -> None:
        certfile, keyfile = ca.leaf(hostname, days=90)
        policy = body.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                ok = self.path == "/.well-known/mta-sts.txt"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                if ok:
                    self.wfile.write(policy)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(certfile, keyfile)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("mode, status", [("testing", "ok"), ("enforce", "fail")])
def test_the_mta_sts_policy_is_fetched_over_https_and_compared(zone, mailcow, tmp_path, mode, status):
    raw = stack_raw(dns={**stack_raw()["dns"], "mtaSts": True, "mtaStsMode": "testing"})
    sts = cm.load(raw)
    ca = TestCA(tmp_path)
    served = mta_sts_policy(mode, ["mx1.ops-test.com"])
    server = PolicyServer(ca, "mta-sts.acme-alpha.com", served)
    try:
        zone.add("mta-sts.acme-alpha.com", "A", "127.0.0.1")
        zone.add("_mta-sts.acme-alpha.com", "TXT", mta_sts_value(mta_sts_policy_id(served)))
        ctx = make_ctx(zone, sts, mailcow, https_port=server.port, cafile=ca.cafile)
        target = next(t for t in ctx.targets.domains if t.name == "acme-alpha.com")
        o = auth.check_mta_sts(ctx, target)
        assert o.status == status
        if status == "fail":
            assert o.data["differs"] == ["mode"]
    finally:
        server.close()


def test_an_mta_sts_host_with_an_untrusted_certificate_fails(zone, mailcow, tmp_path):
    sts = cm.load(stack_raw(dns={**stack_raw()["dns"], "mtaSts": True}))
    server = PolicyServer(TestCA(tmp_path), "mta-sts.acme-beta.io", "version: STSv1\r\n")
    try:
        zone.add("mta-sts.acme-beta.io", "A", "127.0.0.1")
        ctx = make_ctx(zone, sts, mailcow, https_port=server.port)  # system CAs only: the test CA is unknown
        o = auth.check_mta_sts(ctx, next(t for t in ctx.targets.domains if t.name == "acme-beta.io"))
        assert o.status == "fail" and "certificate invalid" in o.summary
    finally:
        server.close()
