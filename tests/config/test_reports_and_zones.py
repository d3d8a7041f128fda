"""Report mailboxes, records per zone, MTA-STS enforce and the Postmaster Tools token in the schema."""

import base64
import copy
import datetime as dt
import dkim
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coldmail import model as cm
from coldmail.model import records as rec
from tests.support.stacks import raw_stack, server

ALPHA = {"name": "alpha-example.com", "ip": 1, "mailboxes": {"count": 2, "pattern": "user{n}"}}


def issues(raw, today=None):
    try:
        cm.load(raw, today=today)
    except cm.ConfigError as exc:
        return [(i.path, i.message, i.fix) for i in exc.issues]
    return []


def without_rua(**sections):
    """The test stack with no report address set, then ``sections``."""
    raw = raw_stack(ALPHA)
    del raw["dmarc"]
    raw.update(copy.deepcopy(sections))
    return raw


# --- report mailboxes ----------------------------------------------------------------------------------

def test_by_default_reports_go_to_mailboxes_the_stack_makes_in_the_zone_of_the_hostnames():
    s = cm.load(without_rua(dns={"tlsRpt": True}))
    assert (s.dmarc.rua, s.dns.tls_rpt_rua) == ("dmarc-reports@ops-example.com", "tls-reports@ops-example.com")
    rd = s.report_domain
    assert (rd.name, rd.server, rd.zone, rd.addresses) == (
        "ops-example.com", "mx1", "ops-example.com", ("dmarc-reports@ops-example.com", "tls-reports@ops-example.com"))
    assert s.warnings == ()
    assert [(r.key, r.name, r.type, r.content) for r in rec.report_zone_records(s, rec.SendingAddresses(("198.18.0.10",)))] == [
        ("report-mx", "ops-example.com", "MX", "mx1.ops-example.com"),
        ("report-spf", "ops-example.com", "TXT", '"v=spf1 ip4:198.18.0.10 -all"'),
        ("report-dmarc", "_dmarc.ops-example.com", "TXT", '"v=DMARC1; p=none; rua=mailto:dmarc-reports@ops-example.com"')]


def test_without_tls_reports_only_the_dmarc_mailbox_is_made():
    assert cm.load(without_rua()).report_domain.addresses == ("dmarc-reports@ops-example.com",)


def test_an_external_report_address_is_a_warning_with_its_path_and_no_mailbox_is_made():
    raw = without_rua(dmarc={"rua": "reports@dmarc-service-example.net"},
                      dns={"tlsRpt": True, "tlsRptRua": "tls@dmarc-service-example.net"})
    s = cm.load(raw)
    assert s.report_domain is None
    assert [(w.path, w.message) for w in s.warnings] == [
        ("coldmail:dmarc.rua", "reports@dmarc-service-example.net is outside the stack: whether its domain has an MX "
                               "(without one every report is lost) cannot be checked offline"),
        ("coldmail:dns.tlsRptRua", "tls@dmarc-service-example.net is outside the stack: whether its domain has an MX "
                                   "(without one every report is lost) cannot be checked offline")]
    assert all("auth.rua-mx" in w.fix for w in s.warnings)


def test_a_report_zone_that_is_also_a_sending_domain_shares_its_records_and_keeps_its_mailboxes_apart():
    raw = without_rua(dns={"tlsRpt": True})
    raw["domains"].append({"name": "ops-example.com", "ip": 0, "mailboxes": {"count": 2, "pattern": "user{n}"}})
    s = cm.load(raw)
    assert s.report_domain.addresses == ("dmarc-reports@ops-example.com", "tls-reports@ops-example.com")
    assert rec.report_domain_sends(s)
    assert rec.report_zone_records(s, rec.SendingAddresses(("198.18.0.10",))) == []
    raw["domains"][-1]["mailboxes"] = [{"localPart": "dmarc-reports"}]
    assert issues(raw) == [("coldmail:domains[1].mailboxes",
                            "dmarc-reports@ops-example.com is both a sending mailbox and a report mailbox",
                            "rename that mailbox, or point coldmail:dmarc.rua / coldmail:dns.tlsRptRua at another "
                            "local part")]


def test_a_hostname_that_is_the_report_zone_itself_is_refused_before_mailcow_would():
    # A server in a zone of its own name: the report mailboxes would live in the hostname's own domain.
    raw = without_rua(servers=[server(0, zone="mx1.ops-example.com")])
    raw["domains"][0]["ip"] = 0
    (problem,) = issues(raw)
    assert problem[0] == "coldmail:servers[0].hostname"
    assert "domain_cannot_match_hostname" in problem[1]


# --- records per zone ----------------------------------------------------------------------------------

def shared_zone(n: int, **dns):
    """``n`` domains in one zone, shared-example.com: 10 records each (MX, SPF, DKIM, DMARC, 2 CNAME, 4 SRV)."""
    domains = [{"name": f"d{i:02d}.shared-example.com", "ip": 0, "mailboxes": {"count": 1, "pattern": "u{n}"}}
               for i in range(n)]
    return raw_stack(*domains, servers=[server(0)], **({"dns": dns} if dns else {}))


def test_twenty_domains_fill_a_zone_to_exactly_two_hundred_records_and_pass():
    s = cm.load(shared_zone(20))
    # ops-example.com: A and AAAA of mx1, the report domain's MX, SPF and DMARC, the wildcard authorisation.
    assert rec.zone_record_counts(s) == {"ops-example.com": 6, "shared-example.com": 200}


