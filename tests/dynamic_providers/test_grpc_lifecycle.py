"""The whole life of 3 domains × 20 mailboxes through the SDK's gRPC provider server, as the engine drives it."""

from __future__ import annotations

import pytest

from dynamic_providers import MailcowDomainProvider, MailcowRelayhostProvider
from tests.dynamic_providers.conftest import MailStack, assert_converged, mailbox_specs, writes

DOMAINS = ("alpha.example.test", "bravo.example.test", "charlie.example.test")


@pytest.fixture
def stack(provider_session, emulator):
    s = MailStack(provider_session.harness, emulator.url)
    for d in DOMAINS:
        s.set_domain(d, mailbox_specs(d, 20))
    return s


@pytest.fixture
def converged(stack, emulator):
    ops = stack.up()
    assert all(step == {"domain": "create", "dkim": "create", "mailboxes": "create"} for step in ops.values()), ops
    assert_converged(emulator, stack)
    emulator.reset_counters()
    return stack


def test_from_empty_creates_every_domain_dkim_key_and_mailbox(converged, emulator):
    outs = {d: converged.res[d]["mailboxes"].state.outputs for d in DOMAINS}
    for d, o in outs.items():
        assert sorted(o["addresses"]) == [f"user{i:03d}@{d}" for i in range(20)]
        assert "passwords" not in o
        assert all(len(m["password_fingerprint"]) == 16 for m in o["mailboxes"])
    dkim = converged.res[DOMAINS[0]]["dkim"].state.outputs
    assert dkim["dns_name"] == f"dkim._domainkey.{DOMAINS[0]}"
    assert dkim["txt_value"].startswith("v=DKIM1;k=rsa;t=s;s=email;p=")


def test_adding_one_mailbox_costs_exactly_one_write(converged, emulator):
    d = DOMAINS[1]
    converged.set_domain(d, mailbox_specs(d, 21))
    ops = converged.up()
    assert ops[d]["mailboxes"] == "update"
    assert all(op == "same" for dom, step in ops.items() for kind, op in step.items() if (dom, kind) != (d, "mailboxes"))
    assert writes(emulator) == ["add/mailbox"]
    assert_converged(emulator, converged)


def test_changing_a_display_name_costs_one_edit(converged, emulator):
    d = DOMAINS[0]
    boxes = mailbox_specs(d, 20)
    boxes[7]["name"] = "Renamed Person"
    converged.set_domain(d, boxes)
    converged.up()
    assert writes(emulator) == ["edit/mailbox"]
    assert emulator.mailboxes[f"user007@{d}"]["name"] == "Renamed Person"
    assert_converged(emulator, converged)


def test_removing_two_mailboxes_deletes_only_those(converged, emulator):
    d = DOMAINS[2]
    boxes = [m for m in mailbox_specs(d, 20) if m["local_part"] not in ("user003", "user011")]
    converged.set_domain(d, boxes)
    converged.up()
    assert writes(emulator) == ["delete/mailbox"]
    [call] = [c for c in emulator.calls if c.kind == "write"]
    assert sorted(call.body) == [f"user003@{d}", f"user011@{d}"]
    assert_converged(emulator, converged)
    assert sorted(converged.res[d]["mailboxes"].state.outputs["addresses"]) == sorted(
        f"{m['local_part']}@{d}" for m in boxes)


def test_unchanged_stack_diffs_with_no_api_call(converged, emulator):
    previews = converged.preview()
    assert all(not diff["changes"] for per_domain in previews.values() for diff in per_domain.values()), previews
    ops = converged.up()
    assert all(op == "same" for step in ops.values() for op in step.values())
    assert emulator.counts()["total"] == 0, emulator.counts()


def test_refresh_shows_a_mailbox_deleted_by_hand_as_drift(converged, emulator):
    d = DOMAINS[0]
    with emulator.lock:
        del emulator.mailboxes[f"user005@{d}"]
    state = converged.res[d]["mailboxes"].refresh()
    assert state is not None and state.id == d
    assert f"user005@{d}" not in state.outputs["addresses"]
    assert len(state.outputs["addresses"]) == 19
    # The next up puts it back, and only it.
    emulator.reset_counters()
    diff = converged.res[d]["mailboxes"].preview(converged.inputs(d, "mailboxes"))
    assert diff["changes"] is True
    converged.up()
    assert writes(emulator) == ["add/mailbox"]
    assert_converged(emulator, converged)


def test_refresh_reads_a_domain_deleted_by_hand_as_gone(converged, emulator):
    d = DOMAINS[1]
    with emulator.lock:
        for addr in [a for a in emulator.mailboxes if a.endswith("@" + d)]:
            del emulator.mailboxes[addr]
        del emulator.domains[d]
    assert converged.res[d]["domain"].refresh() is None  # Read answered id "": gone from state
    state = converged.res[d]["mailboxes"].refresh()
    assert state is not None and state.outputs["addresses"] == []


def test_destroy_in_dependency_order_leaves_mailcow_empty(converged, emulator):
    converged.destroy()
    assert emulator.domains == {}
    assert emulator.mailboxes == {}
    assert emulator.dkim == {}, "DKIM keys outlive a domain delete in Mailcow; the Dkim resource must delete them"


def test_relayhost_id_flows_into_the_domain_and_destroy_removes_both(provider_session, emulator):
    h = provider_session.harness
    conn = {"api_url": emulator.url, "server": "mx1", "verify_tls": True}
    relay = h.resource(MailcowRelayhostProvider(), "MailcowRelayhost", "mx1-relay-ip1")
    step = relay.up({**conn, "hostname": "[172.22.1.1]:2526", "source_ip": "198.51.100.7"})
    assert step.op == "create"
    rid = step.state.outputs["relayhost_id"]
    assert step.state.id == rid and emulator.relayhosts[int(rid)]["hostname"] == "[172.22.1.1]:2526"

    domain = h.resource(MailcowDomainProvider(), "MailcowDomain", "relayed-example-test-domain")
    domain.up({**conn, "domain": "relayed.example.test", "relayhost_id": rid})
    assert emulator.domains["relayed.example.test"]["relayhost"] == rid
    emulator.reset_counters()
    assert relay.up({**conn, "hostname": "[172.22.1.1]:2526", "source_ip": "198.51.100.7"}).op == "same"
    assert emulator.counts()["total"] == 0

    domain.destroy()
    relay.destroy()
    assert emulator.domains == {} and emulator.relayhosts == {}
