"""Replays the observed requests and responses of Mailcow's real answers (docs/mailcow-api.md) against the emulator."""

from __future__ import annotations

import pytest

from tests.emulator.emulator_helpers import PASSWORD, msgs

DOMAIN_BODY = {"domain": "example.test", "description": "lab domain", "active": 1}
DOMAIN_LOG = ["mailbox", "add", "domain", DOMAIN_BODY, None]
MAILBOX_BODY = {"local_part": "user1", "domain": "example.test", "name": "User One", "password": PASSWORD,
                "password2": PASSWORD, "quota": 1024, "active": 1}
MASKED_MAILBOX_BODY = {**MAILBOX_BODY, "password": "*", "password2": "*"}


@pytest.fixture
def example(api):
    assert api.post("add/domain", DOMAIN_BODY).status_code == 200
    return api


def test_empty_database_reads_return_an_empty_object_not_a_list(api):
    for path in ("get/domain/all", "get/mailbox/all", "get/relayhost/all", "get/dkim/unknown.test",
                 "get/domain/unknown.test", "get/mailbox/nobody@unknown.test"):
        r = api.get(path)
        assert (r.status_code, r.text) == (200, "{}"), path


def test_domain_add_creates_dkim_first_then_reports_domain_added(api):
    r = api.post("add/domain", DOMAIN_BODY)
    assert r.status_code == 200
    assert r.json() == [
        {"type": "success",
         "log": ["dkim", "add", {"key_size": 2048, "dkim_selector": "dkim", "domains": "example.test"}],
         "msg": ["dkim_added", "example.test"]},
        {"type": "success", "log": DOMAIN_LOG, "msg": ["domain_added", "example.test"]},
    ]


def test_duplicate_domain_add_is_a_200_with_domain_exists(example):
    r = example.post("add/domain", DOMAIN_BODY)
    assert r.status_code == 200
    assert r.json() == [{"type": "danger", "log": DOMAIN_LOG, "msg": ["domain_exists", "example.test"]}]


@pytest.mark.parametrize("name", ["not a domain", "-bad-.test", "", "trailing.dot."])
def test_invalid_domain_names_get_domain_invalid_as_a_plain_string(api, name):
    body = {"domain": name, "active": 1}
    r = api.post("add/domain", body)
    assert r.status_code == 200
    assert r.json() == [{"type": "danger", "log": ["mailbox", "add", "domain", body, None], "msg": "domain_invalid"}]


def test_add_dkim_for_a_domain_that_got_its_automatic_key_is_dkim_domain_or_sel_invalid(example):
    body = {"domains": "example.test", "dkim_selector": "dkim", "key_size": 2048}
    r = example.post("add/dkim", body)
    assert r.json() == [{"type": "danger", "log": ["dkim", "add", body],
                         "msg": ["dkim_domain_or_sel_invalid", "example.test"]}]


