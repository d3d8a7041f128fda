"""`coldmail suppression scan | list | add | export`: Postfix logs over SSH (Mailcow's and the relays'),
reports over IMAP with TLS from a real Dovecot, the list and its CSV for a sequencer."""

import os
import stat

import pytest
import yaml

from coldmail import model
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops.history import History
from tests.hygiene.samples import arf, dsn
from tests.support.mta import Dovecot

QID = "7C1D2E3F4A"


@pytest.fixture
def mailboxes(project):
    cfg = model.load(raw_from_stack_file(os.path.join(project, "Pulumi.prod.yaml")))
    return list(cfg.domains[0].addresses)  # acme-growth.com


@pytest.fixture
def imap(project, mailboxes):
    server = Dovecot({a: f"test-only-pw-{i}" for i, a in enumerate(mailboxes)})
    # The server's certificate is self-signed: the stack names it, as for the Mailcow API.
    path = os.path.join(project, "Pulumi.prod.yaml")
    doc = yaml.safe_load(open(path))
    doc["config"]["coldmail:servers"][0]["mailcowCaBundle"] = str(server.cert)
    with open(path, "w") as fh:
        yaml.safe_dump(doc, fh)
    yield server
    server.stop()


def credentials(imap, mailboxes):
    return [{"email": a, "password": f"test-only-pw-{i}", "smtp_host": "mx1.acme-mailops.com", "smtp_port": 587,
             "imap_host": "127.0.0.1", "imap_port": imap.imaps_port} for i, a in enumerate(mailboxes)]


def relay_journal(sender):
    return "\n".join([
        f"2026-08-05T10:00:00+0000 mx1 postfix-relay1/qmgr[401]: {QID}: from=<{sender}>, size=900, nrcpt=3 (queue active)",
        f"2026-08-05T10:00:01+0000 mx1 postfix-relay1/smtp[402]: {QID}: to=<ok@dest.test>, relay=mx.dest.test[203.0.113.50]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)",
        f"2026-08-05T10:00:01+0000 mx1 postfix-relay1/smtp[402]: {QID}: to=<bad@dest.test>, relay=mx.dest.test[203.0.113.50]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.dest.test[203.0.113.50] said: 550 5.1.1 <bad@dest.test>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
        "-- Boot 1234 --", ""])


def test_scan_reads_both_logs_and_every_mailbox_and_counts_each_bounce_once(cli, ssh_server, imap, mailboxes, project):
    a1, a2 = mailboxes[0], mailboxes[1]
    (ssh_server.fake / "compose-logs").write_text(
        f"postfix-mailcow-1  | 2026-08-05T09:59:59.5Z Aug  5 09:59:59 mx1 postfix/qmgr[301]: 1A2B3C4D5E: "
        f"from=<{a1}>, size=812, nrcpt=3 (queue active)\n"
        f"postfix-mailcow-1  | 2026-08-05T09:59:59.9Z Aug  5 09:59:59 mx1 postfix/smtp[302]: 1A2B3C4D5E: "
        f"to=<ok@dest.test>, relay=172.22.1.1[172.22.1.1]:2526, delay=0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")
    (ssh_server.fake / "relay-journal").write_text(relay_journal(a1))
    imap.deliver(a1, dsn(a1, [("bad@dest.test", "failed", "5.1.1", "550 5.1.1 User unknown")], queue_id=QID,
                         reporting_mta="mx1-ip1.acme-mailops.com"))
    imap.deliver(a1, arf(a1, "angry@provider.test"))
    imap.deliver(a2, dsn(a2, [("gone@dest.test", "failed", "5.1.1", "550 5.1.1 no such user")]))
    creds = credentials(imap, mailboxes)

    r = cli(["suppression", "scan", "--json"], credentials=creds)
    assert r.code == 0, r.stderr
    res = r.doc["result"]
    assert ssh_server.calls == [
        "docker compose logs --no-color --timestamps --tail all --since 24h postfix-mailcow",
        "journalctl --no-pager -o short-iso -u coldmail-relay@* --since -24h"]
    assert res["scanned"] == {"servers": ["mx1"], "log_lines": 6, "deliveries": 3, "mailboxes": 3}
    assert res["new"] == {"sends": 2, "hard": 2, "soft": 0, "complaints": 1, "reports": 3}
    assert res["suppressed"] == 3
    assert sorted((f["check"], f["subject"]) for f in res["flagged"]) == [
        ("hygiene.bounce_rate", "domain:acme-growth.com"),
        ("hygiene.bounce_rate", f"mailbox:{a1}"),
        ("hygiene.bounce_rate", f"mailbox:{a2}"),
        ("hygiene.complaints", "domain:acme-growth.com"),
        ("hygiene.complaints", f"mailbox:{a1}")]
    held = {s.observation.subject for s in History(os.path.join(project, ".coldmail", "history.sqlite")).current(
        check_prefix="hygiene.bounce_rate") if s.observation.status == "fail"}
    assert held == {"domain:acme-growth.com", f"mailbox:{a1}", f"mailbox:{a2}"}
    for secret in (c["password"] for c in creds):
        assert secret not in r.stdout and secret not in r.stderr

    again = cli(["suppression", "scan", "--json"], credentials=creds).doc["result"]
    assert again["new"] == {"sends": 0, "hard": 0, "soft": 0, "complaints": 0, "reports": 0}
    assert again["alerts"]["changes"] == []

    listed = cli(["suppression", "list", "--domain", "acme-growth.com", "--json"]).doc["result"]
    assert [(e["email"], e["type"], e["source"]) for e in listed["entries"]] == [
        ("angry@provider.test", "complaint", "imap"), ("bad@dest.test", "hard", "log"),
        ("gone@dest.test", "hard", "imap")]


