"""Converge benchmark: the real providers, over the SDK's gRPC server, against the Mailcow emulator.

    .venv/bin/python -m benchmarks.converge [--domains 170] [--mailboxes 500] [--latency 0.05] [--parallel 16]

Each Mailcow write costs ``--latency`` seconds in the emulator (a bcrypt-hashing add is ~50 ms on a
real server). The script plays the engine: one ``python -m pulumi.dynamic`` process, every domain's
chain Domain → Dkim → MailboxSet submitted to a thread pool (the engine runs independent resources in
parallel), each resource a Check → Create, or Check → Diff → Update step. Three runs:

1. from empty: wall time against the lower bound ``necessary writes × latency ÷ 4`` (4 = the
   providers' cross-domain write bound); target ≤ 1.3×;
2. unchanged: Check + Diff of every resource; target 0 API calls;
3. one more mailbox in one domain: target 1 write and at most 1 read.

The last line is machine-readable:
``converge: from_empty_ratio=R noop_calls=N plus_one_writes=W plus_one_reads=R2``.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dynamic_providers.client import WRITE_CONCURRENCY  # noqa: E402
from tests.dynamic_providers.conftest import (API_KEY, MailStack, assert_converged, mailbox_specs,  # noqa: E402
                                              start_session)
from tests.support.mailcow_emulator import MailcowEmulator  # noqa: E402


def spread(domains: int, mailboxes: int) -> list[int]:
    """Mailboxes per domain, as even as possible (500 over 170: 160 × 3 and 10 × 2)."""
    base, extra = divmod(mailboxes, domains)
    return [base + (1 if i < extra else 0) for i in range(domains)]


def run(stack: MailStack, parallel: int, fn) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for f in [pool.submit(fn, d) for d in stack.desired]:
            f.result()
    return time.monotonic() - started


def by_kind(mc: MailcowEmulator) -> str:
    counts = mc.counts()
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts["by_endpoint"].items()))
    return f"{counts['total']} calls ({counts['reads']} reads, {counts['writes']} writes: {parts or '-'})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=170)
    ap.add_argument("--mailboxes", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every Mailcow write")
    ap.add_argument("--parallel", type=int, default=16, help="resource steps in flight, like `pulumi up --parallel`")
    args = ap.parse_args(argv)

    mc = MailcowEmulator(api_key=API_KEY, write_latency=args.latency).start()
    session = start_session()
    try:
        stack = MailStack(session.harness, mc.url)
        names = [f"bench{i:03d}.example.test" for i in range(args.domains)]
        for d, n in zip(names, spread(args.domains, args.mailboxes)):
            stack.set_domain(d, mailbox_specs(d, n))

        # 1. From empty.
        wall = run(stack, args.parallel, stack.up_domain)
        assert_converged(mc, stack)
        counts = mc.counts()
        necessary = 2 * args.domains + args.mailboxes  # add/domain + add/dkim per domain, add/mailbox each
        bound = necessary * args.latency / WRITE_CONCURRENCY
        ratio = wall / bound if bound else float("inf")
        print(f"from empty: {args.domains} domains, {args.mailboxes} mailboxes in {wall:.2f} s; "
              f"{by_kind(mc)}")
        print(f"  lower bound {necessary} writes x {args.latency * 1000:.0f} ms / {WRITE_CONCURRENCY} = {bound:.2f} s; "
              f"ratio {ratio:.2f} (target <= 1.30); extra writes {counts['writes'] - necessary}")

        # 2. Unchanged: the engine runs Check + Diff and, with no change, nothing else.
        mc.reset_counters()
        noop_ops: list[str] = []

        def step(d: str) -> None:
            noop_ops.extend(stack.up_domain(d).values())

        wall_noop = run(stack, args.parallel, step)
        noop_calls = mc.counts()["total"]
        print(f"unchanged: {wall_noop:.2f} s; {by_kind(mc)}; steps {sorted(set(noop_ops))} (target 0 calls)")

        # 3. One more mailbox in one domain, the whole stack stepped again.
        mc.reset_counters()
        target = names[len(names) // 2]
        current = len(stack.desired[target]["mailboxes"])
        stack.set_domain(target, mailbox_specs(target, current + 1))
        wall_one = run(stack, args.parallel, stack.up_domain)
        assert_converged(mc, stack)
        c = mc.counts()
        print(f"+1 mailbox: {wall_one:.2f} s; {by_kind(mc)} (target 1 write, <= 1 read)")

        ok = ratio <= 1.3 and noop_calls == 0 and c["writes"] == 1 and c["reads"] <= 1
        if not ok:
            print("TARGET MISSED", file=sys.stderr)
        print(f"converge: from_empty_ratio={ratio:.2f} noop_calls={noop_calls} "
              f"plus_one_writes={c['writes']} plus_one_reads={c['reads']}")
        return 0 if ok else 1
    finally:
        session.close()
        mc.stop()


if __name__ == "__main__":
    sys.exit(main())
