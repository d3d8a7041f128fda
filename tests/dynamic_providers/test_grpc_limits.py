"""The edits that used to get a stack stuck, through the gRPC server as the engine drives them.

Each shrinks a domain limit below what the mailboxes use until they have changed, so Mailcow refuses it
when it comes first (``["max_quota_in_use","2048"]``, ``["domain_quota_m_in_use","5120"]``,
``["mailboxes_in_use",3]``). Tight limits (no headroom, an advisory size of 1) make every edit here cross a
step of the program's sizing.
"""

from __future__ import annotations

import pytest

from tests.support.grpc_harness import ProviderError
from tests.support.mail_stack import MailStack, assert_converged, base_config, mailbox_specs

DOMAIN = "d.example.test"


@pytest.fixture
def stack(provider_session, mc):
    raw = base_config(floating_ips=2)
    raw["limits"] = {"mailboxHeadroom": 0}
    s = MailStack(provider_session.harness, mc.url, raw=raw)
    # The maximum equal to the count leaves no room: the limits follow every edit (each one sets it again).
    s.set_domain(DOMAIN, mailbox_specs(DOMAIN, 5, quota_mb=2048), ip=1, max_per_domain=5)
    s.up()
    assert_converged(mc, s)
    mc.reset_counters()
    return s


def limits(mc):
    row = mc.domains[DOMAIN]
    return row["mailboxes"], row["quota"], row["maxquota"]


def settled(stack, mc):
    """Converged, and nothing left to do: a preview changes nothing and calls nothing."""
    assert_converged(mc, stack)
    mc.reset_counters()
    assert not any(d["changes"] for per in stack.preview().values() for d in per.values())
    assert mc.calls == []


def test_lowering_every_quota_shrinks_the_limits_after_the_mailboxes(stack, mc):
    assert limits(mc) == (8, 16384, 16384)
    stack.set_domain(DOMAIN, mailbox_specs(DOMAIN, 5, quota_mb=1024), ip=1, max_per_domain=5)
    stack.up()
    assert mc.endpoints("write") == ["edit/mailbox"] * 5 + ["edit/domain"]
    assert limits(mc) == (8, 8192, 8192)
    settled(stack, mc)


def test_removing_three_mailboxes_is_one_delete_then_the_shrink(stack, mc):
    stack.set_domain(DOMAIN, mailbox_specs(DOMAIN, 2, quota_mb=2048), ip=1, max_per_domain=2)
    stack.up()
    assert mc.endpoints("write") == ["delete/mailbox", "edit/domain"]
    assert len(mc.calls[0].body) == 3
    assert limits(mc) == (2, 4096, 4096)
    settled(stack, mc)


def test_a_move_to_another_sending_ip_with_a_shrink_and_a_growth_each_go_in_their_place(stack, mc):
    # user003 and user004 go, user000-002 shrink to 1024 MiB, 7 small ones come: 10 mailboxes (8 -> 16 slots)
    # of 3520 MiB (16384 -> 4096), and the domain moves from sending IP 1 to 2.
    stack.set_domain(DOMAIN, mailbox_specs(DOMAIN, 3, quota_mb=1024) + mailbox_specs(DOMAIN, 7, start=10, quota_mb=64),
                     ip=2, max_per_domain=10)
    stack.up()
    writes = mc.endpoints("write")
    assert mc.calls[0].body["attr"] == {"relayhost": stack.res[("relayhost", 2)].state.id}
    grow, shrink = [c.body["attr"] for c in mc.calls if c.endpoint == "edit/domain"][1:]
    assert grow == {"mailboxes": 16} and shrink == {"quota": 4096, "maxquota": 4096, "defquota": 4096}
    assert writes[1:] == ["edit/domain", "delete/mailbox"] + ["edit/mailbox"] * 3 + ["add/mailbox"] * 7 + [
        "edit/domain"]
    settled(stack, mc)


def test_limits_lowered_by_hand_below_what_is_in_use_are_repaired_not_stuck(stack, mc):
    with mc.lock:
        mc.domains[DOMAIN].update(mailboxes=2, quota=3000, maxquota=2048)
    # No refresh: the next edit meets the refusal and repairs the domain.
    stack.set_domain(DOMAIN, mailbox_specs(DOMAIN, 6, quota_mb=2048), ip=1, max_per_domain=6)
    stack.up()
    assert mc.endpoints() == ["add/mailbox", "get/domain/*", "edit/domain", "add/mailbox"]
    settled(stack, mc)
    # And after a refresh, the drift shows and one up repairs it.
    with mc.lock:
        mc.domains[DOMAIN].update(mailboxes=2, quota=3000, maxquota=2048)
    stack.res[("mailboxes", DOMAIN)].refresh()
    stack.up()
    assert limits(mc) == (8, 16384, 16384)
    settled(stack, mc)


def test_a_relayhost_still_used_by_a_domain_outside_the_stack_survives_and_is_named(stack, mc):
    rid = stack.res[("relayhost", 2)].state.id
    mc.seed_domain("hand-made.example.test", relayhost=rid)
    stack.raw["servers"][0]["floatingIps"] = 1
    with pytest.raises(ProviderError) as exc:
        stack.up()
    assert "hand-made.example.test" in exc.value.details and "pulumi state delete" in exc.value.details
    assert int(rid) in mc.relayhosts and mc.domains["hand-made.example.test"]["relayhost"] == rid
