"""DNS record rendering: exact values, Cloudflare TXT form, SPF limits."""

import copy

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from coldmail import model as cm
from coldmail.model import records as rec
from tests.support.stacks import raw_stack

BASE = raw_stack({"name": "alpha-example.com", "ip": 0, "mailboxes": {"count": 2, "pattern": "user{n}"}},
                 {"name": "beta-example.com", "ip": 2, "mailboxes": {"count": 2, "pattern": "user{n}"}})
IPS = ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
IPV6 = "2001:db8::1"
DKIM = "v=DKIM1;k=rsa;t=s;s=email;p=" + "A" * 392
# The same value as Cloudflare stores it: 255 bytes (28 of tags, 227 of key), then the other 165.
DKIM_CLOUDFLARE = '"v=DKIM1;k=rsa;t=s;s=email;p=' + "A" * 227 + '" "' + "A" * 165 + '"'
#: sha256 of the `testing` policy for mx1.ops-example.com, first 20 hex digits, from
#: `printf 'version: STSv1\nmode: testing\nmax_age: 604800\nmx: mx1.ops-example.com\n' | sha256sum`.
TESTING_POLICY_ID = "f6536413502644ab40d8"


def dns_strings(content: str) -> list[bytes]:
    """A TXT content read by dnspython, as a resolver would hand it out: the character-strings."""
    return list(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, content).strings)


def stack(**overrides):
    raw = copy.deepcopy(BASE)
    raw.update(overrides)
    return cm.load(raw)


def by_key(records):
    return {r.key: r for r in records}


def test_short_txt_is_one_quoted_string():
    assert rec.cloudflare_txt("v=spf1 ip4:198.18.0.1 -all") == '"v=spf1 ip4:198.18.0.1 -all"'


def test_long_txt_is_split_into_255_byte_quoted_strings_joined_by_one_space():
    content = rec.cloudflare_txt(DKIM)
    assert content == DKIM_CLOUDFLARE
    assert [len(x) for x in dns_strings(content)] == [255, 165]
    assert b"".join(dns_strings(content)) == DKIM.encode()
    assert rec.txt_value(content) == DKIM


def test_txt_quotes_and_backslashes_are_escaped_and_round_trip():
    value = 'a "quoted" \\ value'
    assert rec.cloudflare_txt(value) == '"a \\"quoted\\" \\\\ value"'
    assert dns_strings(rec.cloudflare_txt(value)) == [value.encode()]
    assert rec.txt_value(rec.cloudflare_txt(value)) == value


def test_spf_lists_ipv4_and_ipv6_without_lookup_terms():
    value = rec.spf_value(["198.18.0.10"], ["2001:db8:0::1"], "~all")
    assert value == "v=spf1 ip4:198.18.0.10 ip6:2001:db8::1 ~all"
    assert rec.spf_lookup_terms(value) == 0


def test_spf_rejects_a_record_without_ips_or_with_a_bad_all():
    with pytest.raises(ValueError):
        rec.spf_value([])
    with pytest.raises(ValueError):
        rec.spf_value(["198.18.0.1"], all="+all")


def test_spf_lookup_terms_counts_include_a_mx_ptr_exists_redirect_only():
    value = "v=spf1 ip4:1.2.3.4 include:_spf.example.com a mx:example.com ~ptr exists:%{i}.x redirect=y.com -all"
    assert rec.spf_lookup_terms(value) == 6


def test_dmarc_values_per_phase():
    assert rec.dmarc_value("none", "d@ops-example.com") == "v=DMARC1; p=none; rua=mailto:d@ops-example.com"
    assert rec.dmarc_value("reject", "mailto:d@x.com", "f@x.com") == \
        "v=DMARC1; p=reject; rua=mailto:d@x.com; ruf=mailto:f@x.com; fo=1"
    with pytest.raises(ValueError):
        rec.dmarc_value("monitor", "d@x.com")


