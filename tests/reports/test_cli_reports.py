"""The commands: ``reports fetch`` (stack outputs or one mailbox), ``reports summary``, ``dmarc advance``."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest

from coldmail.ops.history import History
from coldmail.reports import ReportStore

from tests.cli.clikit import PASSPHRASE_ENV, make_project, run_cli, stack_config
from tests.cli.fake_pulumi import FakePulumiCommand
from tests.reports import messages as m
from tests.reports.conftest import PASSWORD

UTC = dt.timezone.utc
SPOOFER = "198.51.100.66"
SERVERS_OUTPUT = {"mx1": {
    "server_id": "4711", "hostname": "mx1.acme-mailops.com", "ipv4_address": "203.0.113.10", "ipv6_address": None,
    "floating_ips": [{"index": 1, "ip": "203.0.113.11", "ptr": "mx1-ip1.acme-mailops.com"},
                     {"index": 2, "ip": "203.0.113.12", "ptr": "mx1-ip2.acme-mailops.com"},
                     {"index": 3, "ip": "203.0.113.13", "ptr": "mx1-ip3.acme-mailops.com"}],
    "mailcow_url": "https://mx1.acme-mailops.com", "relayhost_ids": {"1": "1", "2": "2", "3": "3"}}}


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def store_of(project) -> ReportStore:
    return ReportStore(History(os.path.join(project, ".coldmail", "history.sqlite")))


def recent_day(days_ago: int) -> tuple[int, int]:
    return m.day(dt.datetime.now(UTC).date() - dt.timedelta(days=days_ago))


def env(**extra):
    return dict(PASSPHRASE_ENV, **extra)


def test_fetch_one_mailbox_with_the_password_from_the_environment(project, dovecot):
    user = dovecot.add_user()
    dovecot.deliver(user, m.google_aggregate("acme-growth.com", "1001", *recent_day(2),
                                             [m.Rec("203.0.113.11", 30), m.Rec(SPOOFER, 2, dkim="fail", spf="fail")]))
    dovecot.deliver(user, m.google_tls("acme-growth.com", dt.datetime.now(UTC).date() - dt.timedelta(days=2), 9,
                                       [("certificate-expired", 1, "209.85.220.41")]))
    argv = ["reports", "fetch", "--stack", "prod", "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.imap_port),
            "--imap-user", user, "--imap-tls", "plain", "--json"]
    r = run_cli(argv, project, env=env(COLDMAIL_REPORTS_IMAP_PASSWORD=PASSWORD))
    assert r.code == 0, r.stdout + r.stderr
    res = r.doc["result"]
    assert (res["new"], res["duplicates"], res["skipped"], res["stack_ips"]) == (
        {"aggregate": 1, "failure": 0, "smtp_tls": 1}, 0, 0, None)
    assert res["history"] == os.path.join(project, ".coldmail", "history.sqlite")
    assert sorted((c["subject"], c["check"], c["status"]) for c in res["changes"]
                  if c["subject"] == "domain:acme-growth.com") == [
        ("domain:acme-growth.com", "reports.dmarc_pass", "warn"),
        ("domain:acme-growth.com", "reports.tls_failures", "warn"),
        ("domain:acme-growth.com", "reports.unknown_sources", "warn")]
    assert PASSWORD not in r.stdout + r.stderr
    again = run_cli(argv, project, env=env(COLDMAIL_REPORTS_IMAP_PASSWORD=PASSWORD))
    assert (again.doc["result"]["new"], again.doc["result"]["changes"]) == (
        {"aggregate": 0, "failure": 0, "smtp_tls": 0}, [])


def test_the_password_can_come_on_stdin_and_never_from_argv(project, dovecot):
    user = dovecot.add_user()
    argv = ["reports", "fetch", "--stack", "prod", "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.imap_port),
            "--imap-user", user, "--imap-tls", "plain", "--json"]
    ok = run_cli(argv + ["--password-stdin"], project, stdin=io.StringIO(PASSWORD + "\n"))
    assert ok.code == 0, ok.stdout
    missing = run_cli(argv, project)
    assert missing.code == 2
    [err] = missing.doc["errors"]
    assert err["kind"] == "usage" and "COLDMAIL_REPORTS_IMAP_PASSWORD" in err["fix"]
    assert run_cli(argv + ["--imap-password", PASSWORD], project).code == 2  # no such option


def test_plain_imap_to_a_remote_host_is_refused(project):
    r = run_cli(["reports", "fetch", "--stack", "prod", "--imap-host", "imap.example.com", "--imap-user", "dmarc",
                 "--imap-tls", "plain", "--json"], project, env=env(COLDMAIL_REPORTS_IMAP_PASSWORD="pw-test-only"))
    assert r.code == 2 and r.doc["errors"][0]["kind"] == "usage"
    assert "unencrypted" in r.doc["errors"][0]["message"]


def _stack_outputs(dovecot, dmarc_user, tls_user):
    return {"servers": SERVERS_OUTPUT, "report_mailboxes": [
        {"email": "dmarc-reports@acme-mailops.com", "password": PASSWORD, "imap_host": "127.0.0.1",
         "imap_port": dovecot.imaps_port, "imap_username": dmarc_user},
        {"email": "tls-reports@acme-mailops.com", "password": PASSWORD, "imap_host": "127.0.0.1",
         "imap_port": dovecot.imaps_port, "imap_username": tls_user}]}


def test_fetch_with_the_stack_reads_both_report_mailboxes_and_the_sending_ips(project, dovecot):
    dmarc_user, tls_user = dovecot.add_user(), dovecot.add_user()
    dovecot.deliver(dmarc_user, m.microsoft_aggregate("acme-growth.com", "ms-2001", recent_day(1)[0],
                                                      [m.Rec("203.0.113.11", 50), m.Rec(SPOOFER, 5, dkim="fail",
                                                                                         spf="fail")]))
    dovecot.deliver(dmarc_user, m.yahoo_aggregate("acmegrowth.io", "1764460800.2", *recent_day(1),
                                                  [m.Rec("203.0.113.12", 20)]))
    dovecot.deliver(tls_user, m.microsoft_tls("acme-growth.com", dt.datetime.now(UTC).date() - dt.timedelta(days=1),
                                              40, [("starttls-not-supported", 3, "40.107.22.55")]))
    fake = FakePulumiCommand(config=stack_config(project), outputs=_stack_outputs(dovecot, dmarc_user, tls_user),
                             secret_outputs=("report_mailboxes",))
    r = run_cli(["reports", "fetch", "--stack", "prod", "--imap-tls", "ssl", "--imap-ca-file", dovecot.ca_file,
                 "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    res = r.doc["result"]
    assert [(mb["address"], mb["messages"], mb["new"]) for mb in res["mailboxes"]] == [
        ("dmarc-reports@acme-mailops.com", 2, {"aggregate": 2, "failure": 0, "smtp_tls": 0}),
        ("tls-reports@acme-mailops.com", 1, {"aggregate": 0, "failure": 0, "smtp_tls": 1})]
    assert res["stack_ips"] == 4
    assert PASSWORD not in r.stdout + r.stderr

    summary = run_cli(["reports", "summary", "--stack", "prod", "--json"], project)  # no pulumi needed
    assert summary.code == 0, summary.stdout
    doc = summary.doc["result"]
    assert doc["stack_ips"][:2] == [{"address": "203.0.113.10", "label": "mx1/ip0 mx1.acme-mailops.com"},
                                    {"address": "203.0.113.11", "label": "mx1/ip1 mx1-ip1.acme-mailops.com"}]
    by_name = {d["domain"]: d for d in doc["domains"]}
    assert len(by_name) == 12 and by_name["meetacme.io"]["messages"] == 0
    growth = by_name["acme-growth.com"]
    assert (growth["messages"], growth["dmarc_pass_rate"], growth["unknown_sources"]) == (55, 0.9091, [SPOOFER])
    assert [(s["ip"], s["kind"], s["messages"]) for s in growth["sources"]] == [
        ("203.0.113.11", "stack", 50), (SPOOFER, "unknown", 5)]
    assert growth["tls"] == {"successful_sessions": 40, "failed_sessions": 3,
                             "failures_by_type": {"starttls-not-supported": 3}}
    assert growth["next_phase"]["reasons"][0] == "1 day of reports at p=none, 30 needed"
    assert by_name["acmegrowth.io"]["dmarc_pass_rate"] == 1.0

    text = run_cli(["reports", "summary", "--stack", "prod", "--domain", "acme-growth.com"], project)
    assert text.code == 0
    assert "acme-growth.com  55        90.9%  90.9%  90.9%  1        1        3         none → quarantine: not yet" \
        in text.stdout
    assert f"acme-growth.com: {SPOOFER} 5 message(s), 0 passed DMARC" in text.stdout
    assert "acme-growth.com: starttls-not-supported 3" in text.stdout


def test_a_report_address_without_a_login_in_the_outputs_is_an_error_and_the_others_are_read(project, dovecot):
    dmarc_user = dovecot.add_user()
    outputs = _stack_outputs(dovecot, dmarc_user, "unused")
    outputs["report_mailboxes"] = outputs["report_mailboxes"][:1]
    fake = FakePulumiCommand(config=stack_config(project), outputs=outputs, secret_outputs=("report_mailboxes",))
    r = run_cli(["reports", "fetch", "--stack", "prod", "--imap-tls", "ssl", "--imap-ca-file", dovecot.ca_file,
                 "--json"], project, fake)
    assert r.code == 1
    assert [mb["address"] for mb in r.doc["result"]["mailboxes"]] == ["dmarc-reports@acme-mailops.com"]
    [err] = r.doc["errors"]
    assert (err["kind"], err["message"]) == (
        "report_mailbox_unknown", "the stack outputs hold no IMAP login for the report address "
                                  "tls-reports@acme-mailops.com")


def test_summary_without_recorded_ips_warns_that_every_source_counts_as_outside(project):
    r = run_cli(["reports", "summary", "--stack", "prod", "--since", "30d", "--json"], project)
    assert r.code == 0
    assert r.doc["warnings"][0].startswith("no sending IPs recorded for stack prod")
    assert r.doc["result"]["thresholds"] == {"evidence_days": 30, "min_aligned_pass": 0.98, "min_messages": 100,
                                             "max_unknown_failing_sources": 0}
    bad = run_cli(["reports", "summary", "--stack", "prod", "--since", "last week", "--json"], project)
    assert bad.code == 2 and bad.doc["errors"][0]["message"].startswith("--since:")


def _thirty_days(project, parser, domain, records):
    store = store_of(project)
    store.set_stack_ips("prod", m.STACK_IPS)
    m.stock(store, parser, [m.google_aggregate(domain, f"{domain}-{n}", *recent_day(n), records) for n in range(30, 0, -1)])


def test_dmarc_advance_with_the_evidence_edits_the_domain_phase_and_previews(project, parser):
    _thirty_days(project, parser, "acme-growth.com", [m.Rec("203.0.113.11", 10)])
    fake = FakePulumiCommand(config=stack_config(project))
    r = run_cli(["dmarc", "advance", "acme-growth.com", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert [c for c in fake.calls if c[:2] == ["config", "set"]] == [
        ["config", "set", "--path", "coldmail:domains[0].dmarcPhase", "--plaintext", "--stack", "prod",
         "--non-interactive", "--", "quarantine"]]
    assert [c[0] for c in fake.calls if c[0] in ("preview", "up")] == ["preview"]
    res = r.doc["result"]
    assert (res["edit"], res["applied"], res["forced"]) == ("dmarc advance", False, False)
    assert (res["evidence"]["ready"], res["evidence"]["next_phase"], res["evidence"]["days_at_phase"]) == (
        True, "quarantine", 30.0)


def test_dmarc_advance_without_the_evidence_is_refused_with_the_numbers_and_writes_nothing(project, parser):
    store = store_of(project)
    store.set_stack_ips("prod", m.STACK_IPS)
    m.stock(store, parser, [m.google_aggregate("acmegrowth.io", f"io-{n}", *recent_day(n), [m.Rec("203.0.113.12", 10)])
                            for n in range(12, 0, -1)])
    fake = FakePulumiCommand(config=stack_config(project))
    r = run_cli(["dmarc", "advance", "acmegrowth.io", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2
    assert fake.calls == []
    [err] = r.doc["errors"]
    assert err["kind"] == "dmarc_not_ready"
    assert err["message"] == "acmegrowth.io: stays at p=none: 12 days of reports at p=none, 30 needed"
    ev = r.doc["result"]["evidence"]
    assert (ev["days_at_phase"], ev["messages"], ev["aligned_pass_rate"], r.doc["result"]["operations"]) == (
        12.0, 120, 1.0, [])
    assert stack_config(project).get("coldmail:domains")[1].get("dmarcPhase") is None

    forced = run_cli(["dmarc", "advance", "acmegrowth.io", "--stack", "prod", "--force", "--json"], project, fake)
    assert forced.code == 0
    assert forced.doc["result"]["forced"] is True
    assert forced.doc["warnings"] == ["forced past the evidence: acmegrowth.io: stays at p=none: 12 days of reports "
                                      "at p=none, 30 needed"]
    assert [c[-1] for c in fake.calls if c[:2] == ["config", "set"]] == ["quarantine"]


def test_dmarc_advance_names_the_domains_when_it_does_not_know_one(project):
    r = run_cli(["dmarc", "advance", "nope.example", "--stack", "prod", "--json"], project, FakePulumiCommand())
    assert r.code == 2
    assert r.doc["errors"][0]["message"] == "no domain 'nope.example' in stack prod"
    assert r.doc["errors"][0]["fix"].startswith("use one of: acme-growth.com, acmegrowth.io")
