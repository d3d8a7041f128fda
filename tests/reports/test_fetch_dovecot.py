"""Reports delivered into a real Dovecot, fetched over IMAP, parsed, stored once and summarised."""

from __future__ import annotations

import datetime as dt

import pytest
from imapclient import IMAPClient

from coldmail.ops.imap import ImapError
from coldmail.reports import InsecureImap, ReportsError, SourceSet, fetch, summarise
from coldmail.reports.imap import ImapMailbox

from tests.reports import messages as m
from tests.reports.conftest import PASSWORD

UTC = dt.timezone.utc
DAY = dt.date(2026, 11, 28)
BEGIN, END = m.day(DAY)
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SPOOFER = "198.51.100.66"


def _deliver_week(dovecot, user):
    """What the receivers send for one day of a small stack, plus one message that is no report."""
    for raw in (
        m.google_aggregate("acme-growth.com", "14539027582739484512", BEGIN, END,
                           [m.Rec("203.0.113.11", 120), m.Rec(SPOOFER, 3, dkim="fail", spf="fail")]),
        m.microsoft_aggregate("acme-growth.com", "cfeafefe4129445e8c81018bd9177197", BEGIN,
                              [m.Rec("203.0.113.11", 40), m.Rec("203.0.113.11", 2, dkim="fail")]),
        m.yahoo_aggregate("acmegrowth.io", "1764288000.487850", BEGIN, END, [m.Rec("203.0.113.12", 25, spf="fail")]),
        m.plain_xml_aggregate("tryacme.co", "tryacme-20261128", BEGIN, END, [m.Rec("203.0.113.13", 7)]),
        m.google_tls("acme-growth.com", DAY, 30, [("certificate-expired", 2, "209.85.220.41"),
                                                  ("sts-policy-fetch-error", 1, "209.85.220.42")]),
        m.microsoft_tls("acme-growth.com", DAY, 12, [("starttls-not-supported", 4, "40.107.22.55")]),
        m.failure_report("acme-growth.com", SPOOFER, dt.datetime(2026, 11, 28, 10, 15, tzinfo=UTC)),
        m.not_a_report(),
    ):
        dovecot.deliver(user, raw)


@pytest.fixture
def week(dovecot):
    user = dovecot.add_user()
    _deliver_week(dovecot, user)
    return dovecot.mailbox(user)


def test_reports_in_google_microsoft_and_yahoo_formats_are_fetched_parsed_and_stored(week, store, parser):
    result = fetch(week, store, parser=parser)
    assert (result.messages, result.new, result.duplicates) == (8, {"aggregate": 4, "failure": 1, "smtp_tls": 2}, 0)
    assert result.skipped == [{"uid": 8, "subject": "Your weekly newsletter",
                               "reason": 'Message with subject "Your weekly newsletter" is not a valid report'}]
    assert store.counts() == {"aggregate": 4, "failure": 1, "smtp_tls": 2}
    assert sorted((r.org, r.report_id, r.domain) for r in store.reports()) == [
        ("example.net", "tryacme-20261128", "tryacme.co"),
        ("google.com", "14539027582739484512", "acme-growth.com"),
        ("outlook.com", "cfeafefe4129445e8c81018bd9177197", "acme-growth.com"),
        ("yahoo", "1764288000.487850", "acmegrowth.io")]


def test_the_summary_gives_aligned_pass_rates_sources_and_tls_failures_per_domain(week, store, parser):
    fetch(week, store, parser=parser)
    by_name = {s.domain: s.to_dict() for s in summarise(store, SourceSet(m.STACK_IPS), since=SINCE, now=NOW)}
    assert sorted(by_name) == ["acme-growth.com", "acmegrowth.io", "tryacme.co"]
    growth = by_name["acme-growth.com"]
    assert (growth["messages"], growth["reports"], growth["reporters"]) == (165, 2, ["google.com", "outlook.com"])
    assert (growth["spf_aligned_rate"], growth["dkim_aligned_rate"], growth["dmarc_pass_rate"]) == (0.9818, 0.9697, 0.9818)
    assert [(s["ip"], s["kind"], s["label"], s["messages"], s["dmarc_pass"]) for s in growth["sources"]] == [
        ("203.0.113.11", "stack", "mx1/ip1 mx1-ip1.acme-mailops.com", 162, 162),
        (SPOOFER, "unknown", None, 3, 0)]
    assert growth["unknown_sources"] == [SPOOFER]
    assert growth["tls"] == {"successful_sessions": 42, "failed_sessions": 7, "failures_by_type": {
        "starttls-not-supported": 4, "certificate-expired": 2, "sts-policy-fetch-error": 1}}
    assert growth["failure_reports"] == 1
    io = by_name["acmegrowth.io"]
    assert (io["messages"], io["spf_aligned_rate"], io["dkim_aligned_rate"], io["dmarc_pass_rate"]) == (25, 0.0, 1.0, 1.0)
    assert io["unknown_sources"] == [] and io["tls"]["failed_sessions"] == 0


