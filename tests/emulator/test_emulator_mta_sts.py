"""MTA-STS in the emulator: add/edit with Mailcow's exact answers, no read or delete route, the served policy."""

from __future__ import annotations

import requests

POLICY = {"domain": "d.test", "version": "STSv1", "mode": "enforce", "mx": "mx1.ops.test", "max_age": "86400",
          "active": "1"}


def served(mc, domain: str) -> requests.Response:
    return requests.get(f"{mc.url}/.well-known/mta-sts.txt", headers={"Host": f"mta-sts.{domain}"}, timeout=5)


def test_add_answers_one_object_and_the_policy_is_served_as_mailcow_writes_it(api, mc):
    mc.seed_domain("d.test")
    r = api.post("add/mta-sts", POLICY)
    assert (r.status_code, r.json()) == (200, {"type": "success", "msg": "Task completed"})
    page = served(mc, "d.test")
    assert (page.status_code, page.text) == (200, "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: mx1.ops.test\n")
    assert page.headers["Content-Type"].startswith("text/plain")


def test_edit_answers_the_usual_list_with_object_modified(api, mc):
    mc.seed_domain("d.test")
    api.post("add/mta-sts", POLICY)
    r = api.post("edit/mta-sts", {"items": ["d.test"], "attr": {"mode": "testing", "mx": "mx1.ops.test,mx2.ops.test"}})
    assert r.status_code == 200
    (entry,) = r.json()
    assert (entry["type"], entry["msg"]) == ("success", ["object_modified", "d.test"])
    assert served(mc, "d.test").text == "version: STSv1\nmode: testing\nmax_age: 86400\nmx: mx1.ops.test\nmx: mx2.ops.test\n"


def test_there_is_no_read_route_and_no_delete_route(api, mc):
    mc.seed_domain("d.test")
    api.post("add/mta-sts", POLICY)
    for r in (api.get("get/mta-sts/d.test"), api.post("delete/mta-sts", ["d.test"])):
        assert (r.status_code, r.json()) == (404, {"type": "error", "msg": "route not found"})


def test_an_inactive_or_missing_policy_is_not_served(api, mc):
    mc.seed_domain("d.test")
    assert served(mc, "d.test").status_code == 404
    api.post("add/mta-sts", POLICY)
    api.post("edit/mta-sts", {"items": ["d.test"], "attr": {"active": "0"}})
    assert served(mc, "d.test").status_code == 404


def test_a_policy_for_a_domain_mailcow_does_not_have_is_refused(api, mc):
    r = api.post("add/mta-sts", POLICY)
    assert r.json()[0]["type"] == "danger" and r.json()[0]["msg"] == ["access_denied", "d.test"]
    assert mc.mta_sts == {}