def test_mta_sts_and_tls_rpt_values():
    policy = rec.mta_sts_policy("testing", ["mx1.ops-example.com"])
    # Exactly what Mailcow's mta-sts.php serves (docs/mailcow-api.md §11): LF, max_age before the mx lines.
    assert policy == "version: STSv1\nmode: testing\nmax_age: 604800\nmx: mx1.ops-example.com\n"
    assert rec.mta_sts_policy_id(policy) == TESTING_POLICY_ID
    assert rec.mta_sts_value(TESTING_POLICY_ID) == "v=STSv1; id=f6536413502644ab40d8"
    assert rec.mta_sts_policy_id(rec.mta_sts_policy("enforce", ["mx1.ops-example.com"])) == "3ef6fee5b91f875bd522"
    assert rec.parse_mta_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmx: b.example\r\n"
                                    "max_age: 86400\r\n") == {"version": "STSv1", "mode": "enforce",
                                                              "mx": ["a.example", "b.example"], "max_age": 86400}
    assert rec.tls_rpt_value("tls@x.com") == "v=TLSRPTv1; rua=mailto:tls@x.com"


def test_domain_on_primary_ip_sends_from_primary_ipv4_and_ipv6():
    s = stack()
    d = s.domains[0]
    sending = rec.sending_addresses(s, d, IPS, IPV6)
    assert sending == rec.SendingAddresses(("198.18.0.10",), (IPV6,))


def test_domain_on_primary_ip_without_ipv6_sends_ipv4_only():
    raw = copy.deepcopy(BASE)
    raw["servers"][0]["ipv6"] = False
    s = cm.load(raw)
    assert rec.sending_addresses(s, s.domains[0], IPS, IPV6) == rec.SendingAddresses(("198.18.0.10",), ())


def test_domain_on_floating_ip_sends_only_from_that_ipv4():
    s = stack()
    assert rec.sending_addresses(s, s.domains[1], IPS, IPV6) == rec.SendingAddresses(("198.18.0.12",), ())


def test_domain_records_exact_default_set():
    s = stack()
    d = s.domains[1]
    records = rec.domain_records(s, d, rec.sending_addresses(s, d, IPS, IPV6), DKIM)
    got = [(r.key, r.name, r.type, r.content, r.priority, r.data and dict(r.data)) for r in records]
    host = "mx1.ops-example.com"
    srv = lambda port: {"priority": 0, "weight": 1, "port": port, "target": host}  # noqa: E731
    assert got == [
        ("mx", "beta-example.com", "MX", host, 10, None),
        ("spf", "beta-example.com", "TXT", '"v=spf1 ip4:198.18.0.12 -all"', None, None),
        ("dkim", "dkim._domainkey.beta-example.com", "TXT", DKIM_CLOUDFLARE, None, None),
        ("dmarc", "_dmarc.beta-example.com", "TXT", '"v=DMARC1; p=none; rua=mailto:dmarc@ops-example.com"', None, None),
        ("autoconfig", "autoconfig.beta-example.com", "CNAME", host, None, None),
        ("autodiscover", "autodiscover.beta-example.com", "CNAME", host, None, None),
        ("srv-submission", "_submission._tcp.beta-example.com", "SRV", None, None, srv(587)),
        ("srv-submissions", "_submissions._tcp.beta-example.com", "SRV", None, None, srv(465)),
        ("srv-imaps", "_imaps._tcp.beta-example.com", "SRV", None, None, srv(993)),
        ("srv-autodiscover", "_autodiscover._tcp.beta-example.com", "SRV", None, None, srv(443)),
    ]
    assert all(r.zone is None for r in records)


def test_mta_sts_and_tls_rpt_records_only_when_enabled():
    s = stack(dns={"mtaSts": True, "tlsRpt": True, "autoconfig": False, "tlsRptRua": "tls@ops-example.com"})
    d = s.domains[0]
    records = by_key(rec.domain_records(s, d, rec.sending_addresses(s, d, IPS, IPV6), DKIM))
    assert set(records) == {"mx", "spf", "dkim", "dmarc", "mta-sts", "mta-sts-host", "tls-rpt"}
    assert records["mta-sts"].name == "_mta-sts.alpha-example.com"
    assert records["mta-sts"].value == "v=STSv1; id=f6536413502644ab40d8"
    assert (records["mta-sts-host"].name, records["mta-sts-host"].type, records["mta-sts-host"].content) == \
        ("mta-sts.alpha-example.com", "A", "198.18.0.10")
    beta = by_key(rec.domain_records(s, s.domains[1], rec.sending_addresses(s, s.domains[1], IPS, IPV6), DKIM))
    # beta sends from floating IP 2, but Mailcow serves its policy on the server's primary address.
    assert beta["mta-sts-host"].content == "198.18.0.10" and beta["spf"].value == "v=spf1 ip4:198.18.0.12 -all"
    assert records["tls-rpt"].name == "_smtp._tls.alpha-example.com"
    assert records["tls-rpt"].value == "v=TLSRPTv1; rua=mailto:tls@ops-example.com"
    assert records["spf"].value == f"v=spf1 ip4:198.18.0.10 ip6:{IPV6} -all"