def test_key_size_zero_skips_dkim_and_add_dkim_then_creates_it(api):
    body = {"domain": "nodkim.test", "active": 1, "key_size": 0}
    r = api.post("add/domain", body)
    assert r.json() == [{"type": "success", "log": ["mailbox", "add", "domain", body, None],
                         "msg": ["domain_added", "nodkim.test"]}]
    assert api.get("get/dkim/nodkim.test").text == "{}"
    dkim_body = {"domains": "nodkim.test", "dkim_selector": "dkim", "key_size": 2048}
    r = api.post("add/dkim", dkim_body)
    assert r.json() == [{"type": "success", "log": ["dkim", "add", dkim_body], "msg": ["dkim_added", "nodkim.test"]}]
    key = api.get("get/dkim/nodkim.test").json()
    assert set(key) == {"pubkey", "length", "dkim_txt", "dkim_selector", "privkey"}
    assert key["length"] == "2048" and key["dkim_selector"] == "dkim" and key["privkey"] == ""
    assert key["pubkey"].startswith("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    assert key["pubkey"].endswith("IDAQAB") and len(key["pubkey"]) == 392
    assert key["dkim_txt"] == "v=DKIM1;k=rsa;t=s;s=email;p=" + key["pubkey"]


def test_mailbox_add_reports_rl_saved_then_mailbox_added(example):
    r = example.post("add/mailbox", MAILBOX_BODY)
    assert r.status_code == 200
    assert r.json() == [
        {"type": "success",
         "log": ["ratelimit", "edit", "mailbox", {"object": "user1@example.test", "rl_frame": "s", "rl_value": ""}],
         "msg": ["rl_saved", "user1@example.test"]},
        {"type": "success", "log": ["mailbox", "add", "mailbox", MASKED_MAILBOX_BODY, None],
         "msg": ["mailbox_added", "user1@example.test"]},
    ]


def test_mailbox_add_errors_match_the_observed_messages(example):
    example.post("add/mailbox", MAILBOX_BODY)
    r = example.post("add/mailbox", MAILBOX_BODY)
    assert r.json() == [{"type": "danger", "log": ["mailbox", "add", "mailbox", MASKED_MAILBOX_BODY, None],
                         "msg": ["object_exists", "user1@example.test"]}]
    r = example.post("add/mailbox", {**MAILBOX_BODY, "local_part": "u2", "password2": "Other-Passw0rd"})
    assert r.json() == [{"type": "danger", "log": ["password_check", None, None], "msg": "password_mismatch"}]
    r = example.post("add/mailbox", {**MAILBOX_BODY, "local_part": "u2", "password": "abc", "password2": "abc"})
    assert r.json() == [{"type": "danger", "log": ["password_check", None, None], "msg": "password_complexity"}]
    body = {**MAILBOX_BODY, "domain": "nosuchdomain.test"}
    r = example.post("add/mailbox", body)
    assert r.json() == [{"type": "danger",
                         "log": ["mailbox", "add", "mailbox", {**body, "password": "*", "password2": "*"}, None],
                         "msg": "access_denied"}]
    assert msgs(example.post("add/mailbox", {**MAILBOX_BODY, "local_part": "bad local"})) == ["mailbox_invalid"]


def test_eleventh_mailbox_in_a_default_domain_is_max_mailbox_exceeded(example):
    for i in range(1, 11):
        assert msgs(example.add_mailbox(f"user{i}"))[-1] == ["mailbox_added", f"user{i}@example.test"]
    body = {"local_part": "user11", "domain": "example.test", "name": "User 11", "password": PASSWORD,
            "password2": PASSWORD, "quota": 1024, "active": 1}
    r = example.post("add/mailbox", body)
    assert r.json() == [{"type": "danger",
                         "log": ["mailbox", "add", "mailbox", {**body, "password": "*", "password2": "*"}, None],
                         "msg": ["max_mailbox_exceeded", 10, 10]}]


def test_full_domain_reads_back_in_bytes_with_template_defaults(example):
    for i in range(1, 11):
        example.add_mailbox(f"user{i}")
    listed = example.get("get/domain/all").json()
    assert isinstance(listed, list) and len(listed) == 1
    d = listed[0]
    assert example.get("get/domain/example.test").json() == d
    expected = {
        "max_new_mailbox_quota": 0, "def_new_mailbox_quota": 0, "quota_used_in_domain": "10737418240",
        "bytes_total": 0, "msgs_total": 0, "mboxes_in_domain": 10, "mboxes_left": 0, "domain_name": "example.test",
        "domain_h_name": "example.test", "description": "lab domain", "max_num_aliases_for_domain": 400,
        "max_num_mboxes_for_domain": 10, "def_quota_for_mbox": 3221225472, "max_quota_for_mbox": 10737418240,
        "max_quota_for_domain": 10737418240, "relayhost": "0", "backupmx": 0, "backupmx_int": 0, "gal": 1,
        "gal_int": 1, "rl": False, "active": 1, "active_int": 1, "relay_all_recipients": 0, "modified": None,
        "aliases_in_domain": 0, "aliases_left": 400, "domain_admins": "-",
    }
    assert {k: d[k] for k in expected} == expected
    assert "tags" not in d


def test_mailbox_reads_back_in_bytes_with_string_attributes_also_url_encoded(example):
    example.post("add/mailbox", MAILBOX_BODY)
    mb = example.get("get/mailbox/user1@example.test").json()
    assert example.get("get/mailbox/user1%40example.test").json() == mb
    assert mb["username"] == "user1@example.test" and mb["quota"] == 1073741824 and mb["name"] == "User One"
    assert mb["attributes"]["force_pw_update"] == "0" and mb["attributes"]["relayhost"] == "0"
    assert mb["attributes"]["mailbox_format"] == "maildir:"
    assert all(isinstance(v, str) for v in mb["attributes"].values())
    assert mb["max_new_quota"] == 10737418240  # 9 GiB left in the domain + its own 1 GiB
    assert (mb["rl"], mb["rl_scope"], mb["sender_acl"], mb["authsource"]) == (False, "domain", [], "mailcow")
    assert example.get("get/mailbox/all").json() == [mb]
    assert example.get("get/mailbox/all/example.test").json() == [mb]


def test_bad_key_is_401_and_missing_key_is_empty_200_or_access_denied(mc, api):
    r = api.get("get/domain/all", headers={"X-API-Key": "WRONG-KEY-000000"})
    assert (r.status_code, r.json()) == (401, {"type": "error", "msg": "authentication failed"})
    r = api.get("get/domain/all", headers={})
    assert (r.status_code, r.text) == (200, "")
    r = api.post("add/domain", {"domain": "x.test"}, headers={})
    assert r.status_code == 200
    assert r.json() == [{"type": "danger", "log": ["mailbox", "add", "domain", {"domain": "x.test"}, None],
                         "msg": "access_denied"}]
    assert "x.test" not in mc.domains


def test_framework_errors_use_their_observed_status_codes(api):
    r = api.get("add/domain")
    assert (r.status_code, r.json()) == (200, {"type": "error", "msg": "Cannot find attributes in post data"})
    r = api.post("add/domain", data="{not json", headers={**api.headers(), "Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"type": "error", "msg": "Request body doesn't contain valid json!"})
    r = api.post("get/domain/all")
    assert (r.status_code, r.json()) == (405, {"type": "error", "msg": "only GET method is allowed"})
    r = api.get("get/nonsense/all")
    assert (r.status_code, r.json()) == (404, {"type": "error", "msg": "route not found"})


def test_delete_sequence_matches_the_observed_messages(example):
    for i in range(1, 4):
        example.add_mailbox(f"user{i}")
    dom_log = ["mailbox", "delete", "domain", {"domain": ["example.test"]}, None]
    r = example.post("delete/domain", ["example.test"])
    assert r.json() == [{"type": "danger", "log": dom_log, "msg": ["domain_not_empty", "example.test"]}]
    mb_log = ["mailbox", "delete", "mailbox", {"username": ["user1@example.test"]}, None]
    r = example.post("delete/mailbox", ["user1@example.test"])
    assert r.json() == [{"type": "success", "log": mb_log, "msg": ["mailbox_removed", "user1@example.test"]}]
    r = example.post("delete/mailbox", ["user1@example.test"])
    assert r.json() == [{"type": "danger", "log": mb_log, "msg": "access_denied"}]
    r = example.post("delete/mailbox", ["user2@example.test", "user3@example.test"])
    assert msgs(r) == [["mailbox_removed", "user2@example.test"], ["mailbox_removed", "user3@example.test"]]
    assert msgs(example.post("delete/mailbox", ["not-an-address"])) == ["access_denied"]
    pubkey = example.get("get/dkim/example.test").json()["pubkey"]
    for _ in range(2):
        r = example.post("delete/domain", ["example.test"])
        assert r.json() == [{"type": "success", "log": dom_log, "msg": ["domain_removed", "example.test"]}]
    assert msgs(example.post("delete/domain", ["bad domain!"])) == ["domain_invalid"]
    assert example.get("get/dkim/example.test").json()["pubkey"] == pubkey
    r = example.post("delete/dkim", ["example.test"])
    assert r.json() == [{"type": "success", "log": ["dkim", "delete", {"domains": ["example.test"]}],
                         "msg": ["dkim_removed", "example.test"]}]
    assert example.get("get/dkim/example.test").text == "{}"


def test_every_response_sets_a_mcsessid_cookie(api):
    for r in (api.get("get/domain/all"), api.post("add/domain", DOMAIN_BODY), api.get("get/nonsense/x")):
        assert "MCSESSID" in r.cookies
