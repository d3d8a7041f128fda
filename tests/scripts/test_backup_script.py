"""backup.sh against a scratch root: stand-ins for systemctl, docker and Mailcow's backup_and_restore.sh
(tests/scripts/upstream_backup.sh: its menus and prompt texts as docs/mailcow-api.md §8 gives them), and
the real restic with a local repository for the off-site copy."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parents[1] / "components" / "scripts"
EXTRA_TOOLS = ("comm", "tee", "du", "find", "uname", "restic")
OLD, NEW = "mailcow-2026-08-01-03-30-00", "mailcow-2026-08-02-03-30-00"
ALL = ("vmail", "crypt", "redis", "rspamd", "postfix", "mariadb")
PASSWORD = "test-only-restic-password"
SECRETS_STDIN = (f"RESTIC_PASSWORD={PASSWORD}\nAWS_ACCESS_KEY_ID=TESTKEYID-not-real\n"
                 "AWS_SECRET_ACCESS_KEY=test-secret-not-real\n")
INSTALL = {"LOCATION": "/var/backups/mailcow", "DELETE_DAYS": "14", "TIME": "03:30", "HOST_NAME": "mx1.example.test"}

SYSTEMCTL = r'''printf "%s" "${0##*/}" >>"$FAKE/calls"; for a in "$@"; do printf " %s" "$a" >>"$FAKE/calls"; done; echo >>"$FAKE/calls"
unit="${@: -1}"
case "$1" in
  is-active) [[ -e "$FAKE/active-$unit" ]] ;;
  restart) touch "$FAKE/active-$unit" ;;
  enable) [[ "$2" == --now ]] && touch "$FAKE/active-$unit"; exit 0 ;;
  disable) rm -f "$FAKE/active-$unit"; exit 0 ;;
  start) [[ -e "$FAKE/fail-start" ]] && exit 1
         [[ "$unit" == coldmail-backup.service ]] && exec bash "$BACKUP_SH" run ;;
  *) exit 0 ;;
esac
'''
DOCKER = r'''printf "%s" "${0##*/}" >>"$FAKE/calls"; for a in "$@"; do printf " %s" "$a" >>"$FAKE/calls"; done; echo >>"$FAKE/calls"
case "$1" in
  ps) echo "c0ffee-${@: -1}" ;;
  # `docker run -i` forwards its stdin into the container until end-of-file, as the real client does.
  run) if [[ " $* " == *" -i "* ]]; then cat >>"$FAKE/docker-run-stdin"; fi ;;
esac
exit 0
'''


@pytest.fixture
def box(sandbox):
    tools = sandbox.fake / "tools"
    for tool in EXTRA_TOOLS:
        real = shutil.which(tool)
        assert real, f"{tool} is needed by the backup script tests"
        (tools / tool).symlink_to(real)
    for name, body in (("systemctl", SYSTEMCTL), ("docker", DOCKER)):
        (sandbox.fake / "bin" / name).write_text("#!/usr/bin/env bash\n" + body)
        (sandbox.fake / "bin" / name).chmod(0o755)
    helper = sandbox.root / "opt" / "mailcow-dockerized" / "helper-scripts" / "backup_and_restore.sh"
    helper.parent.mkdir(parents=True)
    shutil.copy(HERE / "upstream_backup.sh", helper)
    helper.chmod(0o755)
    export = sandbox.root / "opt" / "coldmail" / "coldmail-stack.json"
    export.parent.mkdir(parents=True)
    export.write_text('{"config": {"coldmail:dmarc": {"rua": "dmarc@example.test"}}}\n')
    sandbox.env.update(BACKUP_SH=str(SCRIPTS / "backup.sh"), RESTIC_CACHE_DIR=str(sandbox.fake / "restic-cache"))
    return sandbox


def install(box, stdin: str = "", **settings: str) -> subprocess.CompletedProcess:
    return box.run("backup.sh", env={**INSTALL, **settings}, stdin=stdin, args=["install"])


def make_point(box, name: str, parts=ALL, arch: str = "x86_64", age_days: float = 0) -> Path:
    d = box.root / "var" / "backups" / "mailcow" / name
    d.mkdir(parents=True)
    for p in parts:
        (d / f"backup_{p}.tar.zst").write_text(f"archive of {p}\n")
    (d / "mailcow.conf").write_text("DBROOT=fake\n")
    (d / f".{arch}").touch()
    if age_days:
        t = d.stat().st_mtime - age_days * 86400
        os.utime(d, (t, t))
    return d


def answers(box) -> list[tuple[str, str]]:
    path = box.fake / "answers"
    return [tuple(line.split("\t")) for line in path.read_text().splitlines()] if path.exists() else []


def menu_number(transcript: str, label: str) -> str:
    """The number upstream's dataset menu shows for ``label`` (its order follows the directory listing)."""
    for line in transcript.splitlines():
        if line.endswith(f"] - {label}"):
            return line.split("]")[0].strip("[ ")
    raise AssertionError(f"{label!r} is not in the menu:\n{transcript}")


