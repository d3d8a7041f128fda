"""Blacklists against DNSBL zones served by a real DNS server on loopback, with every kind of answer."""

from __future__ import annotations

import json

import pytest

from coldmail.checks import blacklist as bl
from coldmail.checks.remedy import propose
from tests.checks.conftest import make_ctx, verdicts

IPS = {0: "203.0.113.10", 1: "203.0.113.11", 2: "203.0.113.12", 3: "203.0.113.13"}
DOMAINS = ("acme-alpha.com", "acme-beta.io", "acme-gamma.co", "acme-delta.net")
IP_CHECKS = ("blacklist.zen", "blacklist.barracuda", "blacklist.spamcop", "blacklist.uceprotect-1",
             "blacklist.uceprotect-2", "blacklist.uceprotect-3", "blacklist.mailspike", "blacklist.psbl")
DOMAIN_CHECKS = ("blacklist.dbl", "blacklist.surbl", "blacklist.uribl")


def rev(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def clean() -> dict[tuple[str, str], str]:
    out = {(c, f"ip:{a}"): "ok" for a in IPS.values() for c in IP_CHECKS}
    out.update({(c, f"domain:{d}"): "ok" for d in DOMAINS for c in DOMAIN_CHECKS})
    return out


def test_the_lists_are_the_eight_ip_and_three_domain_lists_and_no_sorbs():
    assert [b.zone for b in bl.IP_LISTS] == [
        "zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net", "dnsbl-1.uceprotect.net",
        "dnsbl-2.uceprotect.net", "dnsbl-3.uceprotect.net", "bl.mailspike.net", "psbl.surriel.com"]
    assert [b.zone for b in bl.DOMAIN_LISTS] == ["dbl.spamhaus.org", "multi.surbl.org", "multi.uribl.com"]
    assert not any("sorbs" in b.zone for b in (*bl.IP_LISTS, *bl.DOMAIN_LISTS))
    assert [b.key for b in bl.IP_LISTS if not b.gating] == ["uceprotect-2", "uceprotect-3"]


@pytest.mark.parametrize("dnsbl, codes, status, listed", [
    (bl.ZEN, ("127.0.0.2",), "fail", True),
    (bl.ZEN, ("127.0.0.4", "127.0.0.10"), "fail", True),
    (bl.ZEN, ("127.255.255.252",), "unknown", False),
    (bl.ZEN, ("127.255.255.254",), "unknown", False),
    (bl.ZEN, ("127.255.255.255",), "unknown", False),
    (bl.ZEN, ("127.0.0.99",), "unknown", False),
    (bl.DBL, ("127.0.1.2",), "fail", True),
    (bl.DBL, ("127.0.1.255",), "unknown", False),
    (bl.DBL, ("127.255.255.254",), "unknown", False),
    (bl.URIBL, ("127.0.0.1",), "unknown", False),
    (bl.URIBL, ("127.0.0.2",), "fail", True),
    (bl.URIBL, ("127.0.0.14",), "fail", True),
    (bl.SURBL, ("127.0.0.80",), "fail", True),
    (bl.SURBL, ("127.0.0.1",), "unknown", False),
    (bl.SURBL, ("127.0.0.3",), "unknown", False),
    (bl.UCEPROTECT_3, ("127.0.0.2",), "info", True),
    (bl.MAILSPIKE, ("127.0.0.11",), "fail", True),
    (bl.MAILSPIKE, ("127.0.0.17",), "unknown", False),
])
def test_return_codes_are_read_with_each_lists_own_table(dnsbl, codes, status, listed):
    v = bl.verdict(dnsbl, bl.Raw(codes))
    assert (v.status, v.listed) == (status, listed)


def test_nxdomain_is_clean_and_no_answer_is_unknown():
    assert bl.verdict(bl.ZEN, bl.Raw(nxdomain=True)).status == "ok"
    assert bl.verdict(bl.ZEN, bl.Raw(error="no answer within 1s")).status == "unknown"


def test_query_names_reverse_ipv4_octets_ipv6_nibbles_and_keep_domains():
    assert bl.ZEN.query_name("203.0.113.5") == "5.113.0.203.zen.spamhaus.org."
    assert bl.ZEN.query_name("2001:db8::1") == ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                                               ".zen.spamhaus.org.")
    assert bl.DBL.query_name("acme-alpha.com") == "acme-alpha.com.dbl.spamhaus.org."
    assert bl.ZEN.query_name("203.0.113.5", "abcdefghijklmnopqrstuvwxyz") == \
        "5.113.0.203.abcdefghijklmnopqrstuvwxyz.zen.dq.spamhaus.net."
    assert bl.PSBL.query_name("203.0.113.5", "abcdefghijklmnopqrstuvwxyz") == "5.113.0.203.psbl.surriel.com."


def serve_listings(z) -> None:
    z.add(f"{rev(IPS[1])}.zen.spamhaus.org", "A", "127.0.0.2")
    z.add(f"{rev(IPS[1])}.bl.spamcop.net", "A", "127.0.0.2")
    z.add(f"{rev(IPS[2])}.zen.spamhaus.org", "A", "127.255.255.254")
    z.add(f"{rev(IPS[0])}.dnsbl-3.uceprotect.net", "A", "127.0.0.2")
    z.time_out([f"{rev(IPS[2])}.psbl.surriel.com"])
    z.fail([f"{rev(IPS[2])}.b.barracudacentral.org"])
    z.add("acme-alpha.com.multi.uribl.com", "A", "127.0.0.1")
    z.add("acme-beta.io.dbl.spamhaus.org", "A", "127.0.1.2")
    z.add("acme-gamma.co.multi.surbl.org", "A", "127.0.0.24")


