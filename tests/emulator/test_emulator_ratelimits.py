"""The rate-limit routes answer as Mailcow's functions.ratelimit.inc.php does (docs/mailcow-api.md §6)."""

from __future__ import annotations

import pytest

from tests.emulator.emulator_helpers import msgs


@pytest.fixture
def boxes(api):
    assert api.post("add/domain", {"domain": "example.test", "active": 1}).status_code == 200
    for local in ("user1", "user2"):
        assert api.add_mailbox(local).status_code == 200
    return api


def test_edit_rl_mbox_answers_rl_saved_per_mailbox_with_the_merged_request_as_log(boxes):
    body = {"items": ["user1@example.test", "user2@example.test"], "attr": {"rl_value": 40, "rl_frame": "d"}}
    r = boxes.post("edit/rl-mbox", body)
    log = ["ratelimit", "edit", "mailbox", {"object": ["user1@example.test", "user2@example.test"],
                                            "rl_value": 40, "rl_frame": "d"}]
    assert r.json() == [{"type": "success", "log": log, "msg": ["rl_saved", "user1@example.test"]},
                        {"type": "success", "log": log, "msg": ["rl_saved", "user2@example.test"]}]
    assert boxes.get("get/rl-mbox/user1@example.test").json() == {"value": "40", "frame": "d"}


def test_get_rl_mbox_all_lists_only_mailboxes_with_a_limit(boxes):
    assert boxes.get("get/rl-mbox/all").text == "{}"
    boxes.post("edit/rl-mbox", {"items": ["user2@example.test"], "attr": {"rl_value": "7", "rl_frame": "h"}})
    assert boxes.get("get/rl-mbox/all").json() == [{"value": "7", "frame": "h", "mailbox": "user2@example.test"}]
    assert boxes.get("get/mailbox/user2@example.test").json()["rl"] == {"value": "7", "frame": "h"}
    assert boxes.get("get/mailbox/user2@example.test").json()["rl_scope"] == "mailbox"


def test_value_zero_removes_the_limit_and_a_bad_frame_or_unknown_mailbox_is_refused(boxes):
    boxes.post("edit/rl-mbox", {"items": ["user1@example.test"], "attr": {"rl_value": 5, "rl_frame": "d"}})
    assert msgs(boxes.post("edit/rl-mbox", {"items": ["user1@example.test"],
                                            "attr": {"rl_value": 0, "rl_frame": "d"}})) == [
        ["rl_saved", "user1@example.test"]]
    assert boxes.get("get/rl-mbox/user1@example.test").text == "{}"
    assert msgs(boxes.post("edit/rl-mbox", {"items": ["user1@example.test"],
                                            "attr": {"rl_value": 5, "rl_frame": "w"}})) == ["rl_timeframe"]
    assert msgs(boxes.post("edit/rl-mbox", {"items": ["nobody@example.test"],
                                            "attr": {"rl_value": 5, "rl_frame": "d"}})) == ["access_denied"]
    assert boxes.get("get/rl-mbox/nobody@example.test").text == "{}"


def test_domain_limits_are_read_and_written_the_same_way(boxes):
    assert msgs(boxes.post("edit/rl-domain", {"items": ["example.test"],
                                              "attr": {"rl_value": 500, "rl_frame": "d"}})) == [
        ["rl_saved", "example.test"]]
    assert boxes.get("get/rl-domain/example.test").json() == {"value": "500", "frame": "d"}
    assert boxes.get("get/rl-domain/all").json() == [{"value": "500", "frame": "d", "domain": "example.test"}]
    assert boxes.get("get/mailbox/user1@example.test").json()["rl"] == {"value": "500", "frame": "d"}
    assert msgs(boxes.post("edit/rl-domain", {"items": ["unknown.test"],
                                              "attr": {"rl_value": 5, "rl_frame": "d"}})) == ["access_denied"]
