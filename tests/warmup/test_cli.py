"""The warmup commands through ``coldmail``: JSON documents that match their schemas, against real servers."""

from __future__ import annotations

import datetime as _dt
import json

import pytest
import yaml

from coldmail.ops import signals
from coldmail.ops.history import History
from tests.cli.clikit import PASSPHRASE_ENV, run_cli
from tests.cli.fake_pulumi import FakePulumiCommand
from tests.support.mailcow_emulator import MailcowEmulator

from .conftest import stack_raw


def _project(tmp_path, raw, stack="lab"):
    d = tmp_path / "proj"
    d.mkdir(exist_ok=True)
    (d / "Pulumi.yaml").write_text("name: coldmail\nruntime:\n  name: python\n")
    (d / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {f"coldmail:{k}": v for k, v in raw.items()}}))
    return str(d)


def _files(tmp_path, stack, only=None):
    config, accounts = tmp_path / "config.json", tmp_path / "accounts.json"
    config.write_text(json.dumps({f"coldmail:{k}": v for k, v in stack.raw.items()}))
    accounts.write_text(json.dumps({"accounts": stack.rows(only)}))
    return str(config), str(accounts)


@pytest.fixture
def mc():
    with MailcowEmulator() as emulator:
        yield emulator


def _env(mc=None, **extra):
    env = dict(PASSPHRASE_ENV, **extra)
    if mc is not None:
        env.update({"COLDMAIL_MAILCOW_API_KEY_MX1": mc.api_key, "COLDMAIL_MAILCOW_URL_MX1": mc.url})
    return env


def _today() -> str:
    # The command runs on the real clock: a ramp starting today is on its first day (cap 6 per alpha mailbox).
    # How much of it is due depends on the hour (the lab sends everything due by 01:00), so the library tests
    # pin exact counts with a clock and these check what holds at any hour.
    return _dt.datetime.now(_dt.timezone.utc).date().isoformat()


def test_schedule_prints_each_ips_caps_day_by_day(tmp_path):
    project = _project(tmp_path, stack_raw())
    r = run_cli(["warmup", "schedule", "--stack", "lab", "--weeks", "2", "--json"], project)
    assert r.code == 0, r.stderr
    doc = r.doc
    assert doc["warnings"][0].startswith("no history at ")
    ips = {ip["ip"]: ip for ip in doc["result"]["ips"]}
    assert list(ips) == ["mx1/ip1", "mx1/ip2", "mx2/ip1"]
    alpha = ips["mx1/ip1"]
    assert (alpha["start"], len(alpha["days"]), alpha["mailboxes"]) == (
        "2026-03-02", 14, ["anna@alpha-example.com", "jonas@alpha-example.com", "mia@alpha-example.com"])
    assert [d["ip_cap"] for d in alpha["days"]] == [20] * 7 + [40] * 7
    assert [d["mailbox_cap"] for d in alpha["days"]] == [6] * 7 + [13] * 7
    assert [d["mailbox_cap"] for d in ips["mx1/ip2"]["days"]] == [20] * 7 + [40] * 7
    text = run_cli(["warmup", "schedule", "--stack", "lab", "--weeks", "2"], project).stdout
    assert "mx1/ip1 (mx1-ip1.ops-example.com), 3 mailbox(es), from 2026-03-02" in text
    assert "  2     2026-03-09  40      13" in text


def test_a_run_from_files_sends_sets_the_rate_limits_and_status_shows_it(lab, lab_stack, tmp_path, mc):
    stack = lab_stack(replyShare=0, startDate=_today())
    anna = stack.address("anna")
    for d in stack.settings.domains:
        for m in d.mailboxes:
            mc.seed_mailbox(m.address)
    project = _project(tmp_path, stack.raw)
    config, accounts = _files(tmp_path, stack, {anna})
    history = str(tmp_path / "history.sqlite")
    r = run_cli(["warmup", "run", "--stack", "lab", "--config", config, "--accounts", accounts, "--history", history,
                 "--json"], project, env=_env(mc))
    assert r.code == 0, r.stdout + r.stderr
    doc = r.doc
    sent = doc["result"]["sent"]
    assert 1 <= sent <= 6 and (doc["result"]["refused"], doc["result"]["errors"]) == (0, [])
    assert [(x["server"], len(x["changed"])) for x in doc["result"]["rate_limits"]] == [("mx1", 4)]
    assert mc.ratelimits[anna] == "6 / 1d"
    assert doc["warnings"] == ["rate limits on mx2 not enforced: no Mailcow API key for server 'mx2'. Set it with: "
                               "pulumi config set --secret --path 'coldmail:servers[1].mailcowApiKey' <key> "
                               "(or export COLDMAIL_MAILCOW_API_KEY_MX2)"]
    lab.queue_empty()
    s = run_cli(["warmup", "status", "--stack", "lab", "--history", history, "--json"], project)
    assert s.code == 0, s.stderr
    st = s.doc["result"]
    mine = next(m for m in st["mailboxes"] if m["address"] == anna)
    assert (mine["cap"], mine["sent"], mine["received"], mine["replied"]) == (6, sent, 0, 0)
    alpha = next(i for i in st["ips"] if i["ip"] == "mx1/ip1")
    assert (alpha["ip_cap"], alpha["sent"], alpha["hold_reasons"]) == (20, sent, [])
    text = run_cli(["warmup", "status", "--stack", "lab", "--history", history], project).stdout
    assert f"  {anna}" in text and "mailboxes" in text


