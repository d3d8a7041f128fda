"""Fault injection, latency and the call log: what the provider fault tests and benchmarks rely on."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.emulator.emulator_helpers import Api, msgs
from tests.support.mailcow_emulator import MailcowEmulator


def test_reset_fault_closes_the_connection_without_a_response_then_disarms(mc, api):
    fault = mc.inject("reset", match="get/domain")
    with pytest.raises(requests.ConnectionError):
        api.get("get/domain/all")
    assert (mc.calls[-1].fault, mc.calls[-1].status) == ("reset", None)
    assert fault.hits == 1
    assert api.get("get/domain/all").status_code == 200


def test_500_fault_answers_with_an_empty_body_and_changes_nothing(mc, api):
    mc.inject("500", match="add/domain", times=2)
    for _ in range(2):
        r = api.post("add/domain", {"domain": "a.test"})
        assert (r.status_code, r.text) == (500, "")
    assert mc.domains == {}
    assert msgs(api.post("add/domain", {"domain": "a.test"}))[-1] == ["domain_added", "a.test"]


def test_booting_fault_serves_html_500_before_authentication_for_n_requests(mc, api):
    mc.booting(requests=2)
    for key in (mc.api_key, "WRONG-KEY-000000"):
        r = api.get("get/status/containers", headers={"X-API-Key": key})
        assert r.status_code == 500
        assert r.headers["Content-Type"].startswith("text/html")
        assert "Connection to database failed" in r.text
    assert api.get("get/status/containers").status_code == 200


def test_booting_fault_can_last_for_a_number_of_seconds():
    now = [1000.0]
    with MailcowEmulator(clock=lambda: now[0]) as mc:
        api = Api(mc, mc.api_key)
        mc.booting(seconds=30)
        assert api.get("get/status/version").status_code == 500
        now[0] += 29
        assert api.get("get/status/version").status_code == 500
        now[0] += 2
        assert api.get("get/status/version").json() == {"version": mc.version}


def test_lost_response_applies_the_write_then_resets(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    mc.inject("lost_response", match="add/mailbox")
    with pytest.raises(requests.ConnectionError):
        api.add_mailbox("x", "a.test")
    assert "x@a.test" in mc.mailboxes
    assert msgs(api.add_mailbox("x", "a.test")) == [["object_exists", "x@a.test"]]


def test_delay_fault_slows_only_the_matching_requests(mc, api):
    fault = mc.inject("delay", match=r"^GET get/mailbox/", delay=0.05, times=None)
    api.get("get/domain/all")
    assert api.get("get/mailbox/all").status_code == 200
    assert [(c.endpoint, c.fault) for c in mc.calls] == [("get/domain/all", None), ("get/mailbox/all", "delay")]
    assert fault.hits == 1


def test_callable_match_sees_the_parsed_request(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    mc.inject("500", match=lambda call: isinstance(call.body, dict) and call.body.get("local_part") == "bad")
    assert api.add_mailbox("good", "a.test").status_code == 200
    assert api.add_mailbox("bad", "a.test").status_code == 500
    assert api.add_mailbox("bad", "a.test").status_code == 200


def test_unknown_fault_kind_is_rejected(mc):
    with pytest.raises(ValueError, match="unknown fault"):
        mc.inject("explode")


def test_write_latency_is_charged_once_per_write_and_never_on_a_read():
    with MailcowEmulator(write_latency=0.01) as mc:
        api = Api(mc, mc.api_key)
        api.post("add/domain", {"domain": "a.test", "key_size": 0})
        for i in range(4):
            api.add_mailbox(f"u{i}", "a.test")
        for _ in range(5):
            api.get("get/mailbox/all/a.test")
        assert mc.latency_charged == {"write": 5}


def test_read_latency_is_charged_on_reads_only():
    with MailcowEmulator(read_latency=0.01) as mc:
        api = Api(mc, mc.api_key)
        api.get("get/domain/all")
        api.post("add/domain", {"domain": "a.test", "key_size": 0})
        assert mc.latency_charged == {"read": 1}
        mc.reset_counters()
        assert mc.latency_charged == {}


def test_call_log_counts_reads_and_writes_per_endpoint_and_resets(mc, api):
    api.post("add/domain", {"domain": "a.test"})
    api.add_mailbox("x", "a.test")
    api.get("get/mailbox/all/a.test")
    api.get("get/mailbox/x@a.test")
    api.get("get/mailbox/reduced/a.test")
    counts = mc.counts()
    assert (counts["reads"], counts["writes"], counts["total"]) == (3, 2, 5)
    assert counts["by_endpoint"] == {"add/domain": 1, "add/mailbox": 1, "get/mailbox/all": 1, "get/mailbox/*": 1,
                                     "get/mailbox/reduced": 1}
    call = mc.calls[1]
    assert (call.method, call.action, call.category, call.status) == ("POST", "add", "mailbox", 200)
    assert call.body["password"] == "*" and call.body["local_part"] == "x"
    mc.reset_counters()
    assert mc.counts() == {"reads": 0, "writes": 0, "total": 0, "by_endpoint": {}}
    assert mc.calls == []


@pytest.mark.parametrize("keep_alive", [False, True], ids=["new connection", "kept-alive connection"])
def test_a_stopped_emulator_answers_no_connection(keep_alive):
    mc = MailcowEmulator().start()
    get = requests.Session().get if keep_alive else requests.get
    url = f"{mc.url}/api/v1/get/status/version"
    try:
        assert get(url, timeout=5).status_code == 200
    finally:
        mc.stop()
    with pytest.raises(requests.ConnectionError):
        get(url, timeout=5)


def test_kept_alive_connections_send_without_nagle_delay(mc):
    # Headers and body go out in two writes; with Nagle's algorithm on, each keep-alive request waits ~40 ms.
    session = requests.Session()
    url = f"{mc.url}/api/v1/get/status/version"
    assert session.get(url, timeout=5).status_code == 200
    with mc._server.connections_lock:
        conns = list(mc._server.open_connections)
    assert conns and all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in conns)
    assert session.get(url, timeout=5).status_code == 200
