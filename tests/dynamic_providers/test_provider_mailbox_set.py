"""MailcowMailboxSetProvider called directly, as the engine would, against the Mailcow emulator."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime import rpc

from dynamic_providers.errors import MailcowConflict, MailcowError
from dynamic_providers.mailbox_set import MailcowMailboxSetProvider, password_fingerprint

DOMAIN = "acme.test"
#: The domain's limits as the stack sizes them: room for 8 mailboxes and 8192 MiB.
LIMITS = {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 8192, "default_mailbox_quota_mb": 8192}
MAILCOW = {"max_mailboxes": "mailboxes", "domain_quota_mb": "quota", "max_mailbox_quota_mb": "maxquota",
           "default_mailbox_quota_mb": "defquota"}


@pytest.fixture
def p(mc, configured):
    mc.seed_domain(DOMAIN, mailboxes=8, quota=8192, maxquota=8192, defquota=8192)
    return configured(MailcowMailboxSetProvider)


def boxes(n, quota=1024.0, start=1):
    return [{"local_part": f"user{i}", "name": f"User {i}", "quota_mb": quota, "active": True}
            for i in range(start, start + n)]


def inputs(mc, n=3, mailboxes=None, limits=LIMITS, **over):
    mailboxes = boxes(n) if mailboxes is None else mailboxes
    props = {"api_url": mc.url, "server": "mx1", "verify_tls": True, "ca_bundle": None, "domain": DOMAIN,
             "mailboxes": mailboxes, "passwords": {b["local_part"]: f"Fake-Pw-{b['local_part']}-0000" for b in mailboxes},
             **{k: float(v) for k, v in (limits or {}).items()}}
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


def limits_in_mailcow(mc):
    return {k: mc.domains[DOMAIN][v] for k, v in MAILCOW.items()}


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
    assert mc.endpoints() == ["add/mailbox"]
    assert outs["addresses"][-1] == f"user4@{DOMAIN}" and len(mc.mailboxes) == 4


def test_create_reads_the_domain_once_and_lists_mailboxes_only_when_it_holds_some(p, mc):
    p.create(checked(p, inputs(mc, 3)))
    assert mc.endpoints() == ["get/domain/*"] + ["add/mailbox"] * 3


def test_create_grows_a_domain_made_smaller_before_adding_and_records_the_limits(p, mc):
    with mc.lock:
        mc.domains[DOMAIN].update(mailboxes=2, quota=2048, maxquota=1024, defquota=1024)
    outs = p.create(checked(p, inputs(mc, 3))).outs
    assert mc.endpoints("write") == ["edit/domain"] + ["add/mailbox"] * 3
    assert mc.calls[1].body["attr"] == {"mailboxes": 8, "quota": 8192, "maxquota": 8192, "defquota": 8192}
    assert limits_in_mailcow(mc) == LIMITS and {k: outs[k] for k in LIMITS} == LIMITS


def test_lowering_the_largest_quota_edits_the_mailbox_before_the_limit(p, mc):
    # The genuine refusal when the order is wrong: ["max_quota_in_use", "2048"].
    big = {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 2048, "default_mailbox_quota_mb": 2048}
    small = {**big, "max_mailbox_quota_mb": 1024, "default_mailbox_quota_mb": 1024}
    olds = create(p, mc, inputs(mc, mailboxes=boxes(3, 2048.0), limits=big))
    outs = p.update(DOMAIN, olds, checked(p, inputs(mc, mailboxes=boxes(3, 1024.0), limits=small))).outs
    assert mc.endpoints() == ["edit/mailbox"] * 3 + ["edit/domain"]
    assert mc.calls[-1].body["attr"] == {"maxquota": 1024, "defquota": 1024}
    assert limits_in_mailcow(mc) == small and {k: outs[k] for k in small} == small


def test_removing_three_mailboxes_is_one_delete_before_the_limits_shrink(p, mc):
    # The genuine refusals when the order is wrong: ["mailboxes_in_use", 5], ["domain_quota_m_in_use", "5120"].
    roomy = {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 1024, "default_mailbox_quota_mb": 1024}
    tight = {"max_mailboxes": 2, "domain_quota_mb": 2048, "max_mailbox_quota_mb": 1024, "default_mailbox_quota_mb": 1024}
    olds = create(p, mc, inputs(mc, 5, limits=roomy))
    p.update(DOMAIN, olds, checked(p, inputs(mc, 2, limits=tight)))
    assert mc.endpoints() == ["delete/mailbox", "edit/domain"]
    assert mc.calls[0].body == [f"user{i}@{DOMAIN}" for i in (3, 4, 5)]
    assert mc.calls[1].body["attr"] == {"mailboxes": 2, "quota": 2048}
    assert limits_in_mailcow(mc) == tight and sorted(mc.mailboxes) == [f"user{i}@{DOMAIN}" for i in (1, 2)]


def test_growing_and_shrinking_limits_in_one_edit_go_before_and_after_the_mailboxes(p, mc):
    before = {"max_mailboxes": 4, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 4096, "default_mailbox_quota_mb": 4096}
    after = {"max_mailboxes": 8, "domain_quota_mb": 4096, "max_mailbox_quota_mb": 512, "default_mailbox_quota_mb": 512}
    olds = create(p, mc, inputs(mc, mailboxes=boxes(3, 2048.0), limits=before))
    p.update(DOMAIN, olds, checked(p, inputs(mc, mailboxes=boxes(6, 512.0), limits=after)))
    writes = mc.endpoints("write")
    assert writes == ["edit/domain"] + ["edit/mailbox"] * 3 + ["add/mailbox"] * 3 + ["edit/domain"]
    assert mc.calls[0].body["attr"] == {"mailboxes": 8}
    assert mc.calls[-1].body["attr"] == {"quota": 4096, "maxquota": 512, "defquota": 512}
    assert limits_in_mailcow(mc) == after


def test_state_from_before_the_set_owned_the_limits_reads_the_domain_once(p, mc):
    olds = create(p, mc, inputs(mc, 3))
    for k in LIMITS:
        olds.pop(k)
    with mc.lock:
        mc.domains[DOMAIN].update(mailboxes=5, quota=5120)
    news = checked(p, inputs(mc, 3))
    assert p.diff(DOMAIN, olds, news).changes is True
    outs = p.update(DOMAIN, olds, news).outs
    assert mc.endpoints() == ["get/domain/*", "edit/domain"]
    assert limits_in_mailcow(mc) == LIMITS and outs["max_mailboxes"] == 8


def test_limits_lowered_by_hand_are_repaired_when_an_add_is_refused(p, mc):
    olds = create(p, mc, inputs(mc, 3))
    with mc.lock:
        mc.domains[DOMAIN]["mailboxes"] = 3
    p.update(DOMAIN, olds, checked(p, inputs(mc, 4)))
    assert mc.endpoints() == ["add/mailbox", "get/domain/*", "edit/domain", "add/mailbox"]
    assert mc.calls[0].status == 200 and len(mc.mailboxes) == 4 and limits_in_mailcow(mc) == LIMITS


def test_refresh_reads_hand_lowered_limits_and_the_next_update_repairs_them(p, mc):
    olds = create(p, mc, inputs(mc, 3))
    with mc.lock:
        mc.domains[DOMAIN].update(mailboxes=3, quota=3072)
    read = p.read(DOMAIN, olds).outs
    assert (read["max_mailboxes"], read["domain_quota_mb"]) == (3, 3072)
    news = checked(p, inputs(mc, 3))
    assert p.diff(DOMAIN, read, news).changes is True
    mc.reset_counters()
    p.update(DOMAIN, read, news)
    assert mc.endpoints() == ["edit/domain"] and limits_in_mailcow(mc) == LIMITS


def test_a_shrink_held_up_by_a_foreign_mailbox_stops_at_what_is_in_use(p, mc):
    roomy = {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 4096, "default_mailbox_quota_mb": 1024}
    tight = {"max_mailboxes": 4, "domain_quota_mb": 4096, "max_mailbox_quota_mb": 1024, "default_mailbox_quota_mb": 1024}
    olds = create(p, mc, inputs(mc, 2, limits=roomy))
    mc.seed_mailbox(f"ceo@{DOMAIN}", name="CEO", quota_mb=3000)
    outs = p.update(DOMAIN, olds, checked(p, inputs(mc, 2, limits=tight))).outs
    # Refused with ["max_quota_in_use", "3000"]: the stack's own mailboxes are checked, then that limit stays at
    # 3000, and the domain quota, refused next with ["domain_quota_m_in_use", "5048"], at 5048.
    assert mc.endpoints() == ["edit/domain", "get/mailbox/reduced"] + ["edit/domain"] * 3
    assert [c.body["attr"] for c in mc.calls if c.endpoint == "edit/domain"][-1] == {
        "mailboxes": 4, "quota": 5048, "maxquota": 3000}
    assert {k: outs[k] for k in tight} == {**tight, "max_mailbox_quota_mb": 3000, "domain_quota_mb": 5048}
    assert limits_in_mailcow(mc) == {k: outs[k] for k in tight}
    assert mc.mailboxes[f"ceo@{DOMAIN}"]["quota"] == 3000 * 1048576


def test_a_quota_raised_by_hand_on_a_stack_mailbox_is_put_back_so_the_limit_can_shrink(p, mc):
    big = {"max_mailboxes": 8, "domain_quota_mb": 8192, "max_mailbox_quota_mb": 4096, "default_mailbox_quota_mb": 1024}
    small = {**big, "max_mailbox_quota_mb": 1024}
    olds = create(p, mc, inputs(mc, 2, limits=big))
    with mc.lock:
        mc.mailboxes[f"user1@{DOMAIN}"]["quota"] = 4096 * 1048576
    outs = p.update(DOMAIN, olds, checked(p, inputs(mc, 2, limits=small))).outs
    assert mc.endpoints() == ["edit/domain", "get/mailbox/reduced", "edit/mailbox", "edit/domain"]
    assert mc.mailboxes[f"user1@{DOMAIN}"]["quota"] == 1024 * 1048576
    assert limits_in_mailcow(mc) == small and {k: outs[k] for k in small} == small


def test_a_set_without_limits_never_writes_the_domain(p, mc):
    olds = create(p, mc, inputs(mc, 3, limits=None))
    assert "max_mailboxes" not in olds or olds["max_mailboxes"] is None
    with mc.lock:
        mc.domains[DOMAIN]["mailboxes"] = 3
    with pytest.raises(MailcowError) as exc:
        p.update(DOMAIN, olds, checked(p, inputs(mc, 4, limits=None)))
    assert "max_mailbox_exceeded" in str(exc.value) and "edit/domain" not in mc.endpoints()


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
    assert mc.endpoints() == ["edit/mailbox"]
    assert mc.calls[0].body["attr"]["password"] == "*" and mc.calls[0].body["attr"]["force_pw_update"] == 0
    assert mc.check_password(f"user2@{DOMAIN}", "Fake-Rotated-Pw-0000")


def test_edit_sends_only_the_changed_fields(p, mc):
    olds = create(p, mc, inputs(mc))
    props = inputs(mc)
    props["mailboxes"][0]["quota_mb"] = 2048
    p.update(DOMAIN, olds, checked(p, props))
    assert mc.endpoints() == ["edit/mailbox"]
    assert mc.calls[0].body == {"items": [f"user1@{DOMAIN}"], "attr": {"force_pw_update": 0, "quota": 2048}}
    assert mc.mailboxes[f"user1@{DOMAIN}"]["quota"] == 2048 * 1048576


def test_removed_mailbox_is_deleted_and_foreign_ones_are_left_alone(p, mc):
    mc.seed_mailbox(f"someone@{DOMAIN}", name="Not Ours", quota_mb=10)
    olds = create(p, mc, inputs(mc, 3))
    p.update(DOMAIN, olds, checked(p, inputs(mc, 2)))
    assert mc.endpoints() == ["delete/mailbox"] and mc.calls[0].body == [f"user3@{DOMAIN}"]
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
    # user3's add keeps failing: the run dies with the other adds done, and the engine keeps nothing.
    mc.inject("500", match=lambda c: isinstance(c.body, dict) and c.body.get("local_part") == "user3", times=None)
    with pytest.raises(MailcowError):
        p.create(checked(p, props))
    assert sorted(mc.mailboxes) == [f"user{i}@{DOMAIN}" for i in (1, 2, 4, 5)]
    mc.clear_faults()
    mc.reset_counters()
    outs = p.create(checked(p, props)).outs
    assert mc.endpoints() == ["get/domain/*", "get/mailbox/reduced"] + ["edit/mailbox"] * 4 + ["add/mailbox"]
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
    # The engine kept the old outputs, so the same update runs again: what landed is adopted.
    outs = p.update(DOMAIN, olds, news).outs
    assert sorted(mc.endpoints()) == sorted(["add/mailbox"] * 3 + ["get/mailbox/*", "edit/mailbox"] * 2)
    assert len(mc.mailboxes) == 5 and outs["addresses"] == [f"user{i}@{DOMAIN}" for i in range(1, 6)]


def test_create_refuses_a_foreign_mailbox_with_other_settings_and_writes_nothing(p, mc):
    mc.seed_mailbox(f"user2@{DOMAIN}", name="Somebody Else", quota_mb=10)
    with pytest.raises(MailcowConflict) as exc:
        p.create(checked(p, inputs(mc)))
    assert f"user2@{DOMAIN}" in str(exc.value) and "Somebody Else" in str(exc.value)
    assert [c.kind for c in mc.calls] == ["read", "read"]
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
    assert mc.endpoints() == ["get/mailbox/reduced", "get/domain/*"]
    news = checked(p, inputs(mc))
    assert p.diff(DOMAIN, read.outs, news).changes is True
    mc.reset_counters()
    p.update(DOMAIN, read.outs, news)
    assert mc.endpoints() == ["add/mailbox"] and f"user2@{DOMAIN}" in mc.mailboxes


def test_read_shows_drift_of_name_quota_and_active(p, mc):
    olds = create(p, mc, inputs(mc))
    with mc.lock:
        mc.mailboxes[f"user1@{DOMAIN}"].update(name="Drifted", active=0)
    entry = p.read(DOMAIN, olds).outs["mailboxes"][0]
    assert (entry["name"], entry["active"], entry["quota_mb"]) == ("Drifted", False, 1024)
    assert entry["password_fingerprint"] == olds["mailboxes"][0]["password_fingerprint"]


def test_display_names_are_stored_as_mailcow_stores_them_so_nothing_drifts(p, mc):
    named = boxes(2)
    named[0]["name"], named[1]["name"] = "<C>", "<<Anna Berg>>"
    props = checked(p, inputs(mc, mailboxes=named))
    assert [b["name"] for b in props["mailboxes"]] == ["C", "Anna Berg"]
    outs = p.create(props).outs
    assert [mc.mailboxes[f"user{i}@{DOMAIN}"]["name"] for i in (1, 2)] == ["C", "Anna Berg"]
    mc.reset_counters()
    read = p.read(DOMAIN, outs).outs
    assert p.diff(DOMAIN, read, checked(p, inputs(mc, mailboxes=named))).changes is False
    # A re-run create adopts what it made instead of calling it someone else's.
    p.create(checked(p, inputs(mc, mailboxes=named)))


def test_delete_removes_only_the_sets_mailboxes_in_one_call(p, mc):
    mc.seed_mailbox(f"someone@{DOMAIN}", name="Not Ours", quota_mb=10)
    outs = create(p, mc, inputs(mc))
    with mc.lock:
        del mc.mailboxes[f"user1@{DOMAIN}"]  # already gone: must not fail the delete
    p.delete(DOMAIN, outs)
    assert list(mc.mailboxes) == [f"someone@{DOMAIN}"]
    assert mc.endpoints("write") == ["delete/mailbox"]


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


def test_check_refuses_limits_mailcow_would_refuse_or_that_do_not_fit_the_mailboxes(p, mc):
    failures = {f.property for f in p.check({}, inputs(mc, 3, limits={
        "max_mailboxes": 2, "domain_quota_mb": 2048, "max_mailbox_quota_mb": 4096,
        "default_mailbox_quota_mb": 8192})).failures}
    assert failures == {"max_mailboxes", "domain_quota_mb", "max_mailbox_quota_mb", "default_mailbox_quota_mb"}
    partial = p.check({}, {**inputs(mc, 3, limits=None), "max_mailboxes": 8})
    assert {f.property for f in partial.failures} == {"domain_quota_mb", "max_mailbox_quota_mb",
                                                      "default_mailbox_quota_mb"}


def test_missing_api_key_names_the_command_that_sets_it(mc, monkeypatch):
    from pulumi.dynamic import Config, ConfigureRequest

    monkeypatch.delenv("COLDMAIL_MAILCOW_API_KEY", raising=False)
    monkeypatch.delenv("COLDMAIL_MAILCOW_API_KEY_MX1", raising=False)
    prov = MailcowMailboxSetProvider()
    prov.configure(ConfigureRequest(Config({"coldmail:servers": json.dumps([{"name": "mx0"}, {"name": "mx1"}])},
                                           "coldmail")))
    with pytest.raises(MailcowError) as exc:
        prov.create(checked(prov, inputs(mc)))
    assert "pulumi config set --secret --path 'coldmail:servers[1].mailcowApiKey'" in str(exc.value)
    assert mc.calls == []
