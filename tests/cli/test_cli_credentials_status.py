"""credentials export (0600, no overwrite, CSV round-trip, passwords kept off the terminal) and status."""

import csv
import json
import os
import stat

from coldmail.ops import credentials

from tests.cli.clikit import run_cli
from tests.cli.fake_pulumi import FakePulumiCommand

PW1, PW2 = "PLACEHOLDER-pw-anna-0001", "PLACEHOLDER-pw-jonas-0002"
CREDS = [
    {"email": "jonas.schulz@acme-growth.com", "first_name": "Jonas", "last_name": "Schulz", "password": PW2,
     "smtp_host": "mx1.acme-mailops.com", "smtp_port": 587, "imap_host": "mx1.acme-mailops.com", "imap_port": 993,
     "daily_limit": 20},
    {"email": "anna.berg@acme-growth.com", "first_name": "Anna", "last_name": "Berg", "password": PW1,
     "smtp_host": "mx1.acme-mailops.com", "smtp_port": 587, "imap_host": "mx1.acme-mailops.com", "imap_port": 993,
     "daily_limit": 20},
]
API_KEY, ADMIN_PW = "PLACEHOLDER-api-key-0000000000", "PLACEHOLDER-admin-pw-0000"
# The program's exports (__main__.py): `servers` and `domains` in clear, `server_secrets` and `credentials` secret.
SERVERS = {"mx1": {"server_id": "1001", "hostname": "mx1.acme-mailops.com", "ipv4_address": "203.0.113.10",
                   "ipv6_address": "2001:db8::1", "mailcow_url": "https://mx1.acme-mailops.com",
                   "floating_ips": [{"index": 1, "ip": "203.0.113.11", "ptr": "mx1-ip1.acme-mailops.com"}],
                   "relayhost_ids": {"1": "12"}}}
SERVER_SECRETS = {"mx1": {"api_key": API_KEY, "admin_password": ADMIN_PW}}
DOMAINS = {"acme-growth.com": {"unicode_name": "acme-growth.com", "server": "mx1", "ip_index": 1,
                               "sending_ip": "203.0.113.11", "ptr_name": "mx1-ip1.acme-mailops.com",
                               "dmarc_phase": "none", "zone_id": "0123456789abcdef0123456789abcdef",
                               "mailboxes": ["anna.berg@acme-growth.com", "jonas.schulz@acme-growth.com"],
                               "daily_limit_per_mailbox": 20, "records": ["MX acme-growth.com"]}}


def fake():
    return FakePulumiCommand(outputs={"servers": SERVERS, "server_secrets": SERVER_SECRETS, "domains": DOMAINS,
                                      "credentials": CREDS},
                             secret_outputs=("server_secrets", "credentials"))


def test_csv_export_round_trips_through_the_csv_module_with_the_sequencer_columns(project, tmp_path):
    out = tmp_path / "mailboxes.csv"
    r = run_cli(["credentials", "export", "--stack", "prod", "--format", "csv", "--out", str(out)], project, fake())
    assert r.code == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(credentials.COLUMNS)
    assert [r_["email"] for r_ in rows] == ["anna.berg@acme-growth.com", "jonas.schulz@acme-growth.com"]
    anna = rows[0]
    assert anna == {"email": "anna.berg@acme-growth.com", "first_name": "Anna", "last_name": "Berg",
                    "smtp_host": "mx1.acme-mailops.com", "smtp_port": "587", "smtp_username": "anna.berg@acme-growth.com",
                    "smtp_password": PW1, "imap_host": "mx1.acme-mailops.com", "imap_port": "993",
                    "imap_username": "anna.berg@acme-growth.com", "imap_password": PW1, "daily_limit": "20"}


def test_export_file_is_created_with_mode_0600(project, tmp_path):
    out = tmp_path / "c.json"
    old = os.umask(0)
    try:
        r = run_cli(["credentials", "export", "--stack", "prod", "--format", "json", "--out", str(out), "--json"],
                    project, fake())
    finally:
        os.umask(old)
    assert r.code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert json.loads(out.read_text())["accounts"][1]["smtp_password"] == PW2
    assert r.doc["result"]["mode"] == "0600" and r.doc["result"]["count"] == 2


