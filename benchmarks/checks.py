"""Blacklist benchmark: the real check against a DNS server on loopback that takes 50 ms per answer.

The DNS server (dnslib, as in the tests) runs in a process of its own, as a real resolver would.

    .venv/bin/python -m benchmarks.checks [--ips 5] [--domains 170] [--delay 0.05]

A stack of one server with 5 sending IPs and 170 domains is checked against the 8 IP lists and the 3
domain lists (550 questions), once with one question at a time and once with the configured bound
(``coldmail:checks.concurrency``, default 32). A few answers are listings and refusals, so the verdicts
compared are not all the same. Target: the concurrent run is at least 15x faster than the sequential
one, with identical verdicts. The last line is machine-readable:
``checks: speedup=X identical=true|false queries=N`` (N questions per run, counted by the server).
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from coldmail import model as cm  # noqa: E402
from coldmail.checks import CheckContext  # noqa: E402
from coldmail.checks.blacklist import DOMAIN_LISTS, IP_LISTS, check_blacklists  # noqa: E402
from tests.checks.dnszone import ZoneServer  # noqa: E402

TARGET = 15.0
SSH_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTKEYTESTKEYTESTKEYTESTKEY bench@example"


def bench_stack(ips: int, domains: int) -> tuple[cm.StackConfig, dict]:
    raw = {
        "servers": [{"name": "mx1", "hostname": "mx1.bench-ops.com", "floatingIps": ips - 1, "ipv6": False,
                     "serverType": "cx52", "sshPublicKey": SSH_PUB, "adminCidrs": ["203.0.113.0/28"]}],
        "domains": [{"name": f"bench-domain-{i:03d}.com", "ip": 1 + i % (ips - 1), "mailboxes": {"count": 1},
                     "mailboxQuotaMb": 256}
                    for i in range(domains)],
        "names": {"firstNames": ["Anna"], "lastNames": ["Berg"]},
        "dmarc": {"rua": "dmarc@bench-ops.com"},
        "limits": {"maxMailboxesPerDomain": 5},
    }
    addresses = [f"198.51.100.{10 + n}" for n in range(ips)]
    outputs = {"servers": {"mx1": {"ipv4_address": addresses[0], "floating_ips": [
        {"index": n, "ip": addresses[n], "ptr": f"mx1-ip{n}.bench-ops.com"} for n in range(1, ips)]}}}
    return cm.load(raw), outputs


def serve_answers(zone: ZoneServer, outputs: dict) -> None:
    """A listing, a Spamhaus refusal and a URIBL refusal among the clean answers."""
    first = outputs["servers"]["mx1"]["floating_ips"][0]["ip"]
    rev = ".".join(reversed(first.split(".")))
    zone.add(f"{rev}.zen.spamhaus.org", "A", "127.0.0.2")
    zone.add(f"{rev}.bl.spamcop.net", "A", "127.0.0.2")
    zone.add(f"{rev}.psbl.surriel.com", "A", "127.255.255.254")
    zone.add("bench-domain-007.com.dbl.spamhaus.org", "A", "127.0.1.2")
    zone.add("bench-domain-042.com.multi.uribl.com", "A", "127.0.0.1")
    zone.add("bench-domain-099.com.multi.surbl.org", "A", "127.0.0.255")


def _serve(conn, outputs: dict, delay: float) -> None:
    """The DNS server in a process of its own, as a real resolver is: it answers ``count`` and ``stop``."""
    with ZoneServer(delay=delay) as zone:
        serve_answers(zone, outputs)
        conn.send(zone.address)
        while True:
            command = conn.recv()
            if command == "stop":
                return
            conn.send(sum(zone.resolver.asked.values()))


class RemoteZone:
    def __init__(self, outputs: dict, delay: float) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(child, outputs, delay), daemon=True)
        self.process.start()
        self.address = self.conn.recv()

    def asked(self) -> int:
        self.conn.send("count")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


def timed(zone: RemoteZone, stack: cm.StackConfig, outputs: dict, concurrency: int) -> tuple[float, list, int]:
    limited = dataclasses.replace(stack, checks=dataclasses.replace(stack.checks, concurrency=concurrency,
                                                                     timeout=10.0))
    ctx = CheckContext.create("bench", limited, outputs, nameservers=[zone.address], env={})
    before = zone.asked()
    t0 = time.perf_counter()
    observations = check_blacklists(ctx)
    wall = time.perf_counter() - t0
    verdicts = sorted(json.dumps([o.check, o.subject, o.status, o.summary, o.data], sort_keys=True)
                      for o in observations)
    return wall, verdicts, zone.asked() - before


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ips", type=int, default=5)
    p.add_argument("--domains", type=int, default=170)
    p.add_argument("--delay", type=float, default=0.05, help="seconds added to every DNS answer")
    args = p.parse_args(argv)
    stack, outputs = bench_stack(args.ips, args.domains)
    expected = args.ips * len(IP_LISTS) + args.domains * len(DOMAIN_LISTS)
    print(f"checks benchmark: {args.ips} IPs x {len(IP_LISTS)} IP lists + {args.domains} domains x "
          f"{len(DOMAIN_LISTS)} domain lists = {expected} questions, {args.delay * 1000:.0f} ms per answer")
    zone = RemoteZone(outputs, args.delay)
    try:
        seq_wall, seq_verdicts, seq_queries = timed(zone, stack, outputs, 1)
        print(f"sequential (1 at a time): {seq_wall:.2f} s, {seq_queries} questions")
        bound = stack.checks.concurrency
        con_wall, con_verdicts, con_queries = timed(zone, stack, outputs, bound)
        print(f"concurrent ({bound} at a time): {con_wall:.2f} s, {con_queries} questions")
    finally:
        zone.stop()
    speedup = seq_wall / con_wall
    identical = seq_verdicts == con_verdicts and seq_queries == con_queries == expected
    listed = sum('"fail"' in v for v in con_verdicts)
    print(f"verdicts: {len(con_verdicts)} ({listed} listed); speedup {speedup:.1f}x, target >= {TARGET:g}x: "
          f"{'met' if speedup >= TARGET else 'MISSED'}")
    ok = speedup >= TARGET and identical
    if not ok:
        print("TARGET MISSED", file=sys.stderr)
    print(f"checks: speedup={speedup:.1f} identical={'true' if identical else 'false'} queries={con_queries}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
