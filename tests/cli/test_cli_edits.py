"""Config edits: exact `pulumi config set/rm --path` calls, nothing kept without --yes, all or nothing with
it, the schema's messages on refusal before the CLI is touched, and secrets only ever on stdin."""

import copy
import os
import re

import pytest

from coldmail import model as cm
from coldmail.ops import edits

from tests.cli.clikit import raw_of, run_cli, stack_config
from tests.cli.fake_pulumi import FakePulumiCommand, apply_path

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYFORTESTS ops@acme"


def config_calls(fake):
    return [[a for a in c if a != "--non-interactive"] for c in fake.calls if "config" in c[:2]]


def ops_of(fake):
    return [c[0] for c in fake.calls if c[0] in ("preview", "up")]


def file_bytes(project):
    with open(os.path.join(project, "Pulumi.prod.yaml"), "rb") as fh:
        return fh.read()


def replay(raw, ops):
    """The raw config after ``ops``, with Pulumi's --path semantics (the fake CLI's own)."""
    config = {f"coldmail:{k}": copy.deepcopy(v) for k, v in raw.items()}
    for op in ops:
        apply_path(config, op.path, op.value, remove=op.action == "remove")
    return {k.split(":", 1)[1]: v for k, v in config.items()}


def test_domain_add_previews_the_edit_and_leaves_the_stack_file_byte_identical(project):
    before = file_bytes(project)
    fake = FakePulumiCommand()
    r = run_cli(["domain", "add", "new-acme.com", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0, r.stdout + r.stderr
    assert config_calls(fake) == [
        ["config", "set", "--path", f"coldmail:domains[12].{k}", "--plaintext", "--stack", "prod", "--", v]
        for k, v in (("name", "new-acme.com"), ("server", "mx1"), ("ip", "1"), ("mailboxes.count", "3"))]
    assert ops_of(fake) == ["preview"]
    # The preview ran on the edited config; afterwards the file is exactly what it was.
    (op, seen), = fake.seen
    assert seen["coldmail:domains"][12] == {"name": "new-acme.com", "server": "mx1", "ip": "1",
                                            "mailboxes": {"count": "3"}}
    assert file_bytes(project) == before
    res = r.doc["result"]
    assert (res["applied"], res["written"], res["preview"]["operation"]) == (False, False, "preview")
    assert res["apply_command"] == "coldmail domain add new-acme.com --server mx1 --ip 1 --mailboxes 3 --stack prod --yes"
    assert res["operations"][0] == {"action": "set", "path": "coldmail:domains[12].name", "value": "new-acme.com",
                                    "secret": False}


def test_a_preview_that_fails_still_puts_the_stack_file_back(project):
    before = file_bytes(project)
    r = run_cli(["domain", "add", "new-acme.com", "--stack", "prod", "--json"], project,
                FakePulumiCommand(fail="preview"))
    assert r.code == 1 and "403 Forbidden" in r.doc["errors"][0]["message"]
    assert file_bytes(project) == before


def test_domain_add_writes_the_name_as_the_schema_normalises_it(project):
    fake = FakePulumiCommand()
    assert run_cli(["domain", "add", "NEW-ACME.COM", "--stack", "prod", "--yes"], project, fake).code == 0
    assert stack_config(project)["coldmail:domains"][12]["name"] == "new-acme.com"
    fake = FakePulumiCommand()
    assert run_cli(["domain", "add", "Bücher-Neu.DE", "--stack", "prod", "--yes"], project, fake).code == 0
    assert stack_config(project)["coldmail:domains"][13]["name"] == "xn--bcher-neu-q9a.de"


def test_domain_add_picks_the_least_loaded_ip_and_writes_it(project):
    raw = raw_of(project)
    raw["domains"] = [d for d in raw["domains"] if d["ip"] != 2]
    e = edits.domain_add(raw, "fresh.example.com", mailboxes=2)
    assert ("set", "coldmail:domains[8].ip", "2") in [(o.action, o.path, o.value) for o in e.ops]
    assert edits.validate(e).domains[-1].ip == 2


def test_domain_add_with_yes_writes_the_edit_and_applies_it_with_up(project):
    fake = FakePulumiCommand()
    r = run_cli(["domain", "add", "new-acme.com", "--ip", "3", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 0
    assert ops_of(fake) == ["up"]
    assert ["config", "set", "--path", "coldmail:domains[12].ip", "--plaintext", "--stack", "prod", "--", "3"] \
        in config_calls(fake)
    assert stack_config(project)["coldmail:domains"][12] == {"name": "new-acme.com", "server": "mx1", "ip": "3",
                                                             "mailboxes": {"count": "3"}}
    res = r.doc["result"]
    assert (res["applied"], res["written"], res["apply_command"]) == (True, True, None)


def test_a_write_that_fails_half_way_leaves_the_file_byte_identical_with_the_clis_message(project):
    before = file_bytes(project)
    fake = FakePulumiCommand(fail_config_at=3)
    r = run_cli(["mailbox", "add", "zoe.kim@tryacme.co", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 1
    (err,) = r.doc["errors"]
    assert err["message"] == ("writing coldmail:domains[2].mailboxes[0].name failed: error: could not save "
                              "the stack file: no space left on device")
    assert err["fix"] == "nothing was applied; fix the cause and run the command again"
    assert len(config_calls(fake)) == 3 and ops_of(fake) == []
    assert file_bytes(project) == before


def test_an_up_that_fails_after_the_write_says_the_file_holds_the_edit(project):
    fake = FakePulumiCommand(fail="up")
    r = run_cli(["domain", "remove", "tryacme.co", "--stack", "prod", "--yes", "--json"], project, fake)
    assert r.code == 1
    (err,) = r.doc["errors"]
    assert "403 Forbidden" in err["message"]
    assert err["fix"] == ("Pulumi.prod.yaml holds the edit: fix the cause and run `coldmail up --stack prod --yes`, "
                          "or drop the edit with `git checkout -- Pulumi.prod.yaml`")
    assert [d["name"] for d in stack_config(project)["coldmail:domains"]].count("tryacme.co") == 0


@pytest.mark.parametrize("argv, mutate", [
    (["domain", "add", "tryacme.co"], lambda raw: raw["domains"].append({"name": "tryacme.co", "server": "mx1", "ip": 1, "mailboxes": {"count": 3}})),
    (["domain", "add", "new-acme.com", "--ip", "9"], lambda raw: raw["domains"].append({"name": "new-acme.com", "server": "mx1", "ip": 9, "mailboxes": {"count": 3}})),
    (["domain", "add", "mx1.acme-mailops.com", "--ip", "1"], lambda raw: raw["domains"].append({"name": "mx1.acme-mailops.com", "server": "mx1", "ip": 1, "mailboxes": {"count": 3}})),
    (["domain", "add", "x-new.com", "--server", "mx9"], lambda raw: raw["domains"].append({"name": "x-new.com", "server": "mx9", "mailboxes": {"count": 3}})),
    (["domain", "add", "x-new.com", "--mailboxes", "9"], lambda raw: raw["domains"].append({"name": "x-new.com", "server": "mx1", "ip": 1, "mailboxes": {"count": 9}})),
])
def test_a_bad_edit_is_refused_with_the_schema_messages_before_any_cli_call(project, argv, mutate):
    before = file_bytes(project)
    fake = FakePulumiCommand()
    r = run_cli(argv + ["--stack", "prod", "--json"], project, fake)
    assert r.code == 2
    raw = raw_of(project)
    mutate(raw)
    expected = [i.to_dict() for i in cm.validate(raw)]
    assert expected and [{k: e[k] for k in ("path", "message", "fix")} for e in r.doc["errors"]] == expected
    assert fake.calls == [] and file_bytes(project) == before


def test_mailbox_add_with_a_local_part_mailcow_rejects_is_refused_with_the_schema_message(project):
    fake = FakePulumiCommand()
    r = run_cli(["mailbox", "add", "Anna+news@tryacme.co", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and fake.calls == []
    (err,) = r.doc["errors"]
    assert err["path"] == "coldmail:domains[2].mailboxes[3].localPart"
    assert "contains `+`" in err["message"] and err["fix"] == "use 'anna'"


def test_mailbox_add_turns_a_count_set_into_an_explicit_list_keeping_every_address(project):
    raw = raw_of(project)
    e = edits.mailbox_add(raw, ["zoe.kim@tryacme.co"], name="Zoe Kim")
    assert e.ops[0] == edits.ConfigOp("remove", "coldmail:domains[2].mailboxes")
    after = cm.load(replay(raw, e.ops)).domains[2]
    assert after.addresses == ("anna.berg@tryacme.co", "jonas.schulz@tryacme.co", "mia.hoffmann@tryacme.co",
                               "zoe.kim@tryacme.co")
    assert [m.name for m in after.mailboxes] == ["Anna Berg", "Jonas Schulz", "Mia Hoffmann", "Zoe Kim"]
    assert replay(raw, e.ops)["domains"] == e.raw["domains"]


def test_mailbox_add_on_an_explicit_list_only_appends(project):
    raw = raw_of(project)
    raw = replay(raw, edits.mailbox_add(raw, ["zoe.kim@tryacme.co"]).ops)
    e = edits.mailbox_add(raw, ["max.roth@tryacme.co", "ida.link@tryacme.co"])
    assert [(o.action, o.path, o.value) for o in e.ops] == [
        ("set", "coldmail:domains[2].mailboxes[4].localPart", "max.roth"),
        ("set", "coldmail:domains[2].mailboxes[5].localPart", "ida.link")]


def test_mailbox_remove_drops_from_the_highest_index_so_paths_stay_valid(project):
    raw = raw_of(project)
    raw = replay(raw, edits.mailbox_add(raw, ["zoe.kim@tryacme.co"]).ops)
    e = edits.mailbox_remove(raw, ["anna.berg@tryacme.co", "mia.hoffmann@tryacme.co"])
    assert [o.path for o in e.ops] == ["coldmail:domains[2].mailboxes[2]", "coldmail:domains[2].mailboxes[0]"]
    assert cm.load(replay(raw, e.ops)).domains[2].addresses == ("jonas.schulz@tryacme.co", "zoe.kim@tryacme.co")


def test_mailbox_remove_of_an_unknown_address_is_refused(project):
    fake = FakePulumiCommand()
    r = run_cli(["mailbox", "remove", "nobody@tryacme.co", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and fake.calls == []
    assert r.doc["errors"][0]["path"] == "coldmail:domains[2].mailboxes"


def test_domain_remove_removes_the_list_element_by_path(project):
    fake = FakePulumiCommand()
    r = run_cli(["domain", "remove", "bücher-acme.de", "--stack", "prod", "--json"], project, fake)
    assert r.code == 0
    assert config_calls(fake) == [["config", "rm", "coldmail:domains[11]", "--stack", "prod", "--path"]]


def test_server_add_sends_the_generated_api_key_on_stdin_only(project):
    fake = FakePulumiCommand()
    r = run_cli(["server", "add", "mx2", "--hostname", "MX2.acme-mailops.com", "--floating-ips", "2",
                 "--ssh-public-key", SSH_KEY, "--admin-cidr", "203.0.113.0/28", "--stack", "prod", "--yes", "--json"],
                project, fake)
    assert r.code == 0, r.stdout
    ((args, key),) = fake.inputs
    assert args == ["--non-interactive", "config", "set", "--path", "coldmail:servers[1].mailcowApiKey", "--secret",
                    "--stack", "prod"]
    assert re.fullmatch(r"[0-9a-f]{48}", key) and fake.secrets == {"coldmail:servers[1].mailcowApiKey": key}
    assert not any(key in a for call in fake.calls for a in call)
    server = stack_config(project)["coldmail:servers"][1]
    assert server["mailcowApiKey"] == {"secure": "v1:FAKE-CIPHERTEXT"} and server["hostname"] == "mx2.acme-mailops.com"
    log = open(os.path.join(project, ".coldmail", "logs", "coldmail.log"), encoding="utf-8").read()
    assert key not in r.stdout and key not in r.stderr and key not in log
    ops = {o["path"]: o for o in r.doc["result"]["operations"]}
    assert ops["coldmail:servers[1].mailcowApiKey"] == {"action": "set", "path": "coldmail:servers[1].mailcowApiKey",
                                                         "value": "[secret]", "secret": True}
    # domains that relied on "the only server" now name it, so the second server changes nothing for them
    assert ops["coldmail:domains[0].server"]["value"] == "mx1"
    assert ops["coldmail:servers[1].adminCidrs[0]"]["value"] == "203.0.113.0/28"


def test_server_add_without_yes_keeps_no_secret_in_the_stack_file(project):
    before = file_bytes(project)
    fake = FakePulumiCommand()
    r = run_cli(["server", "add", "mx2", "--hostname", "mx2.acme-mailops.com", "--floating-ips", "1",
                 "--ssh-public-key", SSH_KEY, "--admin-cidr", "203.0.113.0/28", "--stack", "prod"], project, fake)
    assert r.code == 0 and len(fake.inputs) == 1 and file_bytes(project) == before
    assert "Apply with: coldmail server add mx2 --hostname mx2.acme-mailops.com --floating-ips 1 --ssh-public-key " \
           "'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYFORTESTS ops@acme' --admin-cidr 203.0.113.0/28 " \
           "--stack prod --yes" in r.stdout


def test_server_remove_is_refused_while_domains_use_it(project):
    fake = FakePulumiCommand()
    r = run_cli(["server", "remove", "mx1", "--stack", "prod", "--json"], project, fake)
    assert r.code == 2 and fake.calls == []
    assert len(r.doc["errors"]) == 12 and r.doc["errors"][0]["path"] == "coldmail:domains[0].server"


def test_server_remove_of_an_unused_server_removes_its_element(project):
    raw = raw_of(project)
    added = edits.server_add(raw, "mx2", "mx2.acme-mailops.com", 0, SSH_KEY, ["203.0.113.0/28"], api_key="0" * 48)
    e = edits.server_remove(added.raw, "mx2")
    assert [(o.action, o.path) for o in e.ops] == [("remove", "coldmail:servers[1]")]
    edits.validate(e)