def test_an_existing_file_is_kept_unless_force(project, tmp_path):
    out = tmp_path / "c.csv"
    out.write_text("keep me\n")
    r = run_cli(["credentials", "export", "--stack", "prod", "--out", str(out), "--json"], project, fake())
    assert r.code == 2 and out.read_text() == "keep me\n"
    assert "--force" in r.doc["errors"][0]["fix"]
    r = run_cli(["credentials", "export", "--stack", "prod", "--out", str(out), "--force"], project, fake())
    assert r.code == 0 and out.read_text().startswith("email,first_name")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_passwords_reach_the_terminal_only_with_show_passwords(project, tmp_path):
    for argv in ([], ["--json"]):
        r = run_cli(["credentials", "export", "--stack", "prod", "--out", str(tmp_path / f"a{len(argv)}.csv")] + argv,
                    project, fake())
        assert r.code == 0 and PW1 not in r.stdout + r.stderr and PW2 not in r.stdout + r.stderr
    r = run_cli(["credentials", "export", "--stack", "prod", "--out", str(tmp_path / "b.csv"), "--show-passwords",
                 "--json"], project, fake())
    assert PW1 in r.stdout and r.doc["result"]["accounts"][0]["smtp_password"] == PW1


def test_export_into_a_missing_directory_is_bad_input(project, tmp_path):
    out = tmp_path / "missing-dir" / "x.csv"
    r = run_cli(["credentials", "export", "--stack", "prod", "--out", str(out), "--json"], project, fake())
    assert r.code == 2
    (err,) = r.doc["errors"]
    assert err["kind"] == "credentials"
    assert err["message"] == f"cannot write {out}: the directory {out.parent} does not exist"


def test_export_without_credentials_in_the_outputs_fails_and_writes_nothing(project, tmp_path):
    out = tmp_path / "c.csv"
    r = run_cli(["credentials", "export", "--stack", "prod", "--out", str(out), "--json"], project,
                FakePulumiCommand(outputs={"servers": SERVERS}))
    assert r.code == 1 and not out.exists()


def test_credentials_per_domain_lists_are_flattened():
    rows = credentials.rows_from_outputs({"credentials": {"acme-growth.com": CREDS}})
    assert [r["email"] for r in rows] == ["anna.berg@acme-growth.com", "jonas.schulz@acme-growth.com"]


def test_status_shows_outputs_with_secrets_masked_and_the_latest_checks(project):
    r = run_cli(["status", "--stack", "prod", "--json"], project, fake())
    assert r.code == 0
    res = r.doc["result"]
    assert res["outputs"]["credentials"] == "[secret]" and res["outputs"]["server_secrets"] == "[secret]"
    assert res["outputs"]["domains"] == DOMAINS and res["servers"] == SERVERS
    assert res["mailboxes"] == 2 and res["checks"] is None
    for secret in (PW1, PW2, API_KEY, ADMIN_PW):
        assert secret not in r.stdout
    os.makedirs(os.path.join(project, ".coldmail", "checks"))
    with open(os.path.join(project, ".coldmail", "checks", "latest.json"), "w") as fh:
        json.dump({"ok": True, "checks": [{"name": "ptr", "ok": True}]}, fh)
    r = run_cli(["status", "--stack", "prod"], project, fake())
    assert r.code == 0
    for secret in (PW1, PW2, API_KEY, ADMIN_PW):
        assert secret not in r.stdout and secret not in r.stderr
    assert "mx1     203.0.113.10  2001:db8::1  https://mx1.acme-mailops.com  203.0.113.11 (mx1-ip1.acme-mailops.com)" \
        in r.stdout
    assert '"name": "ptr"' in r.stdout
    assert run_cli(["status", "--stack", "prod", "--json"], project, fake()).doc["result"]["checks"]["ok"] is True


def test_status_masks_a_secret_named_field_even_in_a_clear_output(project):
    leaky = {"mx1": dict(SERVERS["mx1"], api_key=API_KEY)}
    r = run_cli(["status", "--stack", "prod", "--json"], project,
                FakePulumiCommand(outputs={"servers": leaky, "credentials": CREDS}, secret_outputs=("credentials",)))
    assert r.code == 0 and API_KEY not in r.stdout
    assert r.doc["result"]["servers"]["mx1"]["api_key"] == "[secret]"
