"""A worker run in its own process, killed with SIGKILL at a chosen point of its batch (tests of crashes).

Usage: ``python -m tests.warmup.worker_child SPEC.json`` where the spec holds the stack config, the
credential rows, the history path, the time of the run and ``kill``: ``["before", n]`` (die before the
n-th message goes out, after its reservation) or ``["after", n]`` (die right after the n-th message
was accepted, before it is marked sent).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import sys

from coldmail import model
from coldmail.ops.history import History
from coldmail.warmup import transport
from coldmail.warmup.inputs import mailbox_accounts, seed_accounts
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.worker import Worker


def main(path: str) -> None:
    with open(path) as fh:
        spec = json.load(fh)
    settings = model.load(spec["config"])
    accounts, _ = mailbox_accounts(settings, spec["rows"])
    accounts += [a for a in seed_accounts(settings, {}) if a.address in spec["seeds"]]
    when, n = spec["kill"]
    real_send = transport.SmtpSession.send
    calls = {"n": 0}

    def send(self, msg):
        calls["n"] += 1
        if calls["n"] == n and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real_send(self, msg)
        if calls["n"] == n and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    transport.SmtpSession.send = send
    now = _dt.datetime.fromisoformat(spec["now"])
    store = WarmupStore(History(spec["history"]), lambda: now)
    Worker(settings, accounts, store, clock=lambda: now, sleep=lambda s: None, timeout=10).tick()


if __name__ == "__main__":
    main(sys.argv[1])
