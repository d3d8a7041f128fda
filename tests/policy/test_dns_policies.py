"""DNS rules: proxying, SPF syntax and uniqueness, SPF covering the sending IP, DMARC."""

import pytest
from pulumi_policy import Secret
from pulumi_policy import proxy as sdk_proxy

from coldmail.model import tokens
from policy import dns
from tests.policy.policy_helpers import FLOATING, PRIMARY, Spec, check, check_stack, txt


def record(**props):
    base = {"zoneId": "z1", "name": "acme.com", "type": "MX", "content": "mx1.acme-mailops.com", "proxied": False}
    base.update(props)
    return base


@pytest.mark.parametrize("props", [
    record(type="MX"),
    record(type="A", name="mx1.acme-mailops.com", content="198.18.0.1"),
    record(type="AAAA", name="mail3.acme-mailops.com", content="2001:db8::1"),
    record(type="A", name="mx1-ip2.acme-mailops.com", content="198.18.0.2"),
    record(type="CNAME", name="autoconfig.acme.com"),
    record(type="CNAME", name="autodiscover.acme.com"),
    record(type="TXT", name="acme.com", content=txt("v=spf1 ip4:198.18.0.1 -all")),
    record(type="TXT", name="dkim._domainkey.acme.com", content=txt("v=DKIM1;k=rsa;p=MIIB")),
    record(type="SRV", name="_submission._tcp.acme.com"),
])
def test_proxied_mail_record_is_a_violation_naming_record_and_fix(props):
    props["proxied"] = True
    found = check(dns.mail_dns_not_proxied, tokens.DNS_RECORD, props, name="acme-com-dns-x")
    assert len(found) == 1
    assert "acme-com-dns-x" in found[0] and props["name"] in found[0] and "proxied=false" in found[0]


def test_unproxied_mail_records_and_proxied_website_pass():
    assert check(dns.mail_dns_not_proxied, tokens.DNS_RECORD, record(type="MX")) == []
    assert check(dns.mail_dns_not_proxied, tokens.DNS_RECORD,
                 record(type="A", name="www.acme.com", content="198.18.0.1", proxied=True)) == []


def test_unknown_proxied_flag_is_not_judged():
    props = record(proxied=sdk_proxy.UNKNOWN_BOOLEAN_VALUE)
    assert check(dns.mail_dns_not_proxied, tokens.DNS_RECORD, props) == []


def test_mail_host_pattern_comes_from_pack_config():
    props = record(type="A", name="post.acme.com", content="198.18.0.1", proxied=True)
    assert check(dns.mail_dns_not_proxied, tokens.DNS_RECORD, props) == []
    assert len(check(dns.mail_dns_not_proxied, tokens.DNS_RECORD, props, config={"mailHostPattern": r"^post\."})) == 1


def spf(content):
    return record(type="TXT", name="acme.com", content=content)


def test_quoted_chunked_spf_with_ip_and_hard_fail_passes():
    value = '"v=spf1 ip4:198.18.0.1 ip4:198.18.0.2" " ~all"'
    assert check(dns.spf_record_valid, tokens.DNS_RECORD, spf(value)) == []


def test_spf_ending_in_plus_all_is_rejected_with_fix():
    found = check(dns.spf_record_valid, tokens.DNS_RECORD, spf(txt("v=spf1 ip4:198.18.0.1 +all")), name="spf")
    assert len(found) == 1 and "'+all'" in found[0] and "-all" in found[0]


def test_spf_not_starting_with_version_is_rejected():
    found = check(dns.spf_record_valid, tokens.DNS_RECORD, spf(txt("ip4:198.18.0.1 v=spf1 -all")))
    assert len(found) == 1 and "must start with 'v=spf1 '" in found[0]


def test_spf_with_eleven_lookups_is_a_permerror():
    terms = " ".join(f"include:_spf{i}.example.net" for i in range(9)) + " mx a"
    found = check(dns.spf_record_valid, tokens.DNS_RECORD, spf(txt(f"v=spf1 {terms} -all")))
    assert len(found) == 1 and "needs 11 DNS lookups" in found[0]


def test_spf_with_ten_lookups_passes():
    terms = " ".join(f"include:_spf{i}.example.net" for i in range(8)) + " mx a"
    assert check(dns.spf_record_valid, tokens.DNS_RECORD, spf(txt(f"v=spf1 {terms} -all"))) == []


def test_non_spf_txt_is_ignored_by_spf_rule():
    assert check(dns.spf_record_valid, tokens.DNS_RECORD, spf(txt("google-site-verification=abc"))) == []


def test_dmarc_none_is_flagged_only_after_warmup_end():
    props = record(type="TXT", name="_dmarc.acme.com", content=txt("v=DMARC1; p=none; rua=mailto:r@acme.com"))
    assert check(dns.dmarc_enforced_after_warmup, tokens.DNS_RECORD, props) == []
    during = {"warmupEndDate": "2026-12-31", "today": "2026-11-01"}
    assert check(dns.dmarc_enforced_after_warmup, tokens.DNS_RECORD, props, config=during) == []
    after = {"warmupEndDate": "2026-10-01", "today": "2026-11-01"}
    found = check(dns.dmarc_enforced_after_warmup, tokens.DNS_RECORD, props, config=after)
    assert len(found) == 1 and "p=none" in found[0] and "quarantine" in found[0]
    enforced = record(type="TXT", name="_dmarc.acme.com", content=txt("v=DMARC1; p=quarantine; rua=mailto:r@a.com"))
    assert check(dns.dmarc_enforced_after_warmup, tokens.DNS_RECORD, enforced, config=after) == []


# --- stack rules ---------------------------------------------------------------------------------

