"""Who a source is (the stack's, allowed, unknown), where the report mailboxes are, and their config."""

from __future__ import annotations

import copy
import os

import pytest

from coldmail import model
from coldmail.cli.commands.reports import report_addresses, stack_mailboxes
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.reports import SourceSet, stack_ips_from_outputs

PROD = os.path.join(os.path.dirname(__file__), "..", "..", "Pulumi.prod.yaml")


@pytest.fixture
def raw():
    return raw_from_stack_file(PROD)


def test_the_sending_ips_and_their_labels_come_from_the_servers_output():
    outputs = {"servers": {
        "mx1": {"hostname": "mx1.acme-mailops.com", "ipv4_address": "203.0.113.10", "ipv6_address": "2001:db8:5:7::1",
                "floating_ips": [{"index": 1, "ip": "203.0.113.11", "ptr": "mx1-ip1.acme-mailops.com"}]},
        "mx2": {"hostname": "mx2.acme-mailops.com", "ipv4_address": None, "floating_ips": None}}}
    assert stack_ips_from_outputs(outputs) == {
        "203.0.113.10": "mx1/ip0 mx1.acme-mailops.com", "2001:db8:5:7::1": "mx1/ipv6 mx1.acme-mailops.com",
        "203.0.113.11": "mx1/ip1 mx1-ip1.acme-mailops.com"}
    assert stack_ips_from_outputs({}) == {}


def test_a_server_owns_its_ipv6_slash_64_and_known_sources_are_networks():
    sources = SourceSet({"203.0.113.10": "mx1/ip0", "2001:db8:5:7::1": "mx1/ipv6"}, ["198.51.100.0/24"])
    assert sources.classify("203.0.113.10") == ("stack", "mx1/ip0")
    assert sources.classify("203.0.113.9") == ("unknown", None)
    assert sources.classify("2001:db8:5:7:ffff::25") == ("stack", "mx1/ipv6")
    assert sources.classify("2001:db8:5:8::1") == ("unknown", None)
    assert sources.classify("198.51.100.200") == ("known", "198.51.100.0/24")
    assert sources.classify("not-an-ip") == ("unknown", None)


def test_known_sources_are_checked_with_the_rest_of_the_config(raw):
    raw["reports"] = {"knownSources": ["198.51.100.7", "2001:db8::1/32", "crm.example.com"], "extra": 1}
    with pytest.raises(model.ConfigError) as bad:
        model.load(raw)
    assert [(i.path, i.message) for i in bad.value.issues] == [
        ("coldmail:reports.extra", "unknown key"),
        ("coldmail:reports.knownSources[2]", "'crm.example.com' is not an IP address or network")]
    raw["reports"] = {"knownSources": ["198.51.100.7", "2001:db8::1/32"]}
    assert model.load(raw).reports.known_sources == ("198.51.100.7/32", "2001:db8::/32")


def _outputs(**extra):
    return dict({"report_mailboxes": [
        {"email": "dmarc-reports@acme-mailops.com", "password": "pw-test-1", "imap_host": "mx1.acme-mailops.com",
         "imap_port": 993}]}, **extra)


def test_the_report_addresses_are_rua_ruf_and_the_tls_rpt_address_once_each(raw):
    cfg = model.load(raw)
    assert report_addresses(cfg) == ["dmarc-reports@acme-mailops.com", "tls-reports@acme-mailops.com"]
    raw2 = copy.deepcopy(raw)
    raw2["dmarc"]["ruf"] = "DMARC-Reports@acme-mailops.com"
    raw2["dns"]["tlsRpt"] = False
    assert report_addresses(model.load(raw2)) == ["dmarc-reports@acme-mailops.com"]


def test_a_report_mailbox_on_a_stack_server_uses_that_servers_tls_settings(raw):
    raw["servers"][0]["mailcowCaBundle"] = "/etc/coldmail/private-ca.pem"
    raw["dns"]["tlsRpt"] = False
    found, missing = stack_mailboxes("prod", model.load(raw), _outputs(), tls=None, ca_file=None, folder="INBOX")
    assert missing == []
    [mb] = found
    assert (mb.host, mb.port, mb.tls, mb.ca_file, mb.verify, mb.user, mb.address) == (
        "mx1.acme-mailops.com", 993, "ssl", "/etc/coldmail/private-ca.pem", True, "dmarc-reports@acme-mailops.com",
        "dmarc-reports@acme-mailops.com")
    assert "pw-test-1" not in repr(mb)


def test_a_report_address_that_is_a_sending_mailbox_is_read_with_its_credentials(raw):
    raw["dmarc"]["rua"] = "anna.berg@acme-growth.com"
    raw["dns"]["tlsRpt"] = False
    outputs = {"credentials": [{"email": "anna.berg@acme-growth.com", "password": "pw-test-2",
                                "smtp_host": "mx1.acme-mailops.com", "imap_host": "mx1.acme-mailops.com",
                                "imap_port": 143}]}
    [mb], missing = stack_mailboxes("prod", model.load(raw), outputs, tls=None, ca_file=None, folder="Reports")
    assert (missing, mb.port, mb.tls, mb.folder, mb.password) == ([], 143, "starttls", "Reports", "pw-test-2")