def test_tls_reports_go_to_the_stacks_own_tls_reports_mailbox_unless_set():
    s = stack(dns={"tlsRpt": True})
    d = s.domains[0]
    records = by_key(rec.domain_records(s, d, rec.sending_addresses(s, d, IPS), DKIM))
    assert records["tls-rpt"].value == "v=TLSRPTv1; rua=mailto:tls-reports@ops-example.com"


def test_dmarc_record_follows_the_domains_phase_and_spf_all_setting():
    raw = copy.deepcopy(BASE)
    raw["domains"][0]["dmarcPhase"] = "quarantine"
    raw["dns"] = {"spfAll": "~all"}
    s = cm.load(raw)
    d = s.domains[0]
    records = by_key(rec.domain_records(s, d, rec.sending_addresses(s, d, IPS), DKIM))
    assert records["dmarc"].value == "v=DMARC1; p=quarantine; rua=mailto:dmarc@ops-example.com"
    assert records["spf"].value == "v=spf1 ip4:198.18.0.10 ~all"


def test_idn_domain_records_use_punycode_names():
    raw = copy.deepcopy(BASE)
    raw["domains"][0]["name"] = "bücher-example.de"
    s = cm.load(raw)
    d = s.domains[0]
    names = {r.name for r in rec.domain_records(s, d, rec.sending_addresses(s, d, IPS), DKIM)}
    assert "xn--bcher-example-wob.de" in names
    assert all(n.isascii() and not n.endswith(".") for n in names)


def test_dmarc_reports_to_an_external_service_need_no_record_from_us():
    s = stack(dmarc={"rua": "reports@dmarc-service-example.net"})
    assert rec.report_authorizations(s) == []


def test_one_wildcard_record_authorises_every_domains_reports_to_the_ops_zone():
    s = stack()
    assert [(a.key, a.name, a.type, a.content, a.zone) for a in rec.report_authorizations(s)] == [
        ("report-auth-0", "*._report._dmarc.ops-example.com", "TXT", '"v=DMARC1"', "ops-example.com")]


def test_dmarc_reports_to_a_sending_domains_zone_are_authorised_there_for_the_others():
    s = stack(dmarc={"rua": "dmarc@alpha-example.com"})
    assert [(a.name, a.zone, a.value) for a in rec.report_authorizations(s)] == [
        ("*._report._dmarc.alpha-example.com", "alpha-example.com", "v=DMARC1")]
    only_alpha = copy.deepcopy(BASE)
    only_alpha["domains"] = only_alpha["domains"][:1]
    only_alpha["dmarc"] = {"rua": "dmarc@alpha-example.com"}
    assert rec.report_authorizations(cm.load(only_alpha)) == []


def test_managed_zones_keep_configured_zone_ids():
    raw = copy.deepcopy(BASE)
    raw["domains"][1]["zoneId"] = "f" * 32
    s = cm.load(raw)
    assert rec.managed_zones(s) == {"ops-example.com": None, "alpha-example.com": None, "beta-example.com": "f" * 32}


def test_the_mta_sts_id_changes_exactly_when_the_served_policy_does():
    ids = {}
    for label, raw in (("base", {}), ("enforce", {"mtaStsMode": "enforce", "mtaStsTestingSince": "2020-01-01"}),
                       ("max_age", {"mtaStsMaxAge": 86400}), ("ttl", {"ttl": 600})):
        s = stack(dns={"mtaSts": True, **raw})
        ids[label] = by_key(rec.domain_records(s, s.domains[0], rec.sending_addresses(s, s.domains[0], IPS), DKIM))[
            "mta-sts"].value
    assert ids["base"] == ids["ttl"] == "v=STSv1; id=f6536413502644ab40d8"
    assert len({ids["base"], ids["enforce"], ids["max_age"]}) == 3
    # printf 'version: STSv1\nmode: testing\nmax_age: 86400\nmx: mx1.ops-example.com\n' | sha256sum | cut -c1-20
    assert ids["max_age"] == "v=STSv1; id=84f733437b67cb14e8c7"
