"""Config edits: the exact `pulumi config set/rm --path` calls, the same schema messages on refusal."""

import copy
import json
import os
import re

import pytest

from coldmail import model as cm
from coldmail.ops import edits

from tests.cli.clikit import run_cli, stack_config
from tests.cli.fake_pulumi import FakePulumiCommand


def fake_for(project, **kw):
    return FakePulumiCommand(config=stack_config(project), **kw)


def config_calls(fake):
    return [c for c in fake.calls if c[0] == "config" and c[1] in ("set", "rm")]


def raw_of(project):
    return {k.split(":", 1)[1]: v for k, v in stack_config(project).items() if k.startswith("coldmail:")}


_SEG = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def apply_ops(raw, ops):
    """Pulumi's --path semantics, enough to replay edits: set creates maps/lists, rm deletes (shifting lists)."""
    raw = copy.deepcopy(raw)
    for op in ops:
        path = op.path.split(":", 1)[1]
        keys = [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _SEG.finditer(path)]
        node = raw
        for k, nxt in zip(keys, keys[1:]):
            if isinstance(node, list) and k == len(node):
                node.append([] if isinstance(nxt, int) else {})
            elif isinstance(node, dict) and k not in node:
                node[k] = [] if isinstance(nxt, int) else {}
            node = node[k]
        last = keys[-1]
        if op.action == "remove":
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(op.value)
        else:
            node[last] = op.value
    return raw