# --------------------------------------------------------------------------------------------
# install
# --------------------------------------------------------------------------------------------

def test_install_writes_settings_a_daily_timer_and_a_0755_location(box):
    install(box)
    assert (box.root / "opt/coldmail/backup.env").read_text() == (
        "LOCATION=/var/backups/mailcow\nDELETE_DAYS=14\nOFFSITE=n\nKEEP_DAYS=30\nHOST_NAME=mx1.example.test\n")
    timer = (box.root / "etc/systemd/system/coldmail-backup.timer").read_text()
    assert "OnCalendar=*-*-* 03:30:00\nPersistent=true\n" in timer
    service = (box.root / "etc/systemd/system/coldmail-backup.service").read_text()
    assert "Type=oneshot\nExecStart=/usr/bin/bash /opt/coldmail/backup.sh run\n" in service
    assert stat.S_IMODE((box.root / "var/backups/mailcow").stat().st_mode) == 0o755
    assert box.calls == ["systemctl daemon-reload", "systemctl enable coldmail-backup.timer",
                         "systemctl restart coldmail-backup.timer"]
    assert not (box.root / "opt/coldmail/secrets/restic.env").exists()


def test_install_again_unchanged_touches_no_unit(box):
    install(box)
    box.reset_calls()
    install(box)
    assert box.calls == ["systemctl is-active --quiet coldmail-backup.timer"]


def test_a_new_time_rewrites_the_timer_and_restarts_it(box):
    install(box)
    box.reset_calls()
    install(box, TIME="01:05")
    assert "OnCalendar=*-*-* 01:05:00" in (box.root / "etc/systemd/system/coldmail-backup.timer").read_text()
    assert box.calls == ["systemctl daemon-reload", "systemctl enable coldmail-backup.timer",
                         "systemctl restart coldmail-backup.timer"]


def test_disabled_backups_stop_and_remove_the_timer(box):
    install(box)
    box.reset_calls()
    install(box, ENABLED="n")
    assert box.calls == ["systemctl disable --now coldmail-backup.timer"]
    assert not (box.root / "etc/systemd/system/coldmail-backup.timer").exists()


def test_offsite_secrets_come_from_stdin_into_a_0600_file_and_never_reach_a_command_line(box):
    (box.fake / "bin" / "restic").write_text("#!/bin/sh\nexit 0\n")  # installed already: no apt-get
    (box.fake / "bin" / "restic").chmod(0o755)
    install(box, stdin=SECRETS_STDIN, OFFSITE_REPOSITORY="s3:https://s3.example.test/bucket/mx1", KEEP_DAYS="30")
    secrets = box.root / "opt/coldmail/secrets/restic.env"
    assert secrets.read_text() == ("RESTIC_REPOSITORY=s3:https://s3.example.test/bucket/mx1\n"
                                   f"RESTIC_PASSWORD={PASSWORD}\nAWS_ACCESS_KEY_ID=TESTKEYID-not-real\n"
                                   "AWS_SECRET_ACCESS_KEY=test-secret-not-real\n")
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    assert "OFFSITE=y" in (box.root / "opt/coldmail/backup.env").read_text()
    assert not any(PASSWORD in c or "test-secret" in c for c in box.calls)