def test_the_twenty_first_domain_takes_the_zone_over_cloudflare_frees_limit_and_is_refused():
    assert issues(shared_zone(21)) == [(
        "coldmail:dns.maxRecordsPerZone",
        "zone shared-example.com would hold 210 records, more than the 200 allowed (Cloudflare Free allows 200)",
        "spread what lives in shared-example.com over more zones (other domains, or servers with hostnames in "
        "another zone), use fewer floating IPs per server, or raise maxRecordsPerZone if the zone's Cloudflare plan "
        "allows more (3500 on Pro and above)")]
    assert issues(shared_zone(21, maxRecordsPerZone=3500)) == []


def test_nine_floating_ips_count_in_the_hostname_zone_against_a_lower_limit():
    raw = raw_stack(ALPHA, servers=[server(9)], dns={"maxRecordsPerZone": 14})
    # 10 A (hostname and 9 PTR names), 1 AAAA, MX, SPF and DMARC of the report domain, 1 authorisation: 15.
    assert issues(raw)[0][:2] == ("coldmail:dns.maxRecordsPerZone",
                                  "zone ops-example.com would hold 15 records, more than the 14 allowed "
                                  "(Cloudflare Free allows 200)")
    raw["dns"]["maxRecordsPerZone"] = 15
    assert issues(raw) == []


# --- MTA-STS ---------------------------------------------------------------------------------------------

def test_mta_sts_enforce_needs_fourteen_days_of_testing_first():
    today = dt.date(2026, 11, 15)
    enforce = raw_stack(ALPHA, dns={"mtaSts": True, "mtaStsMode": "enforce"})
    (problem,) = issues(enforce, today)
    assert problem[:2] == ("coldmail:dns.mtaStsMode", "enforce needs the policy served in testing first, and "
                                                      "coldmail:dns.mtaStsTestingSince does not say since when")
    enforce["dns"]["mtaStsTestingSince"] = "2026-11-10"
    assert issues(enforce, today)[0][1] == ("the policy has been in testing for 5 days (since 2026-11-10), fewer "
                                            "than the 14 enforce needs")
    enforce["dns"]["mtaStsTestingSince"] = "2026-11-01"
    assert issues(enforce, today) == []
    enforce["dns"]["mtaStsTestingSince"] = "last week"
    assert ("coldmail:dns.mtaStsTestingSince", "'last week' is not a date", "write it as YYYY-MM-DD") in \
        issues(enforce, today)


# --- Google Postmaster Tools ---------------------------------------------------------------------------

TOKEN = "TEST-ONLY-postmaster-token-not-from-google0"


def test_a_postmaster_token_is_published_as_its_verification_txt_at_the_apex():
    raw = raw_stack(dict(ALPHA, postmasterToken=f"google-site-verification={TOKEN}"))
    s = cm.load(raw)
    specs = {r.key: r for r in rec.domain_records(s, s.domains[0], rec.SendingAddresses(("198.18.0.11",)), "v=DKIM1;p=")}
    assert (specs["postmaster"].name, specs["postmaster"].content) == (
        "alpha-example.com", f'"google-site-verification={TOKEN}"')


@pytest.mark.parametrize("token", ["short", "has space in it and is long enough", "a" * 129])
def test_a_postmaster_token_that_google_would_not_issue_is_refused(token):
    (problem,) = issues(raw_stack(dict(ALPHA, postmasterToken=token)))
    assert problem[0] == "coldmail:domains[0].postmasterToken"
    assert "is not a Google Postmaster Tools verification token" in problem[1]


# --- DKIM as Mailcow hands it out ----------------------------------------------------------------------

def strings(content: str) -> bytes:
    """The TXT content as dnspython reads it, its strings joined: what a resolver hands dkimpy."""
    return b"".join(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, content).strings)


def test_dkim_txt_already_split_by_mailcow_is_published_once_quoted_and_verifies_with_dkimpy():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    value = "v=DKIM1;k=rsa;t=s;s=email;p=" + base64.b64encode(der).decode()
    # SPLIT_DKIM_255=y: Mailcow's dkim_txt is already quoted 255-byte strings.
    split = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    s = cm.load(raw_stack(ALPHA))
    for given in (value, split, f" {split}\n"):
        (spec,) = [r for r in rec.domain_records(s, s.domains[0], rec.SendingAddresses(("198.18.0.11",)), given)
                   if r.key == "dkim"]
        assert spec.content == split, given[:20]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    message = (b"From: Anna <user1@alpha-example.com>\r\nTo: x@example.org\r\nSubject: hi\r\n"
               b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@alpha-example.com>\r\n\r\nHello.\r\n")
    signed = dkim.sign(message, b"dkim", b"alpha-example.com", pem, include_headers=[b"from", b"to", b"subject"])
    # A resolver hands out the published strings concatenated: exactly that is what dkimpy verifies against.
    assert dkim.verify(signed + message, dnsfunc=lambda name, timeout=5: strings(spec.content))
    # Quoted twice (the bug this guards against), the quotes end up inside the key and it does not verify.
    twice = rec.cloudflare_txt(split)
    assert strings(twice).startswith(b'"v=DKIM1')
    assert not dkim.verify(signed + message, dnsfunc=lambda name, timeout=5: strings(twice))