def test_placement_from_files_reports_and_records_where_probes_landed(lab, lab_stack, tmp_path):
    stack = lab_stack()
    only = {stack.address("anna"), stack.address("lena"), stack.address("paul")}
    project = _project(tmp_path, stack.raw)
    config, accounts = _files(tmp_path, stack, only)
    history = str(tmp_path / "history.sqlite")
    r = run_cli(["warmup", "placement", "--stack", "lab", "--config", config, "--accounts", accounts, "--history",
                 history, "--wait", "20", "--json"], project, env=_env())
    assert r.code == 0, r.stdout + r.stderr
    res = r.doc["result"]
    assert (res["sent"], res["missing"], res["skipped"]) == (6, 0, [])
    assert [(i["ip"], i["inbox_share"], i["status"]) for i in res["ips"]] == [
        ("mx1/ip1", 1.0, "ok"), ("mx1/ip2", 1.0, "ok"), ("mx2/ip1", 1.0, "ok")]
    recorded = History(history).current(check_prefix=signals.WARMUP_PLACEMENT)
    assert len(recorded) == 6 and {s.observation.value for s in recorded} == {1.0}


def test_a_run_through_pulumi_reads_the_decrypted_config_and_the_ips_from_the_outputs(lab, lab_stack, tmp_path):
    stack = lab_stack(replyShare=0, startDate=_today())
    anna = stack.address("anna")
    _, accounts = _files(tmp_path, stack, {anna})
    project = _project(tmp_path, stack.raw)
    domains = {d.name: {"sending_ip": f"203.0.113.{10 + i}"} for i, d in enumerate(stack.settings.domains)}
    fake = FakePulumiCommand(config={f"coldmail:{k}": v for k, v in stack.raw.items()}, outputs={"domains": domains},
                             stacks=("lab",))
    r = run_cli(["warmup", "run", "--stack", "lab", "--accounts", accounts, "--history",
                 str(tmp_path / "h.sqlite"), "--json"], project, fake, env=_env())
    assert r.code == 0, r.stdout + r.stderr
    assert [(i["ip"], i["address"]) for i in r.doc["result"]["ips"]] == [
        ("mx1/ip1", "203.0.113.10"), ("mx1/ip2", "203.0.113.11"), ("mx2/ip1", "203.0.113.12")]
    assert 1 <= r.doc["result"]["sent"] <= 6
    assert any(c[:1] == ["config"] and "--show-secrets" in c for c in fake.calls)


def test_a_seed_password_left_encrypted_in_a_stack_file_is_refused_with_the_fix(lab_stack, tmp_path):
    stack = lab_stack()
    raw = json.loads(json.dumps(stack.raw))
    raw["warmup"]["seeds"][0]["password"] = {"secure": "v1:AAAA"}
    project = _project(tmp_path, raw)
    _, accounts = _files(tmp_path, stack)
    r = run_cli(["warmup", "run", "--stack", "lab", "--config", f"{project}/Pulumi.lab.yaml", "--accounts",
                 accounts, "--history", str(tmp_path / "h.sqlite"), "--json"], project, env=_env())
    assert r.code == 2
    (err,) = r.doc["errors"]
    seed = stack.seeds[0]
    assert err["message"] == f"no readable app password for seed(s) {seed}"
    assert err["fix"].endswith(f"or export COLDMAIL_WARMUP_SEED_PASSWORD_SEED0_{stack.tag.upper()}_GMAIL_EXAMPLE_NET")


def test_placement_without_seeds_says_where_to_add_them(lab_stack, tmp_path):
    stack = lab_stack(seeds=[])
    project = _project(tmp_path, stack.raw)
    config, accounts = _files(tmp_path, stack)
    r = run_cli(["warmup", "placement", "--stack", "lab", "--config", config, "--accounts", accounts, "--history",
                 str(tmp_path / "h.sqlite"), "--json"], project, env=_env())
    assert r.code == 2
    assert r.doc["errors"] == [{"kind": "config", "message": "no seed mailboxes configured: placement is read at the "
                                "seeds", "path": "coldmail:warmup.seeds",
                                "fix": "add seeds under coldmail:warmup.seeds (README: Warmup)"}]
