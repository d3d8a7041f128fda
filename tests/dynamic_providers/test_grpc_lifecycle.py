"""The whole life of 3 domains × 20 mailboxes through the SDK's gRPC provider server, as the engine drives it."""

from __future__ import annotations

import pytest

from dynamic_providers import MailcowDomainProvider, MailcowRelayhostProvider
from tests.support.mail_stack import MailStack, assert_converged, mailbox_specs

DOMAINS = ("alpha.example.test", "bravo.example.test", "charlie.example.test")


@pytest.fixture
def stack(provider_session, mc):
    s = MailStack(provider_session.harness, mc.url)
    for d in DOMAINS:
        s.set_domain(d, mailbox_specs(d, 20))
    return s


@pytest.fixture
def converged(stack, mc):
    ops = stack.up()
    assert all(step == {"domain": "create", "dkim": "create", "mailboxes": "create"} for step in ops.values()), ops
    assert_converged(mc, stack)
    mc.reset_counters()
    return stack


def test_from_empty_creates_every_domain_dkim_key_and_mailbox(converged, mc):
    outs = {d: converged.res[("mailboxes", d)].state.outputs for d in DOMAINS}
    for d, o in outs.items():
        assert sorted(o["addresses"]) == [f"user{i:03d}@{d}" for i in range(20)]
        assert "passwords" not in o
        assert all(len(m["password_fingerprint"]) == 16 for m in o["mailboxes"])
    dkim = converged.res[("dkim", DOMAINS[0])].state.outputs
    assert dkim["dns_name"] == f"dkim._domainkey.{DOMAINS[0]}"
    assert dkim["txt_value"].startswith("v=DKIM1;k=rsa;t=s;s=email;p=")


def test_adding_one_mailbox_costs_exactly_one_write(converged, mc):
    d = DOMAINS[1]
    converged.set_domain(d, mailbox_specs(d, 21))
    ops = converged.up()
    assert ops[d]["mailboxes"] == "update"
    # The other sets change only their planned daily sends (the IP's cap is shared by one more mailbox):
    # state only, no API call. The domain's limits moved in steps and did not change.
    assert all(op == "same" for step in ops.values() for kind, op in step.items() if kind != "mailboxes"), ops
    assert mc.endpoints() == ["add/mailbox"]
    assert_converged(mc, converged)


def test_changing_a_display_name_costs_one_edit(converged, mc):
    d = DOMAINS[0]
    boxes = mailbox_specs(d, 20)
    boxes[7]["name"] = "Renamed Person"
    converged.set_domain(d, boxes)
    converged.up()
    assert mc.endpoints("write") == ["edit/mailbox"]
    assert mc.mailboxes[f"user007@{d}"]["name"] == "Renamed Person"
    assert_converged(mc, converged)


def test_removing_two_mailboxes_deletes_only_those_in_one_call_and_keeps_the_room_to_the_maximum(converged, mc):
    d = DOMAINS[2]
    boxes = [m for m in mailbox_specs(d, 20) if m["local_part"] not in ("user003", "user011")]
    converged.set_domain(d, boxes)
    converged.up()
    # The stack allows 20 mailboxes per domain, so the domain keeps room for them: its limits stay (the shrink
    # after a removal is in test_grpc_limits.py, where the maximum follows the count).
    assert mc.endpoints() == ["delete/mailbox"]
    (delete,) = mc.calls
    assert sorted(delete.body) == [f"user003@{d}", f"user011@{d}"]
    assert_converged(mc, converged)
    assert sorted(converged.res[("mailboxes", d)].state.outputs["addresses"]) == sorted(
        f"{m['local_part']}@{d}" for m in boxes)


def test_unchanged_stack_diffs_with_no_api_call(converged, mc):
    previews = converged.preview()
    assert all(not diff["changes"] for per_domain in previews.values() for diff in per_domain.values()), previews
    ops = converged.up()
    assert all(op == "same" for step in ops.values() for op in step.values())
    assert mc.counts()["total"] == 0, mc.counts()


def test_refresh_shows_a_mailbox_deleted_by_hand_as_drift(converged, mc):
    d = DOMAINS[0]
    with mc.lock:
        del mc.mailboxes[f"user005@{d}"]
    state = converged.res[("mailboxes", d)].refresh()
    assert state is not None and state.id == d
    assert f"user005@{d}" not in state.outputs["addresses"]
    assert len(state.outputs["addresses"]) == 19
    # The next up puts it back, and only it.
    mc.reset_counters()
    diff = converged.res[("mailboxes", d)].preview(converged.inputs(d, "mailboxes"))
    assert diff["changes"] is True
    converged.up()
    assert mc.endpoints("write") == ["add/mailbox"]
    assert_converged(mc, converged)


def test_refresh_reads_a_domain_deleted_by_hand_as_gone(converged, mc):
    d = DOMAINS[1]
    with mc.lock:
        for addr in [a for a in mc.mailboxes if a.endswith("@" + d)]:
            del mc.mailboxes[addr]
        del mc.domains[d]
    assert converged.res[("domain", d)].refresh() is None  # Read answered id "": gone from state
    state = converged.res[("mailboxes", d)].refresh()
    assert state is not None and state.outputs["addresses"] == []


def test_destroy_in_dependency_order_leaves_mailcow_empty(converged, mc):
    converged.destroy()
    assert mc.domains == {}
    assert mc.mailboxes == {}
    assert mc.dkim == {}, "DKIM keys outlive a domain delete in Mailcow; the Dkim resource must delete them"


def test_relayhost_id_flows_into_the_domain_and_destroy_removes_both(provider_session, mc):
    h = provider_session.harness
    conn = {"api_url": mc.url, "server": "mx1", "verify_tls": True}
    relay = h.resource(MailcowRelayhostProvider(), "MailcowRelayhost", "mx1-relay-ip1")
    step = relay.up({**conn, "hostname": "[172.22.1.1]:2526", "source_ip": "198.51.100.7"})
    assert step.op == "create"
    rid = step.state.outputs["relayhost_id"]
    assert step.state.id == rid and mc.relayhosts[int(rid)]["hostname"] == "[172.22.1.1]:2526"

    domain = h.resource(MailcowDomainProvider(), "MailcowDomain", "relayed-example-test-domain")
    domain.up({**conn, "domain": "relayed.example.test", "relayhost_id": rid})
    assert mc.domains["relayed.example.test"]["relayhost"] == rid
    mc.reset_counters()
    assert relay.up({**conn, "hostname": "[172.22.1.1]:2526", "source_ip": "198.51.100.7"}).op == "same"
    assert mc.counts()["total"] == 0

    domain.destroy()
    relay.destroy()
    assert mc.domains == {} and mc.relayhosts == {}
