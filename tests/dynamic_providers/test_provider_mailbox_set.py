"""MailcowMailboxSetProvider called directly, as the engine would, against the Mailcow emulator."""

from __future__ import annotations

import json

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime import rpc

from dynamic_providers.errors import MailcowConflict, MailcowError
from dynamic_providers.mailbox_set import MailcowMailboxSetProvider, password_fingerprint
from tests.support.mailcow_emulator import MailcowEmulator

DOMAIN = "acme.test"


@pytest.fixture
def mc():
    with MailcowEmulator() as emu:
        emu.seed_domain(DOMAIN, mailboxes=50, quota=100000, maxquota=4096)
        yield emu


@pytest.fixture
def p(mc):
    prov = MailcowMailboxSetProvider()
    prov.configure(ConfigureRequest(Config(
        {"coldmail:servers": json.dumps([{"name": "mx1", "mailcowApiKey": mc.api_key}])}, "coldmail")))
    prov.client_options = {"backoff": 0}
    return prov


def inputs(mc, n=3, **over):
    boxes = [{"local_part": f"user{i}", "name": f"User {i}", "quota_mb": 1024.0, "active": True}
             for i in range(1, n + 1)]
    props = {"api_url": mc.url, "server": "mx1", "verify_tls": True, "ca_bundle": None, "domain": DOMAIN,
             "mailboxes": boxes, "passwords": {b["local_part"]: f"Fake-Pw-{b['local_part']}-0000" for b in boxes}}
    props.update(over)
    return props


def checked(p, props, olds=None):
    result = p.check(olds or {}, props)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def create(p, mc, props):
    res = p.create(checked(p, props))
    mc.reset_counters()
    return res.outs


def wire(mc):
    return [c.endpoint for c in mc.calls]


def test_unchanged_mailbox_set_costs_no_api_call(p, mc):
    olds = create(p, mc, inputs(mc))
    news = checked(p, inputs(mc))
    assert p.diff(DOMAIN, olds, news).changes is False
    p.update(DOMAIN, olds, news)
    assert mc.calls == []


def test_adding_one_mailbox_costs_one_write_and_no_read(p, mc):
    olds = create(p, mc, inputs(mc, 3))
    news = checked(p, inputs(mc, 4))
    assert p.diff(DOMAIN, olds, news).changes is True
    outs = p.update(DOMAIN, olds, news).outs
    assert wire(mc) == ["add/mailbox"]
    assert outs["addresses"][-1] == f"user4@{DOMAIN}" and len(mc.mailboxes) == 4


def test_outputs_hold_a_fingerprint_never_a_password(p, mc):
    props = inputs(mc)
    outs = create(p, mc, props)
    assert "passwords" not in outs
    for pw in props["passwords"].values():
        assert pw not in json.dumps(outs)
    first = outs["mailboxes"][0]
    assert first["password_fingerprint"] == password_fingerprint(f"user1@{DOMAIN}", props["passwords"]["user1"])
    assert mc.check_password(f"user1@{DOMAIN}", props["passwords"]["user1"])


def test_changed_password_is_detected_locally_and_applied_with_one_edit(p, mc):
    olds = create(p, mc, inputs(mc))
    props = inputs(mc)
    props["passwords"]["user2"] = "Fake-Rotated-Pw-0000"
    news = checked(p, props)
    assert p.diff(DOMAIN, olds, news).changes is True and mc.calls == []
    p.update(DOMAIN, olds, news)
    assert wire(mc) == ["edit/mailbox"]
    assert mc.calls[0].body["attr"]["password"] == "*" and mc.calls[0].body["attr"]["force_pw_update"] == 0
    assert mc.check_password(f"user2@{DOMAIN}", "Fake-Rotated-Pw-0000")


def test_edit_sends_only_the_changed_fields(p, mc):
    olds = create(p, mc, inputs(mc))
    props = inputs(mc)
    props["mailboxes"][0]["quota_mb"] = 2048
    p.update(DOMAIN, olds, checked(p, props))
    assert wire(mc) == ["edit/mailbox"]
    assert mc.calls[0].body == {"items": [f"user1@{DOMAIN}"], "attr": {"force_pw_update": 0, "quota": 2048}}
    assert mc.mailboxes[f"user1@{DOMAIN}"]["quota"] == 2048 * 1048576


