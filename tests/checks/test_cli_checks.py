"""The commands over the checks: ``check``, ``check history``, ``status-page``, ``domain move`` and
``agent run``, run through ``coldmail.cli.main`` with the JSON envelope validated against its schema."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from coldmail.model import agentfile
from tests.checks.conftest import ADDRESSES, STACK_RAW, outputs_for
from tests.cli.clikit import FIXTURE_PROJECT, run_cli
from tests.cli.fake_pulumi import FakePulumiCommand

ZEN_IP1 = "11.113.0.203.zen.spamhaus.org"


@pytest.fixture
def project(tmp_path):
    """A project whose ``Pulumi.prod.yaml`` holds the checks' test stack."""
    d = tmp_path / "proj"
    d.mkdir()
    shutil.copy(os.path.join(FIXTURE_PROJECT, "Pulumi.yaml"), d / "Pulumi.yaml")
    shutil.copytree(os.path.join(FIXTURE_PROJECT, "policy"), d / "policy")
    # No Mailcow API key in the file (as when it is encrypted): nothing tries to reach a Mailcow.
    raw = {**STACK_RAW, "servers": [{k: v for k, v in s.items() if k != "mailcowApiKey"} for s in STACK_RAW["servers"]]}
    (d / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": {f"coldmail:{k}": v for k, v in raw.items()}}))
    return str(d)


def write_outputs(tmp_path) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs_for()))
    return str(path)


def test_check_without_the_pulumi_cli_reads_the_stack_file_and_says_addresses_are_unknown(project, live_zone):
    r = run_cli(["check", "dns", "blacklist", "--stack", "prod", "--json", "--nameserver", live_zone.nameserver],
                project)
    doc = r.doc
    assert r.code == 0, r.stdout + r.stderr
    res = doc["result"]
    assert res["kinds"] == ["dns", "blacklist"] and res["sources"]["outputs"] == "none"
    assert res["sources"]["config"].endswith("Pulumi.prod.yaml")
    assert "every check that needs an IP address is unknown" in doc["warnings"][0]
    by = {(o["check"], o["subject"]): o["status"] for o in res["observations"]}
    assert by[("blacklist.zen", "ip:mx1/ip1")] == "unknown" and by[("dns.spf", "domain:acme-alpha.com")] == "unknown"
    assert by[("dns.dmarc", "domain:acme-alpha.com")] == "ok"
    assert by[("blacklist.dbl", "domain:acme-alpha.com")] == "ok"
    latest = json.load(open(os.path.join(project, ".coldmail", "checks", "latest.json")))
    assert latest["observations"] == res["observations"]


def test_a_listed_ip_fails_the_check_alerts_once_and_proposes_the_move(project, live_zone, tmp_path, hook):
    live_zone.add(ZEN_IP1, "A", "127.0.0.2")
    env = {"PATH": "/usr/bin:/bin", "COLDMAIL_NOTIFY_URLS": hook.url}
    argv = ["check", "blacklist", "--stack", "prod", "--json", "--nameserver", live_zone.nameserver,
            "--outputs", write_outputs(tmp_path)]
    r = run_cli(argv, project, env=env)
    doc = r.doc
    assert r.code == 1 and doc["ok"] is False
    assert doc["errors"] == [{"kind": "checks_failed", "message": "1 check(s) failing", "path": None,
                              "fix": "run the proposed `coldmail domain move` edits"}]
    assert [m["command"] for m in doc["result"]["proposals"][0]["moves"]] == [
        "coldmail domain move acme-alpha.com --ip 3 --stack prod",
        "coldmail domain move acme-beta.io --ip 0 --stack prod"]
    assert doc["result"]["alert"] == {"sent": True, "attempts": 1, "targets": 1}
    assert len(hook.posts) == 1
    again = run_cli(argv, project, env=env)
    assert again.code == 1 and again.doc["result"]["alert"] is None and len(hook.posts) == 1

    text = run_cli([a for a in argv if a != "--json"], project, env=env)
    assert "FAIL    ip:203.0.113.11  blacklist.zen" in text.stdout
    assert "coldmail domain move acme-alpha.com --ip 3 --stack prod" in text.stdout

    hist = run_cli(["check", "history", "--since", "7d", "--stack", "prod", "--json"], project, env=env)
    assert hist.code == 0 and hist.doc["command"] == "check history"
    assert hist.doc["result"]["runs"] == 3
    assert [(p["check"], p["subject"]) for p in hist.doc["result"]["problems"]] == [("blacklist.zen", "ip:203.0.113.11")]

    page = run_cli(["status-page", "--stack", "prod", "--json", "--out", str(tmp_path / "site"),
                    "--outputs", write_outputs(tmp_path)], project, env=env)
    assert page.code == 0 and page.doc["result"]["file"] == str(tmp_path / "site" / "index.html")
    assert "listed on Spamhaus ZEN" in (tmp_path / "site" / "index.html").read_text()