def test_listed_clean_refused_timed_out_and_servfail_answers_give_the_written_verdicts(zone, stack):
    serve_listings(zone)
    obs = bl.check_blacklists(make_ctx(zone, stack))
    expected = clean()
    expected.update({
        ("blacklist.zen", "ip:203.0.113.11"): "fail",
        ("blacklist.spamcop", "ip:203.0.113.11"): "fail",
        ("blacklist.zen", "ip:203.0.113.12"): "unknown",        # 127.255.255.254: public resolver
        ("blacklist.psbl", "ip:203.0.113.12"): "unknown",       # time-out
        ("blacklist.barracuda", "ip:203.0.113.12"): "unknown",  # SERVFAIL
        ("blacklist.uceprotect-3", "ip:203.0.113.10"): "info",  # whole network: information only
        ("blacklist.uribl", "domain:acme-alpha.com"): "unknown",  # 127.0.0.1: query refused
        ("blacklist.dbl", "domain:acme-beta.io"): "fail",
        ("blacklist.surbl", "domain:acme-gamma.co"): "fail",
    })
    assert verdicts(obs) == expected
    by = {(o.check, o.subject): o for o in obs}
    zen = by[("blacklist.zen", "ip:203.0.113.11")]
    assert zen.summary == "listed on Spamhaus ZEN: SBL: a known spam source"
    assert zen.data["delist"] == "https://check.spamhaus.org/results/?query=203.0.113.11"
    assert by[("blacklist.surbl", "domain:acme-gamma.co")].data["meanings"] == ["phishing (PH), malware (MW)"]
    assert "public or unattributed resolver" in by[("blacklist.zen", "ip:203.0.113.12")].summary
    assert by[("blacklist.psbl", "ip:203.0.113.12")].summary == "PSBL: no answer within 1s"
    assert by[("blacklist.barracuda", "ip:203.0.113.12")].summary == "Barracuda BRBL: the resolver failed (SERVFAIL)"


def test_unknown_addresses_are_unknown_on_every_ip_list_and_never_queried(zone, stack):
    obs = bl.check_blacklists(make_ctx(zone, stack, outputs={}))
    ips = {(o.check, o.subject): o.status for o in obs if o.subject.startswith("ip:")}
    assert ips == {(c, f"ip:mx1/ip{n}"): "unknown" for n in range(4) for c in IP_CHECKS}
    assert not [q for q in zone.resolver.asked if "203.0.113" in q[0] or q[0].startswith(("10.", "11.", "12."))]


def test_a_dqs_key_goes_into_the_query_name_and_nowhere_in_the_result(zone, stack):
    key = "abcdefghijklmnopqrstuvwxyz"
    zone.add(f"{rev(IPS[1])}.{key}.zen.dq.spamhaus.net", "A", "127.0.0.3")
    obs = bl.check_blacklists(make_ctx(zone, stack, env={"COLDMAIL_SPAMHAUS_DQS_KEY": key}))
    asked = {name for name, _ in zone.resolver.asked}
    assert f"{rev(IPS[1])}.{key}.zen.dq.spamhaus.net" in asked
    assert f"acme-alpha.com.{key}.dbl.dq.spamhaus.net" in asked
    assert not [n for n in asked if n.endswith(".zen.spamhaus.org")]
    zen = next(o for o in obs if o.check == "blacklist.zen" and o.subject == "ip:203.0.113.11")
    assert (zen.status, zen.data["zone"]) == ("fail", "zen.dq.spamhaus.net")
    assert key not in json.dumps([o.to_dict() for o in obs])


def test_queries_run_concurrently_but_never_above_the_bound(zone):
    zone.resolver.delay = 0.05
    queries = bl.queries_for([f"198.51.100.{i}" for i in range(5)], [])
    raws = bl.ask(queries, nameservers=[zone.address], timeout=2.0, concurrency=4)
    assert len(raws) == 40 and all(r.nxdomain for r in raws)
    # The server counts the questions it holds (each for 50 ms): several at once, never more than 4.
    assert 1 < zone.resolver.peak <= 4


def test_a_listed_ip_gets_moves_to_clean_ips_of_its_server_standby_first(zone, stack):
    serve_listings(zone)
    obs = bl.check_blacklists(make_ctx(zone, stack))
    [p] = propose("prod", make_ctx(zone, stack).targets, obs)
    assert (p.ip.address, p.lists) == ("203.0.113.11", ("Spamhaus ZEN", "SpamCop"))
    # ip3 is a clean standby, ip0 is clean (its UCEPROTECT-3 listing is information only) and sends for
    # one domain; ip2 has unknown answers, so it is not clean.
    assert [m.command for m in p.moves] == [
        "coldmail domain move acme-alpha.com --ip 3 --stack prod",
        "coldmail domain move acme-beta.io --ip 0 --stack prod",
    ]


def test_no_clean_ip_means_no_move_and_the_proposal_says_what_to_do(zone, stack):
    for ip in IPS.values():
        zone.add(f"{rev(ip)}.zen.spamhaus.org", "A", "127.0.0.2")
    [p0, p1, p2, p3] = propose("prod", make_ctx(zone, stack).targets, bl.check_blacklists(make_ctx(zone, stack)))
    assert p1.moves == () and "has no clean IP to move to" in p1.note
    assert p3.note == "no domain sends from it; nothing to move"


def test_every_ip_timing_out_is_unknown_everywhere_while_domains_still_answer(zone, stack):
    zone.time_out([f"{rev(IPS[n])}.{b.zone}" for n in IPS for b in bl.IP_LISTS])
    got = verdicts(bl.check_blacklists(make_ctx(zone, stack)))
    expected = clean()
    expected.update({(c, f"ip:{a}"): "unknown" for a in IPS.values() for c in IP_CHECKS})
    assert got == expected