def test_good_stack_passes_every_dns_stack_rule(stack):
    for policy in (dns.spf_single_record, dns.spf_includes_sending_ip, dns.dmarc_record_present):
        assert check_stack(policy, stack.values()) == [], policy.name


def test_second_spf_record_on_same_name_is_reported_on_the_duplicate(stack):
    stack["extra"] = Spec(tokens.DNS_RECORD, "extra", {"zoneId": "z-a.com", "name": "a.com", "type": "TXT",
                                              "content": txt("v=spf1 include:_spf.google.com ~all")})
    found = check_stack(dns.spf_single_record, stack.values())
    assert [n for _, n in found] == ["extra"] and "2 v=spf1 TXT records" in found[0][0]


def test_spf_missing_the_relay_ip_is_reported_with_the_ip_to_add(stack):
    stack["b-com-dns-spf"].props["content"] = txt("v=spf1 ip4:203.0.113.9 -all")
    found = check_stack(dns.spf_includes_sending_ip, stack.values())
    assert [n for _, n in found] == ["b-com-dns-spf"]
    assert FLOATING in found[0][0] and f"ip4:{FLOATING}" in found[0][0]


def test_spf_missing_the_primary_ip_for_relayhost_zero_is_reported(stack):
    stack["a-com-dns-spf"].props["content"] = txt(f"v=spf1 ip4:{FLOATING} -all")
    found = check_stack(dns.spf_includes_sending_ip, stack.values())
    assert [n for _, n in found] == ["a-com-dns-spf"] and PRIMARY in found[0][0]


def test_spf_covering_ip_through_cidr_passes(stack):
    stack["b-com-dns-spf"].props["content"] = txt("v=spf1 ip4:198.18.0.0/24 -all")
    assert check_stack(dns.spf_includes_sending_ip, stack.values()) == []


def test_domain_without_spf_record_is_reported_on_the_domain(stack):
    del stack["a-com-dns-spf"]
    found = check_stack(dns.spf_includes_sending_ip, stack.values())
    assert [n for _, n in found] == ["a-com-domain"] and "no SPF record" in found[0][0]


def test_relay_found_through_dependency_when_relayhost_id_is_unknown(stack):
    stack["b-com-domain"].props["relayhost_id"] = sdk_proxy.UNKNOWN_STRING_VALUE
    stack["mx1-relayhost-1"].props["relayhost_id"] = sdk_proxy.UNKNOWN_STRING_VALUE
    stack["b-com-dns-spf"].props["content"] = txt("v=spf1 ip4:203.0.113.9 -all")
    assert [n for _, n in check_stack(dns.spf_includes_sending_ip, stack.values())] == ["b-com-dns-spf"]


def test_unknown_sending_ip_is_not_judged(stack):
    stack["mx1-relayhost-1"].props["source_ip"] = sdk_proxy.UNKNOWN_STRING_VALUE
    stack["b-com-dns-spf"].props["content"] = sdk_proxy.UNKNOWN_STRING_VALUE
    assert check_stack(dns.spf_includes_sending_ip, stack.values()) == []


def test_apex_written_as_at_sign_resolves_to_the_owning_domain(stack):
    stack["a-com-dns-spf"].props["name"] = "@"
    stack["a-com-dns-spf"].props["content"] = txt(f"v=spf1 ip4:{FLOATING} -all")
    assert [n for _, n in check_stack(dns.spf_includes_sending_ip, stack.values())] == ["a-com-dns-spf"]


def test_missing_dmarc_and_dmarc_without_rua_are_reported(stack):
    del stack["a-com-dns-dmarc"]
    stack["b-com-dns-dmarc"].props["content"] = txt("v=DMARC1; p=none")
    found = dict((n, m) for m, n in check_stack(dns.dmarc_record_present, stack.values()))
    assert set(found) == {"a-com-domain", "b-com-dns-dmarc"}
    assert "_dmarc.a.com" in found["a-com-domain"] and "rua=" in found["b-com-dns-dmarc"]


def test_secret_marked_txt_content_is_still_judged(stack):
    stack["b-com-dns-spf"].props["content"] = Secret(txt("v=spf1 ip4:203.0.113.9 -all"))
    assert [n for _, n in check_stack(dns.spf_includes_sending_ip, stack.values())] == ["b-com-dns-spf"]


# --- mta-sts-enforce-after-testing --------------------------------------------------------------------

def mta_sts_props(mode, testing_since=None):
    return {"api_url": "https://mx1.example.com", "server": "mx1", "domain": "acme-growth.com", "mode": mode,
            "mx": ["mx1.example.com"], "max_age": 604800, "testing_since": testing_since}


def test_mta_sts_enforce_is_refused_without_a_testing_period_and_allowed_after_fourteen_days():
    today = {"today": "2026-11-15"}
    policy = dns.mta_sts_enforce_after_testing
    assert check(policy, tokens.MAILCOW_MTA_STS, mta_sts_props("testing"), config=today) == []
    (never,) = check(policy, tokens.MAILCOW_MTA_STS, mta_sts_props("enforce"), config=today)
    assert "coldmail:dns.mtaStsTestingSince does not say since when" in never and "acme-growth.com" in never
    (short,) = check(policy, tokens.MAILCOW_MTA_STS, mta_sts_props("enforce", "2026-11-05"), config=today)
    assert "in testing for 10 days (since 2026-11-05), fewer than the 14 enforce needs" in short
    assert check(policy, tokens.MAILCOW_MTA_STS, mta_sts_props("enforce", "2026-11-01"), config=today) == []
    # Other resources and an unknown mode at preview are not judged.
    assert check(policy, tokens.DNS_RECORD, mta_sts_props("enforce"), config=today) == []
    assert check(policy, tokens.MAILCOW_MTA_STS, mta_sts_props(None), config=today) == []
