"""`coldmail backup now | list | restore` and `destroy --keep-data` over a real SSH connection, with backup.sh
and the stand-in of Mailcow's backup_and_restore.sh in the server's scratch root."""

import json
import os
import subprocess

from coldmail.ops.history import History
from coldmail.ops.signals import BACKUP_LATEST, BACKUP_RUN
from tests.cli.fake_pulumi import FakePulumiCommand

INSTALL = "LOCATION=/var/backups/mailcow DELETE_DAYS=14 TIME=03:30 HOST_NAME=mx1.acme-mailops.com"
POINT = "mailcow-2026-08-01-03-30-00"


def install(server, extra=""):
    """What components/backups.py runs on the server, with the scratch root in front of the path."""
    env = dict(os.environ, ROOT=str(server.root), FAKE=str(server.fake),
               PATH=f"{server.base / 'bin'}:{os.environ['PATH']}")
    subprocess.run(f"{INSTALL} {extra} bash {server.root}/opt/coldmail/backup.sh install", shell=True, env=env,
                   check=True, capture_output=True, text=True, input="")
    (server.fake / "calls").write_text("")


def history(project):
    return History(os.path.join(project, ".coldmail", "history.sqlite"))


def test_backup_now_runs_the_service_and_records_its_health(cli, ssh_server, project):
    install(ssh_server)
    r = cli(["backup", "now", "--json"])
    assert r.code == 0, r.stderr
    (entry,) = r.doc["result"]["servers"]
    assert entry["run"]["status"] == "ok" and entry["run"]["offsite"] == "off"
    assert entry["path"] == f"/var/backups/mailcow/{entry['run']['point']}"
    assert ssh_server.calls[0] == "systemctl start coldmail-backup.service"
    point = ssh_server.root / "var/backups/mailcow" / entry["run"]["point"]
    assert (point / "coldmail-stack.json").exists() and (point / "backup_vmail.tar.zst").exists()
    current = {s.observation.check: s.observation.status for s in history(project).current(subject="server:mx1")}
    assert current == {BACKUP_LATEST: "ok", BACKUP_RUN: "ok"}
    assert r.doc["result"]["alerts"] == {"changes": [], "notified": False}


def test_a_failed_backup_exits_1_and_is_in_the_history(cli, ssh_server, project):
    install(ssh_server)
    (ssh_server.fake / "fail-part-redis").touch()
    r = cli(["backup", "now", "--json"])
    assert r.code == 1
    assert r.doc["errors"][0]["kind"] == "backup_failed"
    assert r.doc["errors"][0]["message"] == "the backup on mx1 failed: no archive for: redis"
    run = history(project).current(check_prefix=BACKUP_RUN)[0].observation
    assert (run.subject, run.status) == ("server:mx1", "fail")
    assert [c["check"] for c in r.doc["result"]["alerts"]["changes"]] == [BACKUP_RUN]


def _point(server, name=POINT, parts=("vmail", "crypt", "redis", "rspamd", "postfix", "mariadb")):
    d = server.root / "var/backups/mailcow" / name
    d.mkdir(parents=True)
    for p in parts:
        (d / f"backup_{p}.tar.zst").write_text(f"archive of {p}\n")
    (d / ".x86_64").touch()
    (d / "mailcow.conf").write_text("DBROOT=fake\n")
    return d


def test_backup_list_shows_the_points_and_a_stale_latest_fails(cli, ssh_server, project):
    install(ssh_server)
    d = _point(ssh_server)
    os.utime(d, (d.stat().st_mtime - 3 * 86400,) * 2)
    r = cli(["backup", "list", "--json"])
    assert r.code == 0, r.stderr
    (listing,) = r.doc["result"]["servers"]
    assert [p["name"] for p in listing["points"]] == [POINT]
    assert listing["points"][0]["parts"] == ["vmail", "crypt", "redis", "rspamd", "postfix", "mysql"]
    assert 71.9 < listing["latest_age_hours"] < 72.1
    health = {h["check"]: h["status"] for h in r.doc["result"]["health"]}
    assert health == {BACKUP_LATEST: "fail", BACKUP_RUN: "info"}
    assert r.doc["warnings"] == [f"latest backup {POINT} is 3.0 days old (older than 2 days)"]