def test_removed_mailbox_is_deleted_and_foreign_ones_are_left_alone(p, mc):
    mc.seed_mailbox(f"someone@{DOMAIN}", name="Not Ours", quota_mb=10)
    olds = create(p, mc, inputs(mc, 3))
    p.update(DOMAIN, olds, checked(p, inputs(mc, 2)))
    assert wire(mc) == ["delete/mailbox"] and mc.calls[0].body == [f"user3@{DOMAIN}"]
    assert sorted(mc.mailboxes) == [f"someone@{DOMAIN}", f"user1@{DOMAIN}", f"user2@{DOMAIN}"]


def test_daily_send_limit_alone_changes_state_but_costs_no_api_call(p, mc):
    olds = create(p, mc, inputs(mc, daily_send_limit=20.0))
    news = checked(p, inputs(mc, daily_send_limit=40.0))
    assert news["daily_send_limit"] == 40
    assert p.diff(DOMAIN, olds, news).changes is True
    outs = p.update(DOMAIN, olds, news).outs
    assert outs["daily_send_limit"] == 40 and mc.calls == []


def test_unknown_passwords_at_preview_report_a_change_without_io(p, mc):
    olds = create(p, mc, inputs(mc))
    news = checked(p, inputs(mc, passwords=rpc.UNKNOWN))
    assert p.diff(DOMAIN, olds, news).changes is True and mc.calls == []


def test_secret_wrapped_passwords_are_accepted_and_never_echoed(p, mc):
    props = inputs(mc)
    plain_pw = dict(props["passwords"])
    props["passwords"] = rpc.wrap_rpc_secret(plain_pw)
    outs = create(p, mc, props)
    assert mc.check_password(f"user3@{DOMAIN}", plain_pw["user3"])
    assert all(pw not in json.dumps(outs) for pw in plain_pw.values())


def test_create_is_safe_to_rerun_after_failing_half_way(p, mc):
    props = inputs(mc, 5)
    # user3's add keeps failing: the run dies after user1 and user2 exist, and the engine keeps nothing.
    mc.inject("500", match=lambda c: isinstance(c.body, dict) and c.body.get("local_part") == "user3", times=None)
    with pytest.raises(MailcowError):
        p.create(checked(p, props))
    assert sorted(mc.mailboxes) == [f"user1@{DOMAIN}", f"user2@{DOMAIN}"]
    mc.clear_faults()
    mc.reset_counters()
    outs = p.create(checked(p, props)).outs
    assert wire(mc) == ["get/mailbox/reduced", "edit/mailbox", "edit/mailbox",
                        "add/mailbox", "add/mailbox", "add/mailbox"]
    assert len(mc.mailboxes) == 5 and len(outs["addresses"]) == 5
    for lp, pw in props["passwords"].items():
        assert mc.check_password(f"{lp}@{DOMAIN}", pw)


def test_update_is_safe_to_rerun_after_failing_half_way(p, mc):
    olds = create(p, mc, inputs(mc, 2))
    news = checked(p, inputs(mc, 5))
    mc.inject("500", match=lambda c: isinstance(c.body, dict) and c.body.get("local_part") == "user4", times=None)
    with pytest.raises(MailcowError):
        p.update(DOMAIN, olds, news)
    mc.clear_faults()
    mc.reset_counters()
    # The engine kept the old outputs, so the same update runs again.
    outs = p.update(DOMAIN, olds, news).outs
    assert wire(mc) == ["add/mailbox", "get/mailbox/*", "edit/mailbox", "add/mailbox", "add/mailbox"]
    assert len(mc.mailboxes) == 5 and outs["addresses"] == [f"user{i}@{DOMAIN}" for i in range(1, 6)]


def test_create_refuses_a_foreign_mailbox_with_other_settings_and_writes_nothing(p, mc):
    mc.seed_mailbox(f"user2@{DOMAIN}", name="Somebody Else", quota_mb=10)
    with pytest.raises(MailcowConflict) as exc:
        p.create(checked(p, inputs(mc)))
    assert f"user2@{DOMAIN}" in str(exc.value) and "Somebody Else" in str(exc.value)
    assert [c.kind for c in mc.calls] == ["read"]
    assert mc.mailboxes[f"user2@{DOMAIN}"]["name"] == "Somebody Else"


