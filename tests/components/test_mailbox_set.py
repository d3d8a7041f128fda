"""MailboxSet under the recording mock engine: passwords, secrecy, credentials and config edits."""

import copy
import json

import pulumi
import pytest

from coldmail import model as cm
from coldmail.model import tokens
from coldmail.ops.mock_engine import PLACEHOLDER
from components.mailbox_set import MailboxSet, MailboxSetArgs, planned_daily_sends
from tests.support.stacks import raw_stack, server

BASE = raw_stack(
    {"name": "alpha-example.com", "ip": 1, "mailboxQuotaMb": 512,
     "mailboxes": [{"localPart": "anna.berg", "name": "Anna Berg"}, {"localPart": "jonas", "name": "Jonas"}]},
    {"name": "beta-example.com", "ip": 1, "mailboxes": {"count": 4, "pattern": "user{n}"}},
    servers=[server(floating_ips=1)], warmup={"maxPerIpPerDay": 300, "maxPerMailboxPerDay": 40})


def run(run_ok, raw):
    stack = cm.load(raw)
    d = stack.domains[0]

    def program():
        ms = MailboxSet("alpha-example-com-mailboxes", MailboxSetArgs(
            domain=d, settings=stack, api_url="https://mx1.ops-example.com", server_name="mx1"))
        pulumi.export("credentials", ms.credentials)
        pulumi.export("credentials_secret", pulumi.Output.from_input(ms.credentials.is_secret()))

    return stack, run_ok(program)


@pytest.fixture(scope="module")
def prog(run_ok):
    return run(run_ok, BASE)


def test_one_password_per_mailbox_with_sequencer_safe_characters(prog):
    _, result = prog
    pws = {r.name: r.inputs for r in result.of_type(tokens.RANDOM_PASSWORD)}
    assert sorted(pws) == ["alpha-example-com-mailboxes-anna.berg-password", "alpha-example-com-mailboxes-jonas-password"]
    for inputs in pws.values():
        assert inputs["length"] >= 20 and inputs["special"] is True
        assert inputs["overrideSpecial"] == "-_"
        assert min(inputs["minLower"], inputs["minUpper"], inputs["minNumeric"]) >= 2


def test_mailbox_set_gets_names_quotas_and_planned_daily_sends_from_config(prog):
    _, result = prog
    s = result.named("alpha-example-com-mailboxes-set")
    assert s.type == tokens.MAILCOW_MAILBOX_SET
    assert s.inputs["domain"] == "alpha-example.com" and s.inputs["server"] == "mx1"
    assert s.inputs["api_url"] == "https://mx1.ops-example.com"
    assert s.inputs["mailboxes"] == [
        {"local_part": "anna.berg", "name": "Anna Berg", "quota_mb": 512.0, "active": True},
        {"local_part": "jonas", "name": "Jonas", "quota_mb": 512.0, "active": True},
    ]
    # 6 mailboxes share IP 1: 300 // 6 = 50 per mailbox, capped at 40 per mailbox.
    assert s.inputs["daily_send_limit"] == 40.0


def test_passwords_reach_the_mailbox_set_only_as_a_secret_input(prog):
    _, result = prog
    s = result.named("alpha-example-com-mailboxes-set")
    pw = {r.name.split("-mailboxes-")[1].removesuffix("-password"): r.outputs["result"] for r in result.of_type(tokens.RANDOM_PASSWORD)}
    assert s.inputs["passwords"] == pw
    assert "passwords" in s.secret_inputs
    plain_inputs = {k: v for k, v in s.inputs.items() if k not in ("passwords", "__provider")}
    for password in pw.values():
        assert password.startswith(PLACEHOLDER)
        assert password not in json.dumps(plain_inputs)
        assert password not in json.dumps(s.outputs)
    # Components never carry a password as an input.
    for comp in (r for r in result.resources if not r.custom):
        assert not any(p in json.dumps(comp.inputs) for p in pw.values())


def test_credentials_output_is_secret_and_lists_every_mailbox(prog):
    _, result = prog
    assert result.outputs["credentials_secret"] is True
    creds = result.outputs["credentials"]
    assert [c["email"] for c in creds] == ["anna.berg@alpha-example.com", "jonas@alpha-example.com"]
    anna = creds[0]
    assert anna["password"].startswith(PLACEHOLDER)
    assert {k: v for k, v in anna.items() if k != "password"} == {
        "email": "anna.berg@alpha-example.com", "first_name": "Anna", "last_name": "Berg",
        "smtp_host": "mx1.ops-example.com", "smtp_port": 587, "imap_host": "mx1.ops-example.com",
        "imap_port": 993, "daily_limit": 40}


def test_adding_a_mailbox_changes_only_that_mailboxs_resources(prog, run_ok):
    _, before = prog
    raw = copy.deepcopy(BASE)
    raw["domains"][0]["mailboxes"].insert(1, {"localPart": "mia", "name": "Mia Wagner"})
    _, after = run(run_ok, raw)
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    assert set(new) - set(old) == {after.named("alpha-example-com-mailboxes-mia-password").urn}
    changed = {new[u].name for u in set(new) & set(old) if new[u].inputs != old[u].inputs}
    # The set resource changes (one more mailbox, one more password; 7 on the IP now: 300 // 7 = 42 ≥ 40).
    assert changed == {"alpha-example-com-mailboxes-set"}
    set_before = before.named("alpha-example-com-mailboxes-set").inputs
    set_after = after.named("alpha-example-com-mailboxes-set").inputs
    assert {k for k in set_after if set_after[k] != set_before.get(k)} == {"mailboxes", "passwords"}
    assert {k: v for k, v in set_after["passwords"].items() if k != "mia"} == set_before["passwords"]


def test_removing_a_mailbox_removes_only_its_password(run_ok):
    raw = copy.deepcopy(BASE)
    raw["domains"][0]["mailboxes"].pop(0)
    _, result = run(run_ok, raw)
    assert [r.name for r in result.of_type(tokens.RANDOM_PASSWORD)] == ["alpha-example-com-mailboxes-jonas-password"]
    assert [m["local_part"] for m in result.named("alpha-example-com-mailboxes-set").inputs["mailboxes"]] == ["jonas"]


def test_planned_daily_sends_share_the_ip_cap_between_its_mailboxes():
    raw = copy.deepcopy(BASE)
    raw["warmup"] = {"maxPerIpPerDay": 120, "maxPerMailboxPerDay": 40, "startPerIpPerDay": 10}
    stack = cm.load(raw)
    assert planned_daily_sends(stack, stack.domains[0]) == 20  # 120 per IP over its 6 mailboxes
    raw["domains"][1]["ip"] = 0
    stack = cm.load(raw)
    assert planned_daily_sends(stack, stack.domains[0]) == 40
    assert planned_daily_sends(stack, stack.domains[1]) == 30
