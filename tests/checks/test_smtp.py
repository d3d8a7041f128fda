"""SMTP/TLS checks against real servers on loopback (aiosmtpd, a TLS IMAP greeter) with certificates
made by ``cryptography``: valid, expired, for another name, expiring soon; outbound port 25 to a sink."""

from __future__ import annotations

import logging

import pytest

from coldmail.checks import smtp
from coldmail.ops.history import utcnow
from tests.checks.certs import TestCA
from tests.checks.conftest import make_ctx, outputs_for, verdicts, with_checks
from tests.checks.mailservers import Greeter, MailEndpoints, free_port

HOST = "mx1.ops-test.com"
SERVER_SUBJECT = "server:mx1"
ON_LOOPBACK = {0: "127.0.0.1", 1: "127.0.0.11", 2: "127.0.0.12", 3: "127.0.0.13"}


@pytest.fixture(autouse=True)
def quiet_aiosmtpd():
    # aiosmtpd logs every refused handshake with a traceback; the checks' verdicts are what is tested.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path)


@pytest.fixture
def endpoints():
    started = []

    def start(certfile, keyfile, **kw):
        ep = MailEndpoints(certfile, keyfile, **kw)
        started.append(ep)
        return ep

    yield start
    for ep in started:
        ep.close()


def run_server(zone, stack, ca, ep):
    ctx = make_ctx(zone, stack, outputs=outputs_for(ON_LOOPBACK), ports=ep.ports, cafile=ca.cafile, now=utcnow)
    obs = smtp.check_server(ctx, ctx.targets.servers[0])
    return verdicts(obs), {o.check: o for o in obs}


PORTS_OK = {(f"smtp.port-{p}", SERVER_SUBJECT): "ok" for p in (25, 465, 587, 993)}


def test_a_valid_certificate_on_every_port_is_ok_with_days_to_expiry(zone, stack, ca, endpoints):
    ep = endpoints(*ca.leaf(HOST, days=90))
    got, by = run_server(zone, stack, ca, ep)
    assert got == {**PORTS_OK, ("tls.certificate", SERVER_SUBJECT): "ok", ("tls.expiry", SERVER_SUBJECT): "ok"}
    assert by["smtp.port-25"].data["starttls"] is True
    assert by["smtp.port-25"].data["banner"].startswith(HOST)
    assert by["smtp.port-993"].data["banner"].startswith("* OK")
    assert 89 <= by["tls.expiry"].value <= 90 and by["tls.expiry"].data["band"] == "ok"
    assert sorted(by["tls.certificate"].data["ports"]) == ["25", "465", "587", "993"]


def test_an_expired_certificate_fails_and_still_reports_when_it_expired(zone, stack, ca, endpoints):
    ep = endpoints(*ca.leaf(HOST, expired=True))
    got, by = run_server(zone, stack, ca, ep)
    assert got == {**PORTS_OK, ("tls.certificate", SERVER_SUBJECT): "fail", ("tls.expiry", SERVER_SUBJECT): "fail"}
    assert "certificate has expired" in by["tls.certificate"].summary
    assert by["tls.expiry"].data["band"] == "expired" and by["tls.expiry"].value < 0


def test_a_certificate_for_another_name_fails_for_the_hostname(zone, stack, ca, endpoints):
    ep = endpoints(*ca.leaf("other.example.com", days=90))
    got, by = run_server(zone, stack, ca, ep)
    assert got == {**PORTS_OK, ("tls.certificate", SERVER_SUBJECT): "fail", ("tls.expiry", SERVER_SUBJECT): "ok"}
    assert "Hostname mismatch" in by["tls.certificate"].summary
    assert by["tls.certificate"].data["ports"]["25"]["names"] == ["other.example.com"]


def test_a_closed_port_and_a_missing_starttls_fail(zone, stack, ca, endpoints):
    ep = endpoints(*ca.leaf(HOST, days=90), closed=(465, 993), starttls=False)
    got, by = run_server(zone, stack, ca, ep)
    assert got == {("smtp.port-25", SERVER_SUBJECT): "fail", ("smtp.port-587", SERVER_SUBJECT): "fail",
                   ("smtp.port-465", SERVER_SUBJECT): "fail", ("smtp.port-993", SERVER_SUBJECT): "fail",
                   ("tls.certificate", SERVER_SUBJECT): "unknown", ("tls.expiry", SERVER_SUBJECT): "unknown"}
    assert by["smtp.port-25"].summary == "port 25 answers but offers no STARTTLS"
    assert by["smtp.port-465"].summary == "port 465: connection refused (port closed)"


@pytest.mark.parametrize("days, band, status", [(45, "ok", "ok"), (20, "30d", "warn"), (5, "7d", "warn"),
                                                (0.5, "1d", "fail")])
def test_days_to_expiry_fall_into_the_30_7_1_day_bands(zone, stack, ca, endpoints, days, band, status):
    ep = endpoints(*ca.leaf(HOST, days=days))
    _, by = run_server(zone, stack, ca, ep)
    assert (by["tls.expiry"].data["band"], by["tls.expiry"].status) == (band, status)


def test_expiry_bands():
    assert [smtp.expiry_band(d) for d in (31, 30, 8, 7, 2, 1, 0.2, 0, -3)] == \
        ["ok", "30d", "30d", "7d", "7d", "1d", "1d", "expired", "expired"]


def test_outbound_port_25_goes_out_from_the_sending_ip_and_says_its_ptr_name(zone, stack):
    sink = Greeter("sink.test")
    try:
        ctx = make_ctx(zone, with_checks(stack, outbound_probe=sink.endpoint), outputs=outputs_for(ON_LOOPBACK))
        ip2 = ctx.targets.ips[2]
        o = smtp.check_outbound(ctx, ip2)
        assert (o.status, o.summary) == ("ok", "outbound port 25 from 127.0.0.12 works")
        assert sink.sink.sessions == [("127.0.0.12", "mx1-ip2.ops-test.com")]
    finally:
        sink.close()


def test_outbound_port_25_blocked_fails_and_an_ip_not_on_this_machine_is_unknown(zone, stack):
    closed = ("127.0.0.1", free_port())
    on_loopback = make_ctx(zone, with_checks(stack, outbound_probe=closed), outputs=outputs_for(ON_LOOPBACK))
    blocked = smtp.check_outbound(on_loopback, on_loopback.targets.ips[1])
    assert blocked.status == "fail" and "outbound port 25 from 127.0.0.11 is blocked" in blocked.summary
    elsewhere = make_ctx(zone, with_checks(stack, outbound_probe=closed))
    remote = smtp.check_outbound(elsewhere, elsewhere.targets.ips[1])
    assert remote.status == "unknown" and "is not configured on this machine" in remote.summary