def test_check_reads_outputs_and_decrypted_config_through_the_pulumi_cli_when_it_can(project, live_zone):
    fake = FakePulumiCommand(config={f"coldmail:{k}": v for k, v in STACK_RAW.items()}, outputs=outputs_for())
    r = run_cli(["check", "blacklist", "--stack", "prod", "--json", "--nameserver", live_zone.nameserver],
                project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert r.doc["result"]["sources"] == {"config": "pulumi", "outputs": "pulumi"} and r.doc["warnings"] == []
    assert {o["subject"] for o in r.doc["result"]["observations"] if o["check"] == "blacklist.zen"} == {
        f"ip:{a}" for a in ADDRESSES.values()}


def test_bad_check_arguments_are_usage_errors(project):
    assert run_cli(["check", "rbl", "--stack", "prod", "--json"], project).code == 2
    bad = run_cli(["check", "--nameserver", "dns.example", "--stack", "prod", "--json"], project)
    assert bad.code == 2 and "is not an IP address" in bad.doc["errors"][0]["message"]


def test_domain_move_sets_the_ip_at_its_path_then_previews(project):
    fake = FakePulumiCommand(config={f"coldmail:{k}": v for k, v in STACK_RAW.items()})
    r = run_cli(["domain", "move", "acme-alpha.com", "--ip", "3", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert r.doc["result"]["operations"] == [{"action": "set", "path": "coldmail:domains[0].ip", "value": "3",
                                              "secret": False}]
    assert r.doc["result"]["applied"] is False
    assert [c for c in fake.calls if c[:2] == ["config", "set"]] == [
        ["config", "set", "--path", "coldmail:domains[0].ip", "--plaintext", "--stack", "prod", "--non-interactive",
         "--", "3"]]
    assert [c[0] for c in fake.calls if c[0] in ("preview", "up")] == ["preview"]


@pytest.mark.parametrize("ip, message, path", [
    (1, "acme-alpha.com already sends from IP 1", "coldmail:domains[0].ip"),
    (4, "server 'mx1' has no IP 4", "coldmail:domains[0].ip"),
])
def test_domain_move_is_refused_for_the_same_or_a_missing_ip_and_writes_nothing(project, ip, message, path):
    fake = FakePulumiCommand(config={f"coldmail:{k}": v for k, v in STACK_RAW.items()})
    r = run_cli(["domain", "move", "acme-alpha.com", "--ip", str(ip), "--stack", "prod", "--json"], project, fake)
    assert r.code == 2
    assert [(e["path"], e["message"]) for e in r.doc["errors"]] == [(path, message)]
    assert not [c for c in fake.calls if c[:2] == ["config", "set"]]


def test_the_agent_runs_due_jobs_from_its_own_file_and_not_again_until_due(live_zone, mailcow, tmp_path, hook):
    raw = {**STACK_RAW, "sshPrivateKey": "TEST-ONLY-FAKE-SSH-KEY"}
    text = agentfile.render(stack="prod", server="mx1", raw=raw, outputs=outputs_for(),
                            relays={1: "127.0.0.1:9"}, mailcow_url=mailcow.url, data_dir=str(tmp_path / "data"),
                            nameservers=[live_zone.nameserver])
    assert "TEST-ONLY-FAKE-SSH-KEY" not in text
    path = tmp_path / "agent.json"
    path.write_text(text)
    live_zone.add(ZEN_IP1, "A", "127.0.0.2")
    env = {"PATH": "/usr/bin:/bin", "COLDMAIL_NOTIFY_URLS": hook.url}
    argv = ["agent", "run", "--config", str(path), "--once", "--stack", "prod", "--json",
            "--project-dir", str(tmp_path)]
    first = run_cli(argv, env=env)
    doc = first.doc
    assert first.code == 0, first.stdout + first.stderr
    assert [r["job"] for r in doc["result"]["runs"]] == ["checks.hourly", "checks.blacklist"]
    assert all(r["ok"] for r in doc["result"]["runs"])
    assert (tmp_path / "data" / "history.sqlite").exists() and (tmp_path / "data" / "site" / "index.html").exists()
    # One alert per job run: the hourly job's (its unreachable TEST-NET ports) and the blacklist job's.
    assert [p["title"] for p in hook.posts][1:] == ["coldmail prod: 1 checks change(s)"]
    assert hook.posts[1]["message"].startswith("ip:203.0.113.11: blacklist.zen new → fail")
    second = run_cli(argv, env=env)
    assert second.code == 0 and second.doc["result"]["runs"] == []
    assert {j["job"] for j in second.doc["result"]["jobs"] if j["last_run"]} == {"checks.hourly", "checks.blacklist"}