def test_add_meeting_a_different_existing_mailbox_is_a_conflict(p, mc):
    olds = create(p, mc, inputs(mc, 1))
    mc.seed_mailbox(f"user2@{DOMAIN}", name="Somebody Else", quota_mb=10)
    with pytest.raises(MailcowConflict):
        p.update(DOMAIN, olds, checked(p, inputs(mc, 2)))
    assert mc.mailboxes[f"user2@{DOMAIN}"]["name"] == "Somebody Else"


def test_mailbox_deleted_by_hand_drops_out_on_read_and_comes_back_on_update(p, mc):
    olds = create(p, mc, inputs(mc))
    with mc.lock:
        del mc.mailboxes[f"user2@{DOMAIN}"]
    read = p.read(DOMAIN, olds)
    assert read.id == DOMAIN and read.outs["addresses"] == [f"user1@{DOMAIN}", f"user3@{DOMAIN}"]
    assert wire(mc) == ["get/mailbox/reduced"]
    news = checked(p, inputs(mc))
    assert p.diff(DOMAIN, read.outs, news).changes is True
    mc.reset_counters()
    p.update(DOMAIN, read.outs, news)
    assert wire(mc) == ["add/mailbox"] and f"user2@{DOMAIN}" in mc.mailboxes


def test_read_shows_drift_of_name_quota_and_active(p, mc):
    olds = create(p, mc, inputs(mc))
    with mc.lock:
        mc.mailboxes[f"user1@{DOMAIN}"].update(name="Drifted", active=0)
    entry = p.read(DOMAIN, olds).outs["mailboxes"][0]
    assert (entry["name"], entry["active"], entry["quota_mb"]) == ("Drifted", False, 1024)
    assert entry["password_fingerprint"] == olds["mailboxes"][0]["password_fingerprint"]


def test_delete_removes_only_the_sets_mailboxes(p, mc):
    mc.seed_mailbox(f"someone@{DOMAIN}", name="Not Ours", quota_mb=10)
    outs = create(p, mc, inputs(mc))
    with mc.lock:
        del mc.mailboxes[f"user1@{DOMAIN}"]  # already gone: must not fail the delete
    p.delete(DOMAIN, outs)
    assert list(mc.mailboxes) == [f"someone@{DOMAIN}"]


def test_domain_change_replaces_the_set():
    p = MailcowMailboxSetProvider()
    olds = {"domain": "a.test", "mailboxes": []}
    news = {"domain": "b.test", "mailboxes": [], "passwords": {}}
    d = p.diff("a.test", olds, news)
    assert d.replaces == ["domain"] and d.delete_before_replace is False


def test_check_normalises_numbers_and_names_each_bad_entry(p, mc):
    props = inputs(mc, 2)
    props["mailboxes"].append({"local_part": "Anna+x", "name": "A", "quota_mb": 10, "active": True})
    props["mailboxes"].append({"local_part": "user1", "name": "dup", "quota_mb": 10, "active": True})
    props["mailboxes"].append({"local_part": "bob", "name": "B", "quota_mb": 1.5, "active": "yes"})
    result = p.check({}, props)
    assert any(f.property == "mailboxes[2].local_part" and "Anna+x" in f.reason for f in result.failures)
    assert any(f.property == "mailboxes[3].local_part" and "twice" in f.reason for f in result.failures)
    assert any(f.property == "mailboxes[4].quota_mb" for f in result.failures)
    assert any(f.property == "mailboxes[4].active" for f in result.failures)
    assert any(f.property == "passwords" and "'bob'" in f.reason for f in result.failures)
    assert result.inputs["mailboxes"][0]["quota_mb"] == 1024 and isinstance(result.inputs["mailboxes"][0]["quota_mb"], int)
    assert mc.calls == []


def test_missing_api_key_names_the_command_that_sets_it(mc, monkeypatch):
    monkeypatch.delenv("COLDMAIL_MAILCOW_API_KEY", raising=False)
    monkeypatch.delenv("COLDMAIL_MAILCOW_API_KEY_MX1", raising=False)
    prov = MailcowMailboxSetProvider()
    prov.configure(ConfigureRequest(Config({"coldmail:servers": json.dumps([{"name": "mx0"}, {"name": "mx1"}])},
                                           "coldmail")))
    with pytest.raises(MailcowError) as exc:
        prov.create(checked(prov, inputs(mc)))
    assert "pulumi config set --secret --path 'coldmail:servers[1].mailcowApiKey'" in str(exc.value)
    assert mc.calls == []