def test_offsite_without_its_secrets_is_refused(box):
    proc = box.run("backup.sh", env={**INSTALL, "OFFSITE_REPOSITORY": "s3:https://s3.example.test/b"},
                   args=["install"], check=False)
    assert proc.returncode == 1
    assert "needs RESTIC_PASSWORD, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY on stdin" in proc.stderr


# --------------------------------------------------------------------------------------------
# run, now, list
# --------------------------------------------------------------------------------------------

def test_run_calls_upstream_with_the_location_and_delete_days_and_puts_the_export_beside_the_backup(box):
    install(box)
    box.reset_calls()
    box.run("backup.sh", args=["run"])
    location = box.root / "var/backups/mailcow"
    assert box.calls == [f"backup_and_restore.sh backup all --delete-days 14 MAILCOW_BACKUP_LOCATION={location}"]
    (point,) = [p for p in location.iterdir()]
    assert sorted(p.name for p in point.iterdir()) == sorted(
        [".x86_64", "mailcow.conf", "coldmail-stack.json"] + [f"backup_{p}.tar.zst" for p in ALL])
    assert json.loads((point / "coldmail-stack.json").read_text()) == {
        "config": {"coldmail:dmarc": {"rua": "dmarc@example.test"}}}
    state = json.loads((box.root / "opt/coldmail/state/backup-last.json").read_text())
    assert (state["status"], state["point"], state["offsite"], state["message"]) == (
        "ok", point.name, "off", "backup complete")


def test_upstream_deletes_points_older_than_delete_days(box):
    install(box, DELETE_DAYS="3")
    old = make_point(box, OLD, age_days=5)
    kept = make_point(box, NEW, age_days=1)
    box.run("backup.sh", args=["run"])
    assert not old.exists() and kept.exists()


def test_a_missing_archive_fails_the_run_and_names_the_part(box):
    install(box)
    (box.fake / "fail-part-redis").touch()
    proc = box.run("backup.sh", args=["run"], check=False)
    assert proc.returncode == 1
    assert "has no archive for: redis" in proc.stderr
    state = json.loads((box.root / "opt/coldmail/state/backup-last.json").read_text())
    assert (state["status"], state["message"]) == ("failed", "no archive for: redis")


def test_run_before_install_says_what_to_do(box):
    proc = box.run("backup.sh", args=["run"], check=False)
    assert proc.returncode == 1
    assert "backups are not installed on this server" in proc.stderr and "pulumi up" in proc.stderr


def test_now_runs_the_service_and_prints_the_state(box):
    install(box)
    box.reset_calls()
    proc = box.run("backup.sh", args=["now"])
    state = json.loads(proc.stdout)
    assert state["status"] == "ok" and state["point"].startswith("mailcow-")
    assert box.calls[0] == "systemctl start coldmail-backup.service"