def test_domain_add_sets_each_field_at_its_path_then_previews(project):
    fake = fake_for(project)
    r = run_cli(["domain", "add", "new-acme.com", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert config_calls(fake) == [
        ["config", "set", "--path", f"coldmail:domains[12].{k}", "--plaintext", "--stack", "prod",
         "--non-interactive", "--", v]
        for k, v in (("name", "new-acme.com"), ("server", "mx1"), ("ip", "1"), ("mailboxes.count", "3"))]
    assert [c[0] for c in fake.calls if c[0] in ("preview", "up")] == ["preview"]
    res = r.doc["result"]
    assert res["applied"] is False and res["preview"]["operation"] == "preview"
    assert res["operations"][0] == {"action": "set", "path": "coldmail:domains[12].name", "value": "new-acme.com",
                                    "secret": False}


def test_domain_add_picks_the_least_loaded_ip_and_writes_it(project):
    raw = raw_of(project)
    raw["domains"] = [d for d in raw["domains"] if d["ip"] != 2]
    e = edits.domain_add(raw, "fresh.example.com", mailboxes=2)
    assert ("set", "coldmail:domains[8].ip", "2") in [(o.action, o.path, o.value) for o in e.ops]
    assert edits.validate(e).domains[-1].ip == 2


def test_domain_add_with_yes_applies_with_up_instead_of_preview(project):
    fake = fake_for(project)
    r = run_cli(["domain", "add", "new-acme.com", "--ip", "3", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 0
    assert [c[0] for c in fake.calls if c[0] in ("preview", "up")] == ["up"]
    assert ["config", "set", "--path", "coldmail:domains[12].ip", "--plaintext", "--stack", "prod",
            "--non-interactive", "--", "3"] in fake.calls
    assert r.doc["result"]["applied"] is True


@pytest.mark.parametrize("argv, mutate", [
    (["domain", "add", "tryacme.co"], lambda raw: raw["domains"].append({"name": "tryacme.co", "server": "mx1", "ip": 1, "mailboxes": {"count": 3}})),
    (["domain", "add", "new-acme.com", "--ip", "9"], lambda raw: raw["domains"].append({"name": "new-acme.com", "server": "mx1", "ip": 9, "mailboxes": {"count": 3}})),
    (["domain", "add", "mx1.acme-mailops.com", "--ip", "1"], lambda raw: raw["domains"].append({"name": "mx1.acme-mailops.com", "server": "mx1", "ip": 1, "mailboxes": {"count": 3}})),
    (["domain", "add", "x-new.com", "--server", "mx9"], lambda raw: raw["domains"].append({"name": "x-new.com", "server": "mx9", "mailboxes": {"count": 3}})),
])
def test_a_bad_edit_is_refused_with_the_schema_messages_and_nothing_is_written(project, argv, mutate):
    fake = fake_for(project)
    r = run_cli(argv + ["--stack", "prod", "--json"], project, fake)
    assert r.code == 2
    raw = raw_of(project)
    mutate(raw)
    expected = [i.to_dict() for i in cm.validate(raw)]
    assert expected and [{k: e[k] for k in ("path", "message", "fix")} for e in r.doc["errors"]] == expected
    assert config_calls(fake) == [] and not [c for c in fake.calls if c[0] in ("preview", "up")]


def test_mailbox_add_with_a_local_part_mailcow_rejects_is_refused_with_the_schema_message(project):
    fake = fake_for(project)
    r = run_cli(["mailbox", "add", "Anna+news@tryacme.co", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and config_calls(fake) == []
    (err,) = r.doc["errors"]
    assert err["path"] == "coldmail:domains[2].mailboxes[3].localPart"
    assert "contains `+`" in err["message"] and err["fix"] == "use 'anna'"


def test_mailbox_add_turns_a_count_set_into_an_explicit_list_keeping_every_address(project):
    raw = raw_of(project)
    before = cm.load(raw).domains[2].addresses
    e = edits.mailbox_add(raw, ["zoe.kim@tryacme.co"], name="Zoe Kim")
    assert e.ops[0] == edits.ConfigOp("remove", "coldmail:domains[2].mailboxes")
    after = cm.load(apply_ops(raw, e.ops)).domains[2]
    assert after.addresses == before + ("zoe.kim@tryacme.co",)
    assert after.mailboxes[-1].name == "Zoe Kim" and after.mailboxes[0].name == "Anna Berg"
    assert apply_ops(raw, e.ops)["domains"] == e.raw["domains"]


def test_mailbox_add_on_an_explicit_list_only_appends(project):
    raw = raw_of(project)
    raw = apply_ops(raw, edits.mailbox_add(raw, ["zoe.kim@tryacme.co"]).ops)
    e = edits.mailbox_add(raw, ["max.roth@tryacme.co", "ida.link@tryacme.co"])
    assert [(o.action, o.path, o.value) for o in e.ops] == [
        ("set", "coldmail:domains[2].mailboxes[4].localPart", "max.roth"),
        ("set", "coldmail:domains[2].mailboxes[5].localPart", "ida.link")]


def test_mailbox_remove_drops_from_the_highest_index_so_paths_stay_valid(project):
    raw = raw_of(project)
    raw = apply_ops(raw, edits.mailbox_add(raw, ["zoe.kim@tryacme.co"]).ops)
    e = edits.mailbox_remove(raw, ["anna.berg@tryacme.co", "mia.hoffmann@tryacme.co"])
    assert [o.path for o in e.ops] == ["coldmail:domains[2].mailboxes[2]", "coldmail:domains[2].mailboxes[0]"]
    assert cm.load(apply_ops(raw, e.ops)).domains[2].addresses == ("jonas.schulz@tryacme.co", "zoe.kim@tryacme.co")


def test_mailbox_remove_of_an_unknown_address_is_refused(project):
    fake = fake_for(project)
    r = run_cli(["mailbox", "remove", "nobody@tryacme.co", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and config_calls(fake) == []
    assert r.doc["errors"][0]["path"] == "coldmail:domains[2].mailboxes"


def test_domain_remove_removes_the_list_element_by_path(project):
    fake = fake_for(project)
    r = run_cli(["domain", "remove", "bücher-acme.de", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0
    assert config_calls(fake) == [["config", "rm", "coldmail:domains[11]", "--stack", "prod", "--path"]]


def test_server_add_stores_a_generated_api_key_encrypted_and_never_prints_it(project):
    fake = fake_for(project)
    r = run_cli(["server", "add", "mx2", "--hostname", "mx2.acme-mailops.com", "--floating-ips", "2",
                 "--ssh-public-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYFORTESTS ops@acme",
                 "--admin-cidr", "203.0.113.0/28", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0, r.stdout
    key_calls = [c for c in config_calls(fake) if "coldmail:servers[1].mailcowApiKey" in c]
    assert len(key_calls) == 1 and "--secret" in key_calls[0] and "--plaintext" not in key_calls[0]
    key = key_calls[0][-1]
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    log = open(os.path.join(project, ".coldmail", "logs", "coldmail.log"), encoding="utf-8").read()
    assert key not in r.stdout and key not in r.stderr and key not in log
    ops = {o["path"]: o for o in r.doc["result"]["operations"]}
    assert ops["coldmail:servers[1].mailcowApiKey"] == {"action": "set", "path": "coldmail:servers[1].mailcowApiKey",
                                                         "value": "[secret]", "secret": True}
    # domains that relied on "the only server" now name it, so the second server changes nothing for them
    assert ops["coldmail:domains[0].server"]["value"] == "mx1"
    assert ops["coldmail:servers[1].adminCidrs[0]"]["value"] == "203.0.113.0/28"


def test_server_remove_is_refused_while_domains_use_it(project):
    fake = fake_for(project)
    r = run_cli(["server", "remove", "mx1", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and config_calls(fake) == []
    assert len(r.doc["errors"]) == 12 and r.doc["errors"][0]["path"] == "coldmail:domains[0].server"


def test_server_remove_of_an_unused_server_removes_its_element(project):
    raw = raw_of(project)
    added = edits.server_add(raw, "mx2", "mx2.acme-mailops.com", 0,
                             "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYFORTESTS x", ["203.0.113.0/28"],
                             api_key="0" * 48)
    e = edits.server_remove(added.raw, "mx2")
    assert [(o.action, o.path) for o in e.ops] == [("remove", "coldmail:servers[1]")]
    edits.validate(e)
