"""Random edits of a stack converge in one ``up``, at the cost of the change, and leave nothing to do.

Each seed makes a pair of valid stack configs for one server (``tests.support.mail_stack.random_pair``:
mailbox sets grown and shrunk, quotas up and down, domains removed down to one, a domain moved to another
sending IP, the DKIM selector changed, sending IPs added and removed). Config A is brought up from empty,
then B in one ``up`` through the SDK's provider gRPC server against the emulator, with the program's own
sizing. Then Mailcow must hold exactly B, the writes must be exactly what the change needs (counted here
from the two configs, independently of the providers), and a preview must find no change and make no call.
A failure names its seed: ``pytest tests/dynamic_providers/test_property_edits.py -k 'seed-37'`` replays it.
"""

from __future__ import annotations

import json

import pytest

from coldmail import model as cm
from tests.support.mail_stack import MailStack, assert_converged, random_pair

PAIRS = 100


def writes_needed(a: cm.StackConfig, b: cm.StackConfig) -> int:
    """The Mailcow writes that turn A into B, counted from the configs alone."""
    fa, fb = a.servers[0].floating_ips, b.servers[0].floating_ips
    n = abs(fb - fa)  # one add/relayhost or delete/relayhost per sending IP
    old, new = {d.name: d for d in a.domains}, {d.name: d for d in b.domains}
    for name, d in new.items():
        if name not in old:
            # add/domain, its relayhost (add/domain takes none), add/dkim, one add per mailbox
            n += 1 + (1 if d.ip else 0) + 1 + len(d.mailboxes)
            continue
        o = old[name]
        n += 1 if o.ip != d.ip else 0
        n += 2 if a.dkim.selector != b.dkim.selector else 0  # delete/dkim, then add/dkim
        was = {m.local_part: (m.name, m.quota_mb) for m in o.mailboxes}
        now = {m.local_part: (m.name, m.quota_mb) for m in d.mailboxes}
        n += sum(1 for lp in now if lp not in was) + sum(1 for lp in now if lp in was and was[lp] != now[lp])
        n += 1 if set(was) - set(now) else 0  # every removal in one delete/mailbox
        before, after = a.domain_sizing(o), b.domain_sizing(d)
        n += any(after[k] > before[k] for k in after) + any(after[k] < before[k] for k in after)
    for name, o in old.items():
        if name not in new:
            n += (1 if o.mailboxes else 0) + 1 + 1  # delete/mailbox, delete/dkim, delete/domain
    return n


@pytest.mark.parametrize("seed", range(PAIRS), ids=lambda s: f"seed-{s}")
def test_an_edit_converges_in_one_up_at_its_cost_and_the_next_preview_is_empty(provider_session, mc, seed):
    a, b, edits = random_pair(seed)
    context = f"seed {seed}, edits {edits}\nA = {json.dumps(a['domains'])}\nB = {json.dumps(b['domains'])}"
    stack = MailStack(provider_session.harness, mc.url, raw=a)
    stack.up()
    assert_converged(mc, stack)
    mc.reset_counters()

    stack.set_config(b)
    stack.up()
    try:
        assert_converged(mc, stack)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{context}") from None
    writes = mc.counts()["writes"]
    assert writes == writes_needed(cm.load(a), cm.load(b)), f"{mc.endpoints('write')}\n{context}"

    mc.reset_counters()
    pending = {k: v for k, v in stack.preview().items() if any(d["changes"] for d in v.values())}
    assert pending == {} and mc.calls == [], f"{pending}\n{context}"
