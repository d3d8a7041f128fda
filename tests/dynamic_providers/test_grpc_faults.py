"""Injected Mailcow faults during Create and Update, through the gRPC server.

For every fault the step either retries to success or fails with a clear error; then the engine's next
run (Create again after a failed create, Update again after a failed update: a failed step leaves state
as it was) converges with no duplicate and nothing lost.
"""

from __future__ import annotations

import re

import pytest

from tests.support.mail_stack import API_KEY, MailStack, assert_converged, mailbox_specs
from tests.support.grpc_harness import ProviderError

DOMAIN = "faults.example.test"
# Short backoff so a retried fault costs milliseconds; the retry policy itself is unchanged.
FAST = {"backoff": 0.02, "backoff_max": 0.1}
PROVIDERS = {"domain": FAST, "dkim": FAST, "mailboxes": FAST}

# (fault kind, inject() arguments). "booting" answers HTML 500 to every request for a while.
FAULTS = {
    "latency": ("delay", {"delay": 0.4}),
    "connection_reset": ("reset", {}),
    "http_500_empty": ("500", {}),
    "html_500_booting": ("booting", {"times": 3}),
    "write_lost": ("lost_response", {}),
}
# Where the fault hits: the domain's own add, the first mailbox add of a create, or of an update.
TARGETS = {
    "create_domain": ("create", "add/domain"),
    "create_mailboxes": ("create", "add/mailbox"),
    "update_mailboxes": ("update", "add/mailbox"),
    "update_edit": ("update", "edit/mailbox"),
}
_CLEAR = re.compile(r"dynamic_providers\.errors\.Mailcow\w+: .*(add|edit|delete)/\w+")


def _last_line(details: str) -> str:
    return [line for line in details.strip().splitlines() if line.strip()][-1]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("target", list(TARGETS))
def test_fault_then_next_run_converges_without_duplicates(provider_session, mc, fault, target):
    phase, endpoint = TARGETS[target]
    kind, kw = FAULTS[fault]
    stack = MailStack(provider_session.harness, mc.url, providers=PROVIDERS)
    stack.set_domain(DOMAIN, mailbox_specs(DOMAIN, 10))
    if phase == "update":
        stack.up()
        boxes = mailbox_specs(DOMAIN, 15)
        if endpoint == "edit/mailbox":
            boxes[2]["name"] = "Renamed During Fault"
            boxes[4]["quota_mb"] = 200
        stack.set_domain(DOMAIN, boxes)
    match = None if kind == "booting" else f"^POST {endpoint}"
    armed = mc.inject(kind, match=match, **{"times": 1, **kw})

    try:
        stack.up()
        outcome = "ok"
    except ProviderError as exc:
        outcome = "failed"
        line = _last_line(exc.details)
        assert _CLEAR.search(line), f"unclear error for {fault} on {endpoint}: {line}"
        assert API_KEY not in exc.details
    assert armed.hits >= 1, f"the {fault} fault never hit {endpoint}"
    # Only an "outcome unknown" write may fail; everything else is safe to retry and must succeed.
    if kind in ("delay", "booting"):
        assert outcome == "ok", f"{fault} on {endpoint} should have been retried to success"
    # A fault costs a bounded number of extra calls (a read to check, one resend), never a retry storm.
    faulted = [c for c in mc.calls if c.fault is not None]
    assert len(faulted) == armed.hits <= 3, [(c.endpoint, c.fault) for c in faulted]

    mc.clear_faults()
    stack.up()
    assert_converged(mc, stack)
    # A further run finds nothing to do: the state the engine kept is true.
    mc.reset_counters()
    previews = stack.preview()
    assert all(not d["changes"] for d in previews[DOMAIN].values()), previews
    assert mc.counts()["total"] == 0


def test_failed_create_of_a_mailbox_set_leaves_no_state_and_recreate_adopts(provider_session, mc):
    """The engine keeps nothing after a failed Create; the re-Create must adopt what the first one made."""
    stack = MailStack(provider_session.harness, mc.url, providers=PROVIDERS)
    stack.set_domain(DOMAIN, mailbox_specs(DOMAIN, 10))
    # Let some adds land, then every further add answers an empty 500 without doing anything. (The set adds
    # a few at once, so how many land before the fault bites varies; at least 4 do.)
    mc.inject("500", match=lambda c: c.endpoint == "add/mailbox"
                    and sum(1 for x in mc.calls if x.endpoint == "add/mailbox") >= 4, times=None)
    with pytest.raises(ProviderError) as failed:
        stack.up()
    line = _last_line(failed.value.details)
    assert _CLEAR.search(line) and "add/mailbox" in line, line
    assert stack.res[("mailboxes", DOMAIN)].state is None
    landed = len(mc.mailboxes)
    assert 4 <= landed < 10
    mc.clear_faults()
    mc.reset_counters()
    stack.up()
    assert_converged(mc, stack)
    adds = [c for c in mc.calls if c.endpoint == "add/mailbox"]
    assert len(adds) == 10 - landed, "only the missing mailboxes are added again"
    assert mc.endpoints().count("edit/mailbox") == landed, "the ones that landed are adopted"

