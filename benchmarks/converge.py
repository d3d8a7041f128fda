"""Converge benchmark: the real providers, over the SDK's gRPC server, against the Mailcow emulator.

    .venv/bin/python benchmarks/converge.py [--domains 170] [--mailboxes 500] [--write-latency 0.05]
                                            [--read-latency 0.006] [--parallel 4] [--pairs 100]

The emulator charges what the genuine Mailcow was measured to cost: 50 ms per write (a bcrypt-hashing
``add/mailbox`` took 53 ms) and 6 ms per read (5.8 ms). The script plays the engine at the parallelism
``coldmail up`` uses: one ``python -m pulumi.dynamic`` process, every domain's chain Domain → Dkim →
MailboxSet run ``--parallel`` at a time, each resource a Check → Create, or Check → Diff → Update step.
The stack is built from a config through the program's own schema and sizing (``tests/support/mail_stack``).

1. from empty: wall time against the lower bound ``necessary writes × write latency ÷ 4`` (4 = the
   providers' write bound per Mailcow; 840 writes for 170 domains and 500 mailboxes); target ≤ 1.3×;
2. unchanged: Check + Diff of every resource; target 0 API calls;
3. one more mailbox in one domain, the whole stack stepped again: target 1 write and 0 reads;
4. ``--pairs`` seeded random edit pairs (the property test's), each from empty then edited in one ``up`` on
   a fresh emulator through the same provider process, with no latency (they count calls, not time):
   target every pair converged with nothing left to do.

The last two lines are machine-readable:
``edits: pairs=P converged=C calls_per_edit_max=M`` and
``converge: from_empty_ratio=R noop_calls=N plus_one_writes=W plus_one_reads=R2``.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from coldmail.ops.automation import DEFAULT_PARALLEL  # noqa: E402
from dynamic_providers.client import WRITE_CONCURRENCY  # noqa: E402
from tests.support.grpc_harness import HarnessSession  # noqa: E402
from tests.support.mail_stack import (API_KEY, MailStack, assert_converged, mailbox_specs, random_pair,  # noqa: E402
                                      start_session)
from tests.support.mailcow_emulator import MailcowEmulator  # noqa: E402


def spread(domains: int, mailboxes: int) -> list[int]:
    """Mailboxes per domain, as even as possible (500 over 170: 160 × 3 and 10 × 2)."""
    base, extra = divmod(mailboxes, domains)
    return [base + (1 if i < extra else 0) for i in range(domains)]


def timed(fn: Callable[[], object]) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def by_kind(mc: MailcowEmulator) -> str:
    counts = mc.counts()
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts["by_endpoint"].items()))
    return f"{counts['total']} calls ({counts['reads']} reads, {counts['writes']} writes: {parts or '-'})"


def run_edits(session: HarnessSession, pairs: int, parallel: int) -> tuple[int, int, list[int]]:
    """The property test's edit pairs: (pairs run, pairs converged with nothing left, the seeds that did not)."""
    converged, calls_max, failed = 0, 0, []
    for seed in range(pairs):
        a, b, _ = random_pair(seed)
        with MailcowEmulator(api_key=API_KEY) as mc:
            stack = MailStack(session.harness, mc.url, parallel=parallel, raw=a)
            try:
                stack.up()
                mc.reset_counters()
                stack.set_config(b)
                stack.up()
                calls_max = max(calls_max, mc.counts()["total"])
                assert_converged(mc, stack)
                mc.reset_counters()
                left = [k for k, per in stack.preview().items() if any(d["changes"] for d in per.values())]
                if left or mc.calls:
                    raise AssertionError(f"a preview after the edit still changes {left}")
                converged += 1
            except Exception as exc:  # noqa: BLE001 - every failure is reported with its seed
                failed.append(seed)
                print(f"  edit pair seed {seed} did not converge: {str(exc).splitlines()[0][:200]}")
    return converged, calls_max, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=170)
    ap.add_argument("--mailboxes", type=int, default=500)
    ap.add_argument("--write-latency", type=float, default=0.05, help="seconds charged per Mailcow write")
    ap.add_argument("--read-latency", type=float, default=0.006, help="seconds charged per Mailcow read")
    ap.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL,
                    help="resource steps in flight, as `coldmail up --parallel`")
    ap.add_argument("--pairs", type=int, default=100, help="random edit pairs to run")
    args = ap.parse_args(argv)

    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    mc = MailcowEmulator(api_key=API_KEY, write_latency=args.write_latency, read_latency=args.read_latency).start()
    session = start_session()
    try:
        stack = MailStack(session.harness, mc.url, parallel=args.parallel)
        names = [f"bench{i:03d}-example.test" for i in range(args.domains)]  # a zone each, as real domains
        for d, n in zip(names, spread(args.domains, args.mailboxes)):
            stack.set_domain(d, mailbox_specs(d, n))

        # 1. From empty.
        wall = timed(stack.up)
        assert_converged(mc, stack)
        counts = mc.counts()
        necessary = 2 * args.domains + args.mailboxes  # add/domain + add/dkim per domain, add/mailbox each
        bound = necessary * args.write_latency / WRITE_CONCURRENCY
        ratio = wall / bound if bound else float("inf")
        print(f"from empty: {args.domains} domains, {args.mailboxes} mailboxes in {wall:.2f} s at parallel "
              f"{args.parallel}; {by_kind(mc)}")
        print(f"  lower bound {necessary} writes x {args.write_latency * 1000:.0f} ms / {WRITE_CONCURRENCY} = "
              f"{bound:.2f} s; ratio {ratio:.2f} (target <= 1.30); extra writes {counts['writes'] - necessary}")

        # 2. Unchanged: the engine runs Check + Diff and, with no change, nothing else.
        mc.reset_counters()
        wall_noop = timed(stack.up)
        noop_calls = mc.counts()["total"]
        print(f"unchanged: {wall_noop:.2f} s; {by_kind(mc)} (target 0 calls)")

        # 3. One more mailbox in one domain, the whole stack stepped again.
        mc.reset_counters()
        target = names[len(names) // 2]
        current = len(stack.desired[target]["mailboxes"])
        stack.set_domain(target, mailbox_specs(target, current + 1))
        wall_one = timed(stack.up)
        assert_converged(mc, stack)
        c = mc.counts()
        print(f"+1 mailbox: {wall_one:.2f} s; {by_kind(mc)} (target 1 write, 0 reads)")

        # 4. Random edit pairs through the same provider process.
        started = time.monotonic()
        converged, calls_max, failed = run_edits(session, args.pairs, args.parallel)
        print(f"edit pairs: {args.pairs} in {time.monotonic() - started:.1f} s; failed seeds {failed or '-'}")

        ok = (ratio <= 1.3 and noop_calls == 0 and c["writes"] == 1 and c["reads"] == 0
              and args.pairs >= 100 and converged == args.pairs)
        if not ok:
            print("TARGET MISSED", file=sys.stderr)
        print(f"edits: pairs={args.pairs} converged={converged} calls_per_edit_max={calls_max}")
        print(f"converge: from_empty_ratio={ratio:.2f} noop_calls={noop_calls} "
              f"plus_one_writes={c['writes']} plus_one_reads={c['reads']}")
        return 0 if ok else 1
    finally:
        session.close()
        mc.stop()


if __name__ == "__main__":
    sys.exit(main())