def test_restore_needs_a_confirmation_then_answers_upstream_s_menus(cli, ssh_server):
    install(ssh_server)
    _point(ssh_server)
    refused = cli(["backup", "restore", POINT, "--parts", "vmail,redis", "--json"])
    assert refused.code == 2 and refused.doc["errors"][0]["kind"] == "confirmation_required"
    assert not (ssh_server.fake / "restored").exists()
    r = cli(["backup", "restore", POINT, "--parts", "redis,vmail", "--yes", "--json"])
    assert r.code == 0, r.stderr
    assert r.doc["result"] == {"server": "mx1", "point": POINT, "restored": ["vmail", "redis"]}
    location = ssh_server.root / "var/backups/mailcow"
    assert (ssh_server.fake / "restored").read_text() == (f"restored vmail from {location}/{POINT}/\n"
                                                           f"restored redis from {location}/{POINT}/\n")


def test_restore_of_a_point_or_part_that_does_not_exist_is_bad_input(cli, ssh_server):
    install(ssh_server)
    _point(ssh_server, parts=("vmail",))
    r = cli(["backup", "restore", "mailcow-2020-01-01-00-00-00", "--yes", "--json"])
    assert r.code == 2 and "has no restore point 'mailcow-2020-01-01-00-00-00'" in r.doc["errors"][0]["message"]
    r = cli(["backup", "restore", POINT, "--parts", "mysql", "--yes", "--json"])
    assert r.code == 2 and r.doc["errors"][0]["message"] == f"{POINT} on mx1 has no mysql archive"
    assert not (ssh_server.fake / "restored").exists()


def test_destroy_keep_data_backs_up_downloads_then_destroys(cli, ssh_server, tmp_path):
    install(ssh_server)
    kept_dir = tmp_path / "kept"

    class Watching(FakePulumiCommand):
        def run(self, args, *a, **kw):
            if args[:1] == ["destroy"]:
                self.kept_before_destroy = sorted(p.name for p in kept_dir.glob("mx1/*/*"))
            return super().run(args, *a, **kw)

    r = cli(["destroy", "--keep-data", "--backup-dir", str(kept_dir), "--yes", "--json"], fake_class=Watching)
    assert r.code == 0, r.stderr
    (kept,) = r.doc["result"]["kept_data"]
    point = kept["point"]
    assert kept == {"server": "mx1", "point": point, "server_path": f"/var/backups/mailcow/{point}",
                    "offsite": False, "local_path": str(kept_dir / "mx1" / point)}
    assert (kept_dir / "mx1" / point / "backup_vmail.tar.zst").read_text() == "archive of vmail\n"
    assert json.loads((kept_dir / "mx1" / point / "coldmail-stack.json").read_text())["config"]
    # Everything was on this machine before the one destroy began.
    assert [c[0] for c in r.fake.calls].count("destroy") == 1
    assert "backup_vmail.tar.zst" in r.fake.kept_before_destroy and "coldmail-stack.json" in r.fake.kept_before_destroy
    text = cli(["destroy", "--keep-data", "--backup-dir", str(tmp_path / "again"), "--yes"]).stdout
    assert "final backup of mx1: mailcow-" in text and f"copied to {tmp_path / 'again' / 'mx1'}/mailcow-" in text


def test_destroy_keep_data_destroys_nothing_when_the_backup_fails(cli, ssh_server):
    install(ssh_server)
    (ssh_server.fake / "fail-part-vmail").touch()
    r = cli(["destroy", "--keep-data", "--yes", "--json"])
    assert r.code == 1
    assert r.doc["errors"][0]["message"] == ("the final backup of mx1 failed: no archive for: vmail; "
                                             "nothing was destroyed")
    assert not any(c[0] == "destroy" for c in r.fake.calls)
