"""The on-server agent's ``backup.health`` job: the host's backups, read through ``backup.sh list`` from the
read-only tree the container mounts, into the history, alerted on change, and on the status page.

The host tree is a scratch root laid out as ``backup.sh`` reads it (``ROOT`` prefixes every path): the
real script and its settings under ``opt/coldmail``, the last run's state, restore points in the backup
location with an archive per part. Alerts go to an apprise JSON webhook on loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from coldmail.cli.commands.agent import AGENT_JOBS, Agent, agent_run
from coldmail.cli.session import Session
from coldmail.model import agentfile
from coldmail.ops.history import History
from coldmail.ops.signals import BACKUP_LATEST, BACKUP_RUN
from tests.ops.test_notify import hook  # noqa: F401 - the apprise JSON webhook fixture, shared

SCRIPT = Path(__file__).resolve().parents[2] / "components" / "scripts" / "backup.sh"
BACKUP_JOB = [j for j in AGENT_JOBS if j.name == "backup.health"]
HOUR = 3600
LOCATION = "/var/backups/mailcow"
STALE = "mailcow-2026-08-02-03-30-00"
FRESH = "mailcow-2026-08-05-03-30-00"
RAW = {
    "servers": [{"name": "mx1", "hostname": "mx1.ops-example.com", "floatingIps": 1, "sshPublicKey":
                 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTONLYTESTONLYTESTONLYTESTONLY test@example",
                 "adminCidrs": ["203.0.113.0/28"]}],
    "domains": [{"name": "alpha-example.com", "ip": 1, "mailboxes": [{"localPart": "anna", "name": "Anna Berg"}]}],
    "dmarc": {"rua": "dmarc@ops-example.com"},
}


def host_tree(tmp_path) -> Path:
    """``/opt/coldmail`` as ``backup.sh install`` leaves it (settings, state directory) and an empty location."""
    root = tmp_path / "host"
    coldmail = root / "opt" / "coldmail"
    (coldmail / "state").mkdir(parents=True)
    shutil.copy(SCRIPT, coldmail / "backup.sh")
    (coldmail / "backup.env").write_text(f"LOCATION={LOCATION}\nDELETE_DAYS=14\nOFFSITE=n\nKEEP_DAYS=0\n"
                                         "HOST_NAME=mx1.ops-example.com\n")
    (root / LOCATION.lstrip("/")).mkdir(parents=True)
    return root


def backed_up(root: Path, name: str, hours_ago: float) -> None:
    """A complete restore point made ``hours_ago``, and the run that made it as the last run."""
    point = root / LOCATION.lstrip("/") / name
    point.mkdir()
    for part in ("vmail", "crypt", "redis", "rspamd", "postfix", "mariadb"):
        (point / f"backup_{part}.tar.zst").write_bytes(b"archive stand-in\n")
    made = int(time.time() - hours_ago * HOUR)
    os.utime(point, (made, made))
    (root / "opt/coldmail/state/backup-last.json").write_text(json.dumps(
        {"status": "ok", "point": name, "message": "backup complete", "offsite": "off", "started_at": made - 600,
         "finished_at": made}))


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))}


def agent_file(tmp_path, host_root, raw=RAW) -> str:
    path = tmp_path / "agent.json"
    path.write_text(agentfile.render(stack="prod", server="mx1", raw=raw, outputs={"servers": {}}, relays={},
                                     data_dir=str(tmp_path / "data"), host_root=host_root))
    return str(path)


def session(tmp_path, hook=None) -> Session:
    env = {"PATH": "/usr/bin:/bin", **({"COLDMAIL_NOTIFY_URLS": hook.url} if hook else {})}
    return Session(project_dir=str(tmp_path), env=env)


def test_a_backup_older_than_two_days_fails_alerts_once_shows_on_the_status_page_and_recovers(tmp_path, hook):
    root = host_tree(tmp_path)
    backed_up(root, STALE, hours_ago=72)
    path = agent_file(tmp_path, str(root))
    before = snapshot(root)

    out = agent_run(session(tmp_path, hook), "prod", config_file=path, once=True, jobs=BACKUP_JOB)
    assert out.exit_code == 0, out.errors
    (run,) = out.result["runs"]
    assert (run["job"], run["ok"]) == ("backup.health", True)
    assert (run["result"]["latest"], run["result"]["location"], run["result"]["changes"], run["result"]["alerted"]) == (
        STALE, LOCATION, 1, True)
    history = History(str(tmp_path / "data" / "history.sqlite"))
    states = {s.observation.check: s.observation for s in history.current(check_prefix="backup.")}
    assert (states[BACKUP_LATEST].status, states[BACKUP_LATEST].subject, round(states[BACKUP_LATEST].value)) == (
        "fail", "server:mx1", 72)
    assert states[BACKUP_LATEST].summary == f"latest backup {STALE} is 3.0 days old (older than 2 days)"
    assert (states[BACKUP_RUN].status, states[BACKUP_RUN].summary) == ("ok", f"backup {STALE}: backup complete")
    [post] = hook.posts
    assert post["title"] == "coldmail prod: 1 backup change(s)" and post["type"] == "failure"
    assert post["message"].startswith(f"server:mx1: backup.latest new → fail — latest backup {STALE} is 3.0 days old")

    page = (tmp_path / "data" / "site" / "index.html").read_text()
    operations = re.search(r'<section id="operations">.*?</section>', page, re.S).group(0)
    row = re.search(r'<tr data-check="backup.latest" data-subject="server:mx1">(.*?)</tr>', operations, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["failing", "server:mx1", "backup.latest", "latest backup 72 h old"]
    # The job only read the host's tree.
    assert snapshot(root) == before

    # The next day's run finds the same: nothing new, no alert.
    agent = Agent(agentfile.read(path), session(tmp_path, hook))
    assert agent.backups()["changes"] == 0 and len(hook.posts) == 1
    # A backup arrives: one alert, the recovery.
    backed_up(root, FRESH, hours_ago=1)
    assert agent.backups()["changes"] == 1
    assert len(hook.posts) == 2
    assert hook.posts[1]["message"].startswith(f"server:mx1: backup.latest fail → ok — latest backup {FRESH} is 0.0")


def test_a_server_without_backup_settings_fails_the_job_with_what_backup_sh_said(tmp_path):
    root = host_tree(tmp_path)
    (root / "opt/coldmail/backup.env").unlink()
    path = agent_file(tmp_path, str(root))
    out = agent_run(session(tmp_path), "prod", config_file=path, once=True, jobs=BACKUP_JOB)
    assert out.exit_code == 1
    (run,) = out.result["runs"]
    assert not run["ok"] and run["error"].startswith("BackupError: backup.sh list on mx1 failed: [coldmail] ERROR: "
                                                     "backups are not installed on this server")


def test_the_job_is_off_without_the_hosts_tree_or_when_backups_are_off(tmp_path):
    off = {**RAW, "backup": {"enabled": False}}
    for host_root, raw in ((None, RAW), (str(host_tree(tmp_path)), off)):
        out = agent_run(session(tmp_path), "prod", config_file=agent_file(tmp_path, host_root, raw), once=True,
                        jobs=BACKUP_JOB)
        assert (out.exit_code, out.result["runs"], out.result["jobs"]) == (0, [], [])
