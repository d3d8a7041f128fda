"""The real-Mailcow behaviours a hand-written fake would get wrong (docs/mailcow-api.md §1-§6)."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.emulator.emulator_helpers import PASSWORD, Api, msgs
from tests.support.mailcow_emulator import MailcowEmulator


def _parallel(n: int, fn) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_mailbox_all_for_an_unknown_domain_returns_every_mailbox(api):
    api.post("add/domain", {"domain": "a.test"})
    api.post("add/domain", {"domain": "b.test"})
    api.add_mailbox("x", "a.test")
    api.add_mailbox("y", "b.test")
    users = lambda path: sorted(m["username"] for m in api.get(path).json())  # noqa: E731
    assert users("get/mailbox/all/a.test") == ["x@a.test"]
    assert users("get/mailbox/all/a.test,b.test") == ["x@a.test", "y@b.test"]
    assert users("get/mailbox/all/nonexistent.test") == ["x@a.test", "y@b.test"]
    assert users("get/mailbox/reduced/nonexistent.test") == ["x@a.test", "y@b.test"]


def test_reduced_mailbox_list_omits_the_expensive_fields(api):
    api.post("add/domain", {"domain": "a.test"})
    api.add_mailbox("x", "a.test")
    full = api.get("get/mailbox/all").json()[0]
    reduced = api.get("get/mailbox/reduced/a.test").json()[0]
    dropped = {"rl", "rl_scope", "max_new_quota", "spam_aliases", "pushover_active", "is_relayed", "sender_acl"}
    assert set(full) - set(reduced) == dropped
    assert api.get("get/mailbox/reduced").json() == [reduced]


def test_dkim_survives_domain_delete_and_is_reused_when_the_domain_returns(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    pubkey = api.get("get/dkim/a.test").json()["pubkey"]
    assert msgs(api.post("delete/domain", ["a.test"])) == [["domain_removed", "a.test"]]
    assert "a.test" in mc.dkim and "a.test" not in mc.domains
    r = api.post("add/domain", {"domain": "a.test"})
    assert msgs(r) == ["domain_add_dkim_available", ["domain_added", "a.test"]]
    assert api.get("get/dkim/a.test").json()["pubkey"] == pubkey


def test_parallel_adds_to_one_domain_overshoot_its_mailbox_limit():
    with MailcowEmulator(write_latency=0.2) as mc:
        api = Api(mc, mc.api_key)
        api.post("add/domain", {"domain": "small.test", "mailboxes": 3, "key_size": 0})
        results = _parallel(8, lambda i: api.add_mailbox(f"p{i}", "small.test"))
        added = [r for r in results if msgs(r)[-1][0] == "mailbox_added"]
        assert len(added) > 3
        assert len([u for u in mc.mailboxes if u.endswith("@small.test")]) == len(added)
        assert api.get("get/domain/small.test").json()["mboxes_in_domain"] > 3


def test_racing_duplicate_mailbox_adds_crash_with_an_empty_500():
    with MailcowEmulator(write_latency=0.2) as mc:
        api = Api(mc, mc.api_key)
        api.post("add/domain", {"domain": "a.test", "key_size": 0})
        results = _parallel(4, lambda i: api.add_mailbox("same", "a.test"))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 500, 500, 500]
        assert all(r.text == "" for r in results if r.status_code == 500)
        assert list(mc.mailboxes) == ["same@a.test"]


def test_ten_auth_failures_ban_the_client_for_the_ban_time():
    with MailcowEmulator(ban_time=0.5) as mc:
        api = Api(mc, "WRONG-KEY-000000")
        for _ in range(10):
            assert api.get("get/domain/all").status_code == 401
        good = Api(mc, mc.api_key)
        with pytest.raises(requests.ConnectionError):
            good.get("get/domain/all")
        assert mc.calls[-1].fault == "banned" and mc.calls[-1].status is None
        threading.Event().wait(0.6)
        assert good.get("get/domain/all").status_code == 200


def test_nine_failures_or_failures_outside_the_window_do_not_ban():
    with MailcowEmulator(ban_threshold=3, ban_window=0.3) as mc:
        bad, good = Api(mc, "WRONG-KEY-000000"), Api(mc, mc.api_key)
        for _ in range(2):
            bad.get("get/domain/all")
        threading.Event().wait(0.35)
        bad.get("get/domain/all")
        assert good.get("get/domain/all").status_code == 200
        bad.get("get/domain/all")
        bad.get("get/domain/all")
        with pytest.raises(requests.ConnectionError):
            good.get("get/domain/all")
        mc.unban()
        assert good.get("get/domain/all").status_code == 200


def test_api_key_is_stripped_to_letters_digits_and_dashes(mc, api):
    assert api.get("get/domain/all", headers={"X-API-Key": f"{mc.api_key}!_ ."}).status_code == 200


def test_read_only_key_reads_but_gets_403_on_every_write():
    with MailcowEmulator(read_only_key="TEST-ONLY-RO-KEY-0000") as mc:
        ro = Api(mc, "TEST-ONLY-RO-KEY-0000")
        assert ro.get("get/domain/all").status_code == 200
        for path, body in (("add/domain", {"domain": "a.test"}), ("edit/domain", {"items": ["a.test"], "attr": {}}),
                           ("delete/domain", ["a.test"])):
            r = ro.post(path, body)
            assert (r.status_code, r.json()) == (403, {"type": "error", "msg": "API read/write access denied"})
        assert mc.domains == {}


def test_edit_and_delete_without_a_key_are_403(api):
    for path, body in (("edit/domain", {"items": ["a.test"], "attr": {}}), ("delete/mailbox", ["x@a.test"])):
        r = api.post(path, body, headers={})
        assert (r.status_code, r.json()) == (403, {"type": "error", "msg": "API read/write access denied"})


def test_sec_fetch_dest_other_than_empty_is_403_with_no_body(mc, api):
    r = api.get("get/domain/all", headers={"X-API-Key": mc.api_key, "Sec-Fetch-Dest": "document"})
    assert (r.status_code, r.text) == (403, "")


def test_add_dkim_with_a_json_array_of_domains_is_an_empty_500(api):
    api.post("add/domain", {"domain": "a.test", "key_size": 0})
    r = api.post("add/dkim", {"domains": ["a.test"], "dkim_selector": "dkim", "key_size": 2048})
    assert (r.status_code, r.text) == (500, "")


def test_add_dkim_for_an_unknown_domain_is_access_denied_and_delete_dkim_always_succeeds(api):
    r = api.post("add/dkim", {"domains": "ghost.test", "dkim_selector": "dkim", "key_size": 2048})
    assert msgs(r) == [["access_denied", "ghost.test"]]
    assert msgs(api.post("delete/dkim", ["ghost.test"])) == [["dkim_removed", "ghost.test"]]


def test_add_dkim_splits_the_domains_string_and_honours_key_size(api):
    api.post("add/domain", {"domain": "a.test", "key_size": 0})
    api.post("add/domain", {"domain": "b.test", "key_size": 0})
    r = api.post("add/dkim", {"domains": "a.test, b.test", "dkim_selector": "s2024", "key_size": 1024})
    assert msgs(r) == [["dkim_added", "a.test"], ["dkim_added", "b.test"]]
    key = api.get("get/dkim/b.test").json()
    assert (key["length"], key["dkim_selector"], len(key["pubkey"])) == ("1024", "s2024", 216)
    bad = api.post("add/dkim", {"domains": "a.test", "dkim_selector": "bad selector!", "key_size": 2048})
    assert msgs(bad) == [["dkim_domain_or_sel_invalid", "a.test"]]


def test_domains_are_stored_as_punycode_and_local_parts_lowercased(mc, api):
    assert msgs(api.post("add/domain", {"domain": " Bücher.Test "}))[-1] == ["domain_added", "xn--bcher-kva.test"]
    d = api.get("get/domain/xn--bcher-kva.test").json()
    assert (d["domain_name"], d["domain_h_name"]) == ("xn--bcher-kva.test", "bücher.test")
    assert api.get("get/domain/bücher.test").json() == d
    r = api.add_mailbox("John.Doe", "BÜCHER.test")
    assert msgs(r)[-1] == ["mailbox_added", "john.doe@xn--bcher-kva.test"]
    assert mc.mailboxes["john.doe@xn--bcher-kva.test"]["local_part"] == "john.doe"


def test_mailbox_name_defaults_to_empty_and_quota_defaults_to_unlimited(api):
    api.post("add/domain", {"domain": "a.test"})
    api.post("add/mailbox", {"local_part": "noname", "domain": "a.test", "password": PASSWORD,
                             "password2": PASSWORD})
    mb = api.get("get/mailbox/noname@a.test").json()
    assert (mb["name"], mb["quota"], mb["percent_in_use"]) == ("", 0, "- ")


def test_mailbox_quota_limits_report_maxquota_and_quota_left_in_mib(api):
    api.post("add/domain", {"domain": "a.test", "maxquota": 2048, "quota": 3000, "defquota": 1024})
    assert msgs(api.add_mailbox("big", "a.test", quota=2049))[-1] == ["mailbox_quota_exceeded", 2048]
    assert msgs(api.add_mailbox("one", "a.test", quota=2048))[-1][0] == "mailbox_added"
    assert msgs(api.add_mailbox("two", "a.test", quota=1000))[-1] == ["mailbox_quota_left_exceeded", 952]
    assert msgs(api.add_mailbox("unlimited", "a.test", quota=0))[-1][0] == "mailbox_added"


def test_mailboxes_zero_means_none_allowed(api):
    api.post("add/domain", {"domain": "a.test", "mailboxes": 0})
    assert msgs(api.add_mailbox("x", "a.test"))[-1] == ["max_mailbox_exceeded", 0, 0]


def test_mailbox_add_validates_before_checking_the_domain(api):
    assert msgs(api.post("add/mailbox", [{"local_part": "x", "domain": "a.test"}])) == ["mailbox_invalid"]
    assert msgs(api.add_mailbox("x", "a.test", quarantine_category="bogus")) == ["quarantine_category_invalid"]
    assert msgs(api.add_mailbox("", "a.test")) == ["mailbox_invalid"]


@pytest.mark.parametrize(("attrs", "msg"), [
    ({"defquota": 4000, "maxquota": 3000}, "mailbox_defquota_exceeds_mailbox_maxquota"),
    ({"maxquota": 20000}, "mailbox_quota_exceeds_domain_quota"),
    ({"defquota": 0}, "defquota_empty"),
    ({"maxquota": 0, "defquota": 0}, "defquota_empty"),
])
def test_domain_add_quota_validation_runs_in_mailcows_order(api, attrs, msg):
    assert msgs(api.post("add/domain", {"domain": "a.test", **attrs})) == [msg]


def test_domain_matching_the_mailcow_hostname_is_refused(mc, api):
    assert msgs(api.post("add/domain", {"domain": mc.hostname})) == ["domain_cannot_match_hostname"]


def test_edit_domain_refuses_limits_below_what_is_in_use_as_mailcow_answers(api):
    # The genuine answers (docs/mailcow-api.md §3): the first two arguments are strings, the last an integer.
    api.post("add/domain", {"domain": "d.test", "defquota": 1024, "maxquota": 2048, "quota": 10240})
    for local, quota in (("a", 2048), ("b", 2048), ("c", 1024)):
        api.add_mailbox(local, "d.test", quota=quota)

    def edit(attr):
        r = api.post("edit/domain", {"items": ["d.test"], "attr": attr})
        return r.status_code, [(e["type"], e["msg"]) for e in r.json()]

    assert edit({"maxquota": "1024"}) == (200, [("danger", ["max_quota_in_use", "2048"])])
    assert edit({"quota": "4096"}) == (200, [("danger", ["domain_quota_m_in_use", "5120"])])
    assert edit({"mailboxes": "2"}) == (200, [("danger", ["mailboxes_in_use", 3])])


def test_edit_domain_checks_the_merged_limits_in_mailcows_order_and_keeps_empty_fields(mc, api):
    api.post("add/domain", {"domain": "a.test", "description": "first", "defquota": 1024, "maxquota": 2048,
                            "quota": 10240})

    def edit(attr):
        return msgs(api.post("edit/domain", {"items": ["a.test"], "attr": attr}))

    assert edit({"maxquota": 20000}) == ["mailbox_quota_exceeds_domain_quota"]
    assert edit({"maxquota": 512}) == ["mailbox_defquota_exceeds_mailbox_maxquota"]
    assert edit({"defquota": 0}) == ["defquota_empty"]
    assert edit({"mailboxes": 50, "quota": 102400, "description": "", "aliases": 0}) == [["domain_modified", "a.test"]]
    d = api.get("get/domain/a.test").json()
    assert (d["max_num_mboxes_for_domain"], d["max_quota_for_domain"]) == (50, 102400 * 1048576)
    assert (d["description"], d["max_num_aliases_for_domain"]) == ("first", 400)
    assert edit({"mailboxes": 0}) == [["domain_modified", "a.test"]]
    assert api.get("get/domain/a.test").json()["max_num_mboxes_for_domain"] == 0
    assert msgs(api.post("edit/domain", {"items": "ghost.test", "attr": {"active": 0}})) == ["domain_invalid"]


def test_edit_domain_resending_an_existing_tag_is_a_500_after_the_update(mc, api):
    api.post("add/domain", {"domain": "a.test", "tags": ["warm"]})
    r = api.post("edit/domain", {"items": ["a.test"], "attr": {"tags": ["warm"], "description": "changed"}})
    assert (r.status_code, r.text) == (500, "")
    assert mc.domains["a.test"]["description"] == "changed"


def test_relayhost_lifecycle_assigns_integer_ids_and_resets_every_domain_on_delete(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    api.post("add/domain", {"domain": "hand-made.test"})
    body = {"hostname": "[172.22.1.1]:2526", "username": "", "password": ""}
    r = api.post("add/relayhost", body)
    assert r.json() == [{"type": "success", "log": ["relayhost", "add", {**body, "password": "*"}],
                         "msg": ["relayhost_added", ""]}]
    api.post("add/relayhost", {"hostname": "[172.22.1.1]:2527"})
    listed = api.get("get/relayhost/all").json()
    assert [(h["id"], h["hostname"]) for h in listed] == [(1, "[172.22.1.1]:2526"), (2, "[172.22.1.1]:2527")]
    assert {"id", "hostname", "username", "password", "active", "used_by_domains", "used_by_mailboxes"} <= set(listed[0])
    for domain in ("a.test", "hand-made.test"):
        assert msgs(api.post("edit/domain", {"items": [domain], "attr": {"relayhost": "2"}})) == [
            ["domain_modified", domain]]
    assert api.get("get/domain/a.test").json()["relayhost"] == "2"
    assert api.get("get/relayhost/2").json()["used_by_domains"] == "a.test, hand-made.test"
    r = api.post("delete/relayhost", ["2"])
    assert r.json() == [{"type": "success", "log": ["relayhost", "delete", {"id": ["2"]}],
                         "msg": ["relayhost_removed", "2"]}]
    assert api.get("get/domain/a.test").json()["relayhost"] == "0"
    assert api.get("get/domain/hand-made.test").json()["relayhost"] == "0"
    assert api.get("get/relayhost/2").text == "{}"


def test_display_names_lose_leading_lt_and_trailing_gt_on_add_and_edit(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    api.add_mailbox("x", "a.test", name="<C>")
    assert api.get("get/mailbox/x@a.test").json()["name"] == "C"
    api.post("edit/mailbox", {"items": ["x@a.test"], "attr": {"name": "<<Anna Berg>>"}})
    assert api.get("get/mailbox/x@a.test").json()["name"] == "Anna Berg"
    api.post("edit/mailbox", {"items": ["x@a.test"], "attr": {"name": "A <b> c"}})
    assert api.get("get/mailbox/x@a.test").json()["name"] == "A <b> c"


def test_edit_mailbox_refuses_a_quota_past_what_the_domain_has_left(api):
    api.post("add/domain", {"domain": "a.test", "defquota": 512, "maxquota": 2048, "quota": 3072})
    api.add_mailbox("x", "a.test", quota=1024)
    api.add_mailbox("y", "a.test", quota=1024)
    # x may grow to its own 1024 plus the 1024 left: 2048; past maxquota too it is still "left exceeded".
    assert msgs(api.post("edit/mailbox", {"items": ["x@a.test"], "attr": {"quota": 3000}})) == [
        ["mailbox_quota_left_exceeded", 2048]]
    assert msgs(api.post("edit/mailbox", {"items": ["x@a.test"], "attr": {"quota": 2048}})) == [
        ["mailbox_modified", "x@a.test"]]


def test_bulk_mailbox_delete_answers_one_entry_per_address(mc, api):
    api.post("add/domain", {"domain": "d.test"})
    for local in "abc":
        api.add_mailbox(local, "d.test")
    r = api.post("delete/mailbox", ["a@d.test", "b@d.test", "ghost@d.test", "c@d.test"])
    assert [(e["type"], e["msg"]) for e in r.json()] == [
        ("success", ["mailbox_removed", "a@d.test"]), ("success", ["mailbox_removed", "b@d.test"]),
        ("danger", "access_denied"), ("success", ["mailbox_removed", "c@d.test"])]
    assert r.json()[0]["log"] == ["mailbox", "delete", "mailbox",
                                  {"username": ["a@d.test", "b@d.test", "ghost@d.test", "c@d.test"]}, None]
    assert mc.mailboxes == {}


def test_edit_mailbox_changes_fields_and_refuses_missing_or_unlimited_without_quota(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    api.add_mailbox("x", "a.test")
    api.add_mailbox("free", "a.test", quota=0)
    r = api.post("edit/mailbox", {"items": ["x@a.test"], "attr": {"name": "New", "quota": 2048,
                                                                  "password": "N3w-Passw0rd", "password2": "N3w-Passw0rd",
                                                                  "relayhost": "1"}})
    assert msgs(r) == [["mailbox_modified", "x@a.test"]]
    mb = api.get("get/mailbox/x@a.test").json()
    assert (mb["name"], mb["quota"], mb["attributes"]["relayhost"]) == ("New", 2048 * 1048576, "1")
    assert mc.check_password("x@a.test", "N3w-Passw0rd") and not mc.check_password("x@a.test", PASSWORD)
    assert msgs(api.post("edit/mailbox", {"items": ["free@a.test"], "attr": {"active": 0}})) == [
        ["quota_not_0_not_numeric", "0"]]
    assert msgs(api.post("edit/mailbox", {"items": ["ghost@a.test"], "attr": {"active": 0}})) == ["access_denied"]
    assert msgs(api.post("edit/mailbox", {"items": ["nope"], "attr": {"active": 0}})) == [["username_invalid", "nope"]]


def test_request_bodies_follow_content_type(mc, api):
    form = api.post("add/domain", data={"attr": '{"domain": "form.test"}'})
    assert msgs(form)[-1] == ["domain_added", "form.test"]
    plain = api.post("add/domain", data='{"domain": "plain.test"}',
                     headers={**api.headers(), "Content-Type": "text/plain"})
    assert plain.json() == {"type": "error", "msg": "Cannot find attributes in post data"}
    assert api.post("edit/domain", {"attr": {"active": 0}}).json() == {
        "type": "error", "msg": "Cannot find attributes in post data"}
    assert api.post("delete/mailbox", []).json() == {"type": "success", "msg": "Task completed"}
    assert "plain.test" not in mc.domains


def test_status_and_password_policy_reads(mc, api):
    containers = api.get("get/status/containers").json()
    assert len(containers) == 18
    assert all(c["state"] == "running" for c in containers.values())
    assert api.get("get/status/version").json() == {"version": mc.version}
    assert api.get("get/passwordpolicy").json()["length"] == "6"


def test_seeded_objects_are_visible_through_the_api_but_not_logged(mc, api):
    mc.seed_mailbox("Foreign@Seeded.Test", name="Not ours", quota_mb=100)
    mc.seed_dkim("seeded.test", selector="old")
    assert mc.calls == []
    assert api.get("get/mailbox/foreign@seeded.test").json()["name"] == "Not ours"
    assert api.get("get/dkim/seeded.test").json()["dkim_selector"] == "old"
    with mc.lock:
        mc.mailboxes["foreign@seeded.test"]["name"] = "drifted"
    assert api.get("get/mailbox/foreign@seeded.test").json()["name"] == "drifted"