def test_fetching_twice_counts_each_report_once(week, store, parser):
    fetch(week, store, parser=parser)
    again = fetch(week, store, parser=parser)
    assert (again.messages, again.new, again.duplicates) == (0, {"aggregate": 0, "failure": 0, "smtp_tls": 0}, 0)
    rescan = fetch(week, store, parser=parser, rescan=True)
    assert (rescan.messages, rescan.new, rescan.duplicates, len(rescan.skipped)) == (
        8, {"aggregate": 0, "failure": 0, "smtp_tls": 0}, 7, 1)
    assert store.counts() == {"aggregate": 4, "failure": 1, "smtp_tls": 2}
    [growth] = summarise(store, SourceSet(m.STACK_IPS), since=SINCE, now=NOW, domain="acme-growth.com")
    assert (growth.messages, growth.tls_failed, growth.failure_reports) == (165, 7, 1)


def test_a_report_the_receiver_sends_again_is_stored_once(dovecot, store, parser):
    user = dovecot.add_user()
    report = m.google_aggregate("acme-growth.com", "777", BEGIN, END, [m.Rec("203.0.113.11", 10)])
    dovecot.deliver(user, report)
    first = fetch(dovecot.mailbox(user), store, parser=parser)
    dovecot.deliver(user, report)
    second = fetch(dovecot.mailbox(user), store, parser=parser)
    assert (first.new["aggregate"], second.messages, second.new["aggregate"], second.duplicates) == (1, 1, 0, 1)
    [growth] = summarise(store, SourceSet(m.STACK_IPS), since=SINCE, now=NOW, domain="acme-growth.com")
    assert growth.messages == 10


def test_a_source_outside_the_stack_is_flagged_unless_the_config_knows_it(week, store, parser):
    fetch(week, store, parser=parser)
    flagged = summarise(store, SourceSet(m.STACK_IPS), since=SINCE, now=NOW, domain="acme-growth.com")[0]
    assert [(s.ip, s.kind) for s in flagged.unknown_sources] == [(SPOOFER, "unknown")]
    known = summarise(store, SourceSet(m.STACK_IPS, ["198.51.100.0/24"]), since=SINCE, now=NOW,
                      domain="acme-growth.com")[0]
    assert known.unknown_sources == []
    assert [(s.ip, s.kind, s.label) for s in known.sources] == [
        ("203.0.113.11", "stack", "mx1/ip1 mx1-ip1.acme-mailops.com"), (SPOOFER, "known", "198.51.100.0/24")]


def test_fetch_leaves_the_mailbox_as_it_was(week, store, parser, dovecot):
    fetch(week, store, parser=parser)
    with IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False) as client:
        client.login(week.user, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        assert (len(client.search("ALL")), len(client.search("UNSEEN"))) == (8, 8)


def test_implicit_tls_and_starttls_verify_the_server_certificate(dovecot, store, parser):
    user = dovecot.add_user()
    dovecot.deliver(user, m.google_aggregate("acme-growth.com", "9001", BEGIN, END, [m.Rec("203.0.113.11", 1)]))
    over_ssl = fetch(dovecot.mailbox(user, tls="ssl", port=dovecot.imaps_port, ca_file=dovecot.ca_file), store,
                     parser=parser)
    over_starttls = fetch(dovecot.mailbox(user, tls="starttls", ca_file=dovecot.ca_file), store, parser=parser)
    assert (over_ssl.new["aggregate"], over_starttls.duplicates) == (1, 1)
    with pytest.raises(ImapError) as untrusted:
        fetch(dovecot.mailbox(user, tls="ssl", port=dovecot.imaps_port), store, parser=parser)
    assert untrusted.value.kind == "imap_connect" and "CERTIFICATE_VERIFY_FAILED" in untrusted.value.message


def test_a_refused_login_says_so_without_the_password(dovecot, store, parser):
    user = dovecot.add_user()
    wrong = ImapMailbox("127.0.0.1", user, "not-the-password-xyz", port=dovecot.imap_port, tls="plain")
    with pytest.raises(ImapError) as refused:
        fetch(wrong, store, parser=parser)
    assert refused.value.kind == "imap_login"
    assert f"refused the login of {user}" in refused.value.message
    assert "not-the-password-xyz" not in refused.value.message + (refused.value.fix or "") + repr(wrong)


def test_plain_imap_to_another_machine_is_refused_before_connecting(store, parser):
    with pytest.raises(InsecureImap) as refused:
        fetch(ImapMailbox("imap.example.com", "dmarc", "pw-test", port=143, tls="plain"), store, parser=parser)
    assert refused.value.exit_code == 2 and "unencrypted" in refused.value.message


def test_a_missing_folder_is_named(dovecot, store, parser):
    user = dovecot.add_user()
    with pytest.raises(ReportsError) as missing:
        fetch(dovecot.mailbox(user, folder="DMARC"), store, parser=parser)
    assert missing.value.kind == "imap_folder" and "'DMARC'" in missing.value.message


def test_a_plain_json_tls_report_is_read_like_a_gzipped_one(dovecot, store, parser):
    user = dovecot.add_user()
    dovecot.deliver(user, m.plain_json_tls("acmegrowth.io", DAY, 17, [("validation-failure", 5, "192.0.2.9")]))
    result = fetch(dovecot.mailbox(user), store, parser=parser)
    assert result.new == {"aggregate": 0, "failure": 0, "smtp_tls": 1}
    [io] = summarise(store, SourceSet(m.STACK_IPS), since=SINCE, now=NOW, domain="acmegrowth.io")
    assert (io.tls_successful, io.tls_failed, io.tls_failures, io.messages) == (17, 5, {"validation-failure": 5}, 0)
