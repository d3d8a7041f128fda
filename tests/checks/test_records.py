"""DNS drift against a real DNS server on loopback serving the stack's zones."""

from __future__ import annotations

from coldmail.checks import records
from tests.checks.conftest import ADDRESSES, make_ctx, verdicts

DOMAINS = ("acme-alpha.com", "acme-beta.io", "acme-gamma.co", "acme-delta.net")
RECORD_CHECKS = ("dns.mx", "dns.spf", "dns.dkim", "dns.dmarc", "dns.tls-rpt", "dns.unexpected")
#: The report mailboxes' domain (the ops zone): its own MX, SPF and DMARC, and the one wildcard authorisation.
REPORT_CHECKS = ("dns.report-mx", "dns.report-spf", "dns.report-dmarc", "dns.report-auth")


def all_ok() -> dict[tuple[str, str], str]:
    out = {("dns.host-a", f"ip:{a}"): "ok" for a in ADDRESSES.values()}
    out.update({(c, f"domain:{d}"): "ok" for d in DOMAINS for c in RECORD_CHECKS})
    out.update({(c, "domain:ops-test.com"): "ok" for c in REPORT_CHECKS})
    return out


def test_a_zone_serving_exactly_the_stack_is_ok_record_by_record(live_zone, stack, mailcow):
    assert verdicts(records.check_records(make_ctx(live_zone, stack, mailcow))) == all_ok()


def test_missing_different_and_unexpected_records_are_each_reported(live_zone, stack, mailcow):
    z = live_zone
    z.set("acme-alpha.com", "TXT", "v=spf1 ip4:198.51.100.7 -all", "google-site-verification=abc")
    z.remove("_dmarc.acme-beta.io")
    z.add("acme-gamma.co", "MX", "20 mx.other-provider.example")
    z.add("_mta-sts.acme-delta.net", "TXT", "v=STSv1; id=123")
    z.set("dkim._domainkey.acme-beta.io", "TXT", "v=DKIM1;k=rsa;p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnotmailcow")
    z.set("acme-delta.net", "TXT", "v=spf1 ip4:203.0.113.10 -all", "v=spf1 include:_spf.example.net -all")
    z.set("mx1-ip2.ops-test.com", "A", "198.51.100.99")
    obs = records.check_records(make_ctx(z, stack, mailcow))
    expected = all_ok()
    expected.update({
        ("dns.spf", "domain:acme-alpha.com"): "fail",        # different (the unrelated TXT is ignored)
        ("dns.dmarc", "domain:acme-beta.io"): "fail",        # missing
        ("dns.dkim", "domain:acme-beta.io"): "fail",         # not Mailcow's key
        ("dns.mx", "domain:acme-gamma.co"): "warn",          # a second MX beside ours
        ("dns.unexpected", "domain:acme-delta.net"): "warn",  # MTA-STS record the stack does not manage
        ("dns.spf", "domain:acme-delta.net"): "fail",        # two SPF records: permerror at receivers
        ("dns.host-a", "ip:203.0.113.12"): "fail",           # PTR name points elsewhere
    })
    assert verdicts(obs) == expected
    by = {(o.check, o.subject): o for o in obs}
    assert by[("dns.spf", "domain:acme-alpha.com")].data["problem"] == "different"
    assert by[("dns.spf", "domain:acme-alpha.com")].data["live"] == ["v=spf1 ip4:198.51.100.7 -all"]
    assert by[("dns.spf", "domain:acme-alpha.com")].data["expected"] == "v=spf1 ip4:203.0.113.11 -all"
    assert by[("dns.dmarc", "domain:acme-beta.io")].data["problem"] == "missing"
    assert by[("dns.mx", "domain:acme-gamma.co")].summary == "MX acme-gamma.co also has 20 mx.other-provider.example"
    assert by[("dns.unexpected", "domain:acme-delta.net")].data["records"] == ["TXT _mta-sts.acme-delta.net"]


def test_long_dkim_txt_split_into_255_byte_strings_compares_as_one_value(live_zone, stack, mailcow):
    value = next(v for (n, t), vs in live_zone.resolver.records.items() for v in vs
                 if n == "dkim._domainkey.acme-alpha.com")
    assert len(value) > 255  # served as several strings in one record
    obs = {(o.check, o.subject): o for o in records.check_records(make_ctx(live_zone, stack, mailcow))}
    assert obs[("dns.dkim", "domain:acme-alpha.com")].status == "ok"


def test_time_outs_and_servfail_are_unknown_never_ok_or_missing(live_zone, stack, mailcow):
    live_zone.time_out(["_dmarc.acme-alpha.com"])
    live_zone.fail(["mx1-ip3.ops-test.com", "acme-beta.io"])
    obs = {(o.check, o.subject): o for o in records.check_records(make_ctx(live_zone, stack, mailcow))}
    assert obs[("dns.dmarc", "domain:acme-alpha.com")].status == "unknown"
    assert "no answer within 1s" in obs[("dns.dmarc", "domain:acme-alpha.com")].summary
    assert obs[("dns.host-a", "ip:203.0.113.13")].status == "unknown"
    assert "SERVFAIL" in obs[("dns.host-a", "ip:203.0.113.13")].summary
    assert obs[("dns.mx", "domain:acme-beta.io")].status == "unknown"
    assert obs[("dns.spf", "domain:acme-beta.io")].status == "unknown"


def test_without_stack_outputs_the_ip_dependent_records_are_unknown(live_zone, stack, mailcow):
    obs = verdicts(records.check_records(make_ctx(live_zone, stack, mailcow, outputs={})))
    expected = all_ok()
    for a in ADDRESSES.values():
        del expected[("dns.host-a", f"ip:{a}")]
    expected.update({("dns.host-a", f"ip:mx1/ip{n}"): "unknown" for n in range(4)})
    expected.update({("dns.spf", f"domain:{d}"): "unknown" for d in DOMAINS})
    expected[("dns.report-spf", "domain:ops-test.com")] = "unknown"
    assert obs == expected


def test_a_missing_report_authorisation_or_report_mx_fails(live_zone, stack, mailcow):
    live_zone.remove("*._report._dmarc.ops-test.com")
    live_zone.remove("ops-test.com")
    obs = {(o.check, o.subject): o for o in records.check_records(make_ctx(live_zone, stack, mailcow))}
    assert obs[("dns.report-auth", "domain:ops-test.com")].summary == "TXT *._report._dmarc.ops-test.com is missing"
    assert obs[("dns.report-mx", "domain:ops-test.com")].summary == "MX ops-test.com is missing"


def test_without_mailcows_key_the_dkim_record_is_unknown_and_says_why(live_zone, stack):
    obs = {(o.check, o.subject): o for o in records.check_records(make_ctx(live_zone, stack, mailcow=None,
                                                                            mailcow_urls={"mx1": "http://127.0.0.1:9"}))}
    o = obs[("dns.dkim", "domain:acme-alpha.com")]
    assert o.status == "unknown" and "Mailcow's DKIM key is not known" in o.summary

