"""No cap is exceeded: across the day, across restarts, with two workers at once, and through crashes."""

from __future__ import annotations

import datetime as _dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter

from coldmail.ops.history import History
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.worker import Worker

from .conftest import START, Clock, at

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _statuses(store):
    return Counter(r[0] for r in store._db.execute("SELECT status FROM warmup_sends WHERE kind = 'exchange'"))


def _anna_and_seed(stack):
    anna, seed = stack.address("anna"), stack.seeds[0]
    return anna, seed, stack.accounts({anna}, seeds=False) + [a for a in stack.accounts(set()) if a.address == seed]


def test_the_day_is_spread_over_the_sending_hours_and_restarts_never_send_it_twice(lab, lab_stack, history):
    stack = lab_stack(sendFromHour=8, sendUntilHour=18, replyShare=0)
    anna, seed, accounts = _anna_and_seed(stack)
    sent = []
    for hour in (7, 10, 13, 18, 22):
        clock = Clock(START, hour)   # a new worker each time: the process restarted
        w = Worker(stack.settings, accounts, WarmupStore(history, clock), clock=clock, rng=random.Random(hour),
                   sleep=lambda s: None, timeout=10)
        sent.append(w.tick().sent)
    assert sent == [0, 2, 1, 3, 0]   # due by 10:00 is 20% of 6, by 13:00 half, by 18:00 all of it
    lab.queue_empty()
    assert lab.count(seed, "INBOX") == 6


def test_two_workers_at_once_share_one_cap(lab, lab_stack, tmp_path):
    stack = lab_stack(replyShare=0)
    anna, seed, accounts = _anna_and_seed(stack)
    path = str(tmp_path / "shared.sqlite")
    History(path)
    reports = []
    barrier = threading.Barrier(2)

    def run(n):
        clock = Clock()
        w = Worker(stack.settings, accounts, WarmupStore(History(path), clock), clock=clock, rng=random.Random(n),
                   sleep=lambda s: None, timeout=10)
        barrier.wait()
        reports.append(w.tick())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.sent for r in reports) == 6
    lab.queue_empty()
    assert lab.count(seed, "INBOX") == 6


def _run_child(spec, tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "tests.warmup.worker_child", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_a_worker_killed_mid_batch_never_makes_the_day_exceed_its_cap(lab, lab_stack, tmp_path):
    stack = lab_stack(replyShare=0)
    anna, seed, accounts = _anna_and_seed(stack)
    path = str(tmp_path / "history.sqlite")
    spec = {"config": stack.raw, "rows": stack.rows({anna}), "seeds": [seed], "history": path,
            "now": at(START).isoformat()}
    # Killed right after the 2nd message was accepted, before it was marked sent ...
    _run_child({**spec, "kill": ["after", 2]}, tmp_path, "first")
    lab.queue_empty()
    # ... then, after a restart (which first finds the message marked sent at the seed), killed after
    # reserving a message and before sending it.
    _run_child({**spec, "kill": ["before", 1]}, tmp_path, "second")
    store = WarmupStore(History(path))
    assert _statuses(store) == {"sent": 1, "reserved": 2}
    clock = Clock()
    w = Worker(stack.settings, accounts, WarmupStore(History(path), clock), clock=clock, sleep=lambda s: None,
               timeout=10)
    first = w.tick()
    assert (first.sent, first.received) == (3, 0)   # 6 minus the three counted reservations
    lab.queue_empty()
    assert lab.count(seed, "INBOX") == 5  # one reservation died unsent: a crash may cost a send, never add one
    again = w.tick()
    assert (again.sent, again.received) == (0, 3)   # the three just sent
    # Later, the dead reservations are settled as uncertain and looked for like any sent message: the one
    # that went out before the crash is found; the one that never left is not.
    clock.now += _dt.timedelta(minutes=20)
    report = w.tick()
    assert (report.sent, report.received) == (0, 1)
    assert _statuses(store) == {"sent": 4, "uncertain": 2}
    assert store.count("sender", anna, START) == 6