def test_add_list_and_export_for_a_sequencer(cli, project, tmp_path):
    r = cli(["suppression", "add", "Opted.Out@Provider.test", "x@y.test", "--reason", "asked to stop", "--json"])
    assert r.code == 0 and r.doc["result"] == {"domain": "*", "added": ["opted.out@provider.test", "x@y.test"],
                                               "already": []}
    r = cli(["suppression", "add", "x@y.test", "--domain", "acmegrowth.io", "--json"])
    assert r.doc["result"] == {"domain": "acmegrowth.io", "added": ["x@y.test"], "already": []}
    assert cli(["suppression", "list", "--domain", "acme-growth.com", "--json"]).doc["result"]["count"] == 2
    assert cli(["suppression", "list", "--json"]).doc["result"]["count"] == 3

    out = tmp_path / "blocklist.csv"
    r = cli(["suppression", "export", "--format", "csv", "--out", str(out), "--json"])
    assert r.code == 0 and r.doc["result"]["count"] == 2
    lines = out.read_text().splitlines()
    assert lines[0] == "email,type,reason,sending_domain,source,first_seen,last_seen,count"
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["opted.out@provider.test", "x@y.test"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    kept = cli(["suppression", "export", "--out", str(out), "--json"])
    assert kept.code == 2 and "exists; kept it" in kept.doc["errors"][0]["message"]


def test_bad_addresses_and_foreign_domains_are_refused(cli):
    r = cli(["suppression", "add", "not-an-address", "--json"])
    assert r.code == 2 and r.doc["errors"][0]["message"] == "not an email address: not-an-address"
    r = cli(["suppression", "list", "--domain", "elsewhere.test", "--json"])
    assert r.code == 2 and r.doc["errors"][0]["message"] == "'elsewhere.test' is not a domain of the stack"


def test_a_scan_since_a_time_asks_docker_and_journald_in_their_own_formats(cli, ssh_server):
    r = cli(["suppression", "scan", "--since", "2026-08-05T12:00:00+02:00", "--no-imap", "--json"])
    assert r.code == 0, r.stderr
    assert ssh_server.calls == [
        "docker compose logs --no-color --timestamps --tail all --since 2026-08-05T12:00:00+02:00 postfix-mailcow",
        "journalctl --no-pager -o short-iso -u coldmail-relay@* --since 2026-08-05 10:00:00 UTC"]
    assert r.doc["result"]["scanned"]["mailboxes"] == 0