def test_now_never_reports_an_earlier_run_as_this_one(box):
    install(box)
    box.run("backup.sh", args=["now"])
    (box.fake / "fail-start").touch()  # the unit fails before the script records anything
    proc = box.run("backup.sh", args=["now"], check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "the backup service ran but recorded no run (exit 1)" in proc.stderr


def test_list_shows_each_point_with_its_parts_and_the_last_run(box):
    install(box)
    make_point(box, OLD, parts=("vmail", "mariadb"))
    new = make_point(box, NEW)
    (new / "coldmail-stack.json").write_text("{}\n")
    doc = json.loads(box.run("backup.sh", args=["list"]).stdout)
    assert doc["location"] == "/var/backups/mailcow" and doc["delete_days"] == 14 and doc["offsite"] is False
    assert [(p["name"], p["parts"], p["config_export"]) for p in doc["points"]] == [
        (OLD, ["vmail", "mysql"], False),
        (NEW, ["vmail", "crypt", "redis", "rspamd", "postfix", "mysql"], True)]
    assert all(p["size_bytes"] > 0 and p["created_at"] > 1_700_000_000 for p in doc["points"])
    assert doc["last_run"] is None


# --------------------------------------------------------------------------------------------
# restore: upstream's menus answered
# --------------------------------------------------------------------------------------------

def test_restore_vmail_answers_the_point_then_the_dataset_and_leaves_the_resync_at_its_default(box):
    install(box)
    make_point(box, OLD)
    make_point(box, NEW)
    proc = box.run("backup.sh", args=["restore", NEW, "vmail"])
    got = answers(box)
    assert got == [("Select a restore point: ", "2"),
                   ("Select a dataset to restore: ", menu_number(proc.stderr, "Mail directory (/var/vmail)")),
                   ("Force a resync now? [y|N] ", "<EOF>")]
    location = box.root / "var/backups/mailcow"
    assert (box.fake / "restored").read_text() == f"restored vmail from {location}/{NEW}/\n"
    assert "OK, skipped." in proc.stderr
    # The container's stdin reached end-of-file without swallowing an answer.
    assert (box.fake / "docker-run-stdin").read_text() == ""
    assert json.loads(proc.stdout) == {"point": NEW, "restored": ["vmail"]}


def test_restore_of_several_parts_runs_upstream_once_per_part_mysql_last(box):
    install(box)
    make_point(box, NEW)
    proc = box.run("backup.sh", args=["restore", NEW, "mysql", "redis"])
    location = box.root / "var/backups/mailcow"
    assert (box.fake / "restored").read_text() == (f"restored redis from {location}/{NEW}/\n"
                                                   f"restored mysql from {location}/{NEW}/\n")
    # Upstream's restore point ends in "/" and the prompt adds another one.
    prompt = (f"mailcow will be stopped and the currently active mailcow.conf will be modified to use the DB "
              f"parameters found in {location}/{NEW}//mailcow.conf - do you want to proceed? [Y|n] ")
    got = answers(box)
    assert [p for p, _ in got] == ["Select a restore point: ", "Select a dataset to restore: ",
                                   "Select a restore point: ", "Select a dataset to restore: ", prompt]
    assert got[4] == (prompt, "<EOF>")  # upstream's default: stop Mailcow and restore
    assert "docker compose down" in box.calls and "docker compose up -d" in box.calls
    assert json.loads(proc.stdout) == {"point": NEW, "restored": ["redis", "mysql"]}


def test_restore_refuses_a_point_or_part_that_does_not_exist_before_running_upstream(box):
    install(box)
    make_point(box, NEW, parts=("vmail",))
    box.reset_calls()
    proc = box.run("backup.sh", args=["restore", OLD, "vmail"], check=False)
    assert proc.returncode == 1 and f"no restore point {OLD}" in proc.stderr
    proc = box.run("backup.sh", args=["restore", NEW, "redis"], check=False)
    assert proc.returncode == 1 and f"{NEW} has no redis archive" in proc.stderr
    proc = box.run("backup.sh", args=["restore", "../etc", "vmail"], check=False)
    assert proc.returncode == 1 and "must look like mailcow-YYYY-MM-DD-HH-MM-SS" in proc.stderr
    assert box.calls == []


def test_restore_stops_when_upstream_does_not_offer_the_part(box):
    install(box)
    make_point(box, NEW, arch="aarch64")  # upstream refuses rspamd data of another architecture
    proc = box.run("backup.sh", args=["restore", NEW, "rspamd"], check=False)
    assert proc.returncode == 1
    assert f"restore point {NEW} offers no restorable rspamd" in proc.stderr
    assert "[ NaN ] - Rspamd data (incompatible Arch, cannot restore it)" in proc.stderr
    assert [p for p, _ in answers(box)] == ["Select a restore point: "]
    assert not (box.fake / "restored").exists()


def test_restore_fails_when_upstream_reports_a_missing_archive(box):
    install(box)
    point = make_point(box, NEW)
    # The archive vanishes after our check: upstream says so and goes on, exit 0.
    (box.fake / "bin" / "docker").write_text((box.fake / "bin" / "docker").read_text().replace(
        "  ps)", f"  stop) rm -f {point}/backup_crypt.tar.zst ;;\n  ps)"))
    proc = box.run("backup.sh", args=["restore", NEW, "crypt"], check=False)
    assert proc.returncode == 1
    assert "Error: No backup file found for crypt" in proc.stderr
    assert f"restoring crypt from {NEW} failed" in proc.stderr


# --------------------------------------------------------------------------------------------
# the off-site copy: real restic, local repository
# --------------------------------------------------------------------------------------------

def _restic(box, repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": box.env["HOME"], "RESTIC_REPOSITORY": str(repo),
           "RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": box.env["RESTIC_CACHE_DIR"]}
    return subprocess.run(["restic", *args], env=env, capture_output=True, text=True, timeout=120, check=True)


def test_offsite_copy_encrypts_each_point_into_restic_and_forgets_copies_past_keep_days(box, tmp_path):
    repo = tmp_path / "offsite-repo"
    install(box, stdin=SECRETS_STDIN, OFFSITE_REPOSITORY=str(repo), KEEP_DAYS="30")
    stale = make_point(box, OLD)
    # A copy from long ago, as an earlier run would have left it.
    _restic(box, repo, "init")
    _restic(box, repo, "backup", "--quiet", "--host", "mx1.example.test", "--tag", "coldmail",
            "--time", "2020-01-01 00:00:00", str(stale))
    shutil.rmtree(stale)

    box.run("backup.sh", args=["run"])
    state = json.loads((box.root / "opt/coldmail/state/backup-last.json").read_text())
    assert (state["status"], state["offsite"]) == ("ok", "ok")
    snaps = json.loads(_restic(box, repo, "snapshots", "--json").stdout)
    point = box.root / "var/backups/mailcow" / state["point"]
    assert [(s["hostname"], s["tags"], s["paths"]) for s in snaps] == [
        ("mx1.example.test", ["coldmail"], [str(point)])]
    # The repository holds no readable copy of the data: restic encrypts it.
    assert not any(b"archive of vmail" in f.read_bytes() for f in repo.rglob("*") if f.is_file())
    out = tmp_path / "restored"
    _restic(box, repo, "restore", "latest", "--target", str(out))
    assert (out / point.relative_to("/") / "backup_vmail.tar.zst").read_text() == "archive of vmail\n"
    assert (out / point.relative_to("/") / "coldmail-stack.json").exists()


def test_a_failed_offsite_copy_fails_the_run_but_keeps_the_local_backup(box, tmp_path):
    not_a_repo = tmp_path / "file"
    not_a_repo.write_text("not a repository\n")
    install(box, stdin=SECRETS_STDIN, OFFSITE_REPOSITORY=str(not_a_repo), KEEP_DAYS="30")
    proc = box.run("backup.sh", args=["run"], check=False)
    assert proc.returncode == 1 and "the off-site copy failed" in proc.stderr
    state = json.loads((box.root / "opt/coldmail/state/backup-last.json").read_text())
    assert (state["status"], state["offsite"]) == ("failed", "failed")
    assert (box.root / "var/backups/mailcow" / state["point"] / "backup_vmail.tar.zst").exists()
