"""Plan benchmark: ``coldmail plan`` on a 170-domain / 500-mailbox / 3-server stack, against a floor.

    .venv/bin/python benchmarks/plan.py [--domains 170] [--mailboxes 500] [--rounds 3]

The plan is what ``coldmail plan --stack big`` does: read and validate the stack file, run the real
``__main__.py`` under the recording mock engine, collect the plan and render it as text and as JSON.

The floor is the cost no plan can avoid: the same resources (same types, names and inputs, through the
same resource classes) registered flat under a bare ``pulumi.runtime.set_mocks``, with no component
logic, no Outputs between resources, no recording and no plan. ``ratio = plan / floor``; target
``<= 1.2``. The mock engine runs the program with its own runtime settings
(``mock_engine.engine_runtime``: no source positions, the cyclic garbage collector paused), which the
bare floor does not have; so the script also times the floor under those same settings and prints that
ratio, which counts only what the components, the recording and the plan add.

Each measurement runs in a fresh process with its imports done before the clock starts; plan and floor
alternate for ``--rounds`` rounds and the fastest of each counts. Times are the process's CPU seconds
(user + system, every thread): other jobs on a shared machine stretch wall time, not CPU time. Wall
seconds and the plan's peak memory (max RSS) are printed too. The last line is machine-readable:
``plan: domains=170 resources=N seconds=S floor_seconds=F ratio=R``. Exit status 1 if the target is
missed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pickle
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET = 1.2
STACK = "big"
SSH_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBENCHONLYBENCHONLYBENCHONLYBENCHONLY bench@example"
FIRST = ["Anna", "Jonas", "Mia", "Lukas", "Lea", "Felix", "Emma", "Paul"]
LAST = ["Berg", "Schulz", "Hoffmann", "Wagner", "Becker", "Koch"]


def spread(domains: int, mailboxes: int) -> list[int]:
    """Mailboxes per domain, as even as possible (500 over 170: 160 x 3 and 10 x 2)."""
    base, extra = divmod(mailboxes, domains)
    return [base + (1 if i < extra else 0) for i in range(domains)]


def stack_config(domains: int, mailboxes: int, servers: int) -> dict[str, Any]:
    """A stack file's ``config:``: servers with 3 floating IPs each, domains spread over every sending IP,
    generated and explicit mailboxes, MTA-STS and TLS-RPT on (the most records per domain)."""
    srv = [{"name": f"mx{n}", "hostname": f"mx{n}.bench-ops.com", "serverType": "cx52", "floatingIps": 3,
            "sshPublicKey": SSH_PUB, "adminCidrs": ["203.0.113.0/28"]} for n in range(1, servers + 1)]
    doms = []
    for i, count in enumerate(spread(domains, mailboxes)):
        d: dict[str, Any] = {"name": f"outreach-{i:03d}-bench.com", "server": f"mx{i % servers + 1}",
                             "ip": (i // servers) % 4, "mailboxQuotaMb": 512}
        if i % 4 == 0:
            d["mailboxes"] = [{"localPart": f"{FIRST[k % len(FIRST)].lower()}.{LAST[(i + k) % len(LAST)].lower()}",
                               "name": f"{FIRST[k % len(FIRST)]} {LAST[(i + k) % len(LAST)]}"} for k in range(count)]
        else:
            d["mailboxes"] = {"count": count, "pattern": "{first}.{last}{n}" if i % 2 else "{f}{last}"}
        if i % 6 == 1:
            d["dmarcPhase"] = "quarantine"
        doms.append(d)
    return {"coldmail:servers": srv, "coldmail:domains": doms,
            "coldmail:names": {"firstNames": FIRST, "lastNames": LAST},
            "coldmail:dmarc": {"phase": "none", "rua": "dmarc@bench-ops.com"},
            "coldmail:dns": {"mtaSts": True, "tlsRpt": True},
            "coldmail:limits": {"mailboxHeadroom": 1}}


# --------------------------------------------------------------------------------------------
# The two measurements, each in its own process
# --------------------------------------------------------------------------------------------

def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    return {"wall": time.perf_counter() - start[0], "cpu": time.process_time() - start[1]}


def measure_plan(config_file: str, dump: str) -> dict[str, Any]:
    import components  # noqa: F401 - the program's imports, loaded before the clock starts
    from coldmail.cli import plan_text
    from coldmail.ops import plan as plan_ops

    start = _clock()
    report = plan_ops.build(str(ROOT), STACK, config_file)
    text = plan_text.render(report.result)
    document = json.dumps(report.result, indent=2, ensure_ascii=False)
    took = _since(start)
    if report.error is not None:
        raise SystemExit(f"the plan failed: {report.error.message}")
    with open(dump, "wb") as fh:
        pickle.dump([(r.type, r.name, r.custom, r.inputs) for r in report.run.resources], fh)
    return {**took, "resources": len(report.run.resources), "domains": len(report.result["domains"]),
            "text_lines": text.count("\n") + 1, "json_bytes": len(document),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _classes() -> dict[str, Any]:
    import pulumi_cloudflare as cloudflare
    import pulumi_command as command
    import pulumi_docker as docker
    import pulumi_hcloud as hcloud
    import pulumi_random as random
    import pulumi_tls as tls

    from coldmail.model import tokens as t
    from dynamic_providers.dkim import MailcowDkim
    from dynamic_providers.domain import MailcowDomain
    from dynamic_providers.mailbox_set import MailcowMailboxSet
    from dynamic_providers.mta_sts import MailcowMtaSts
    from dynamic_providers.relayhost import MailcowRelayhost

    return {t.DNS_RECORD: cloudflare.DnsRecord, t.HCLOUD_SERVER: hcloud.Server, t.FLOATING_IP: hcloud.FloatingIp,
            t.FLOATING_IP_ASSIGNMENT: hcloud.FloatingIpAssignment, t.PRIMARY_IP: hcloud.PrimaryIp,
            t.RDNS: hcloud.Rdns, t.FIREWALL: hcloud.Firewall, t.SSH_KEY: hcloud.SshKey,
            t.REMOTE_COMMAND: command.remote.Command, t.COPY_TO_REMOTE: command.remote.CopyToRemote,
            t.RANDOM_PASSWORD: random.RandomPassword, t.TLS_PRIVATE_KEY: tls.PrivateKey,
            t.MAILCOW_DOMAIN: MailcowDomain, t.MAILCOW_DKIM: MailcowDkim, t.MAILCOW_MAILBOX_SET: MailcowMailboxSet,
            t.MAILCOW_RELAYHOST: MailcowRelayhost, t.MAILCOW_MTA_STS: MailcowMtaSts, t.DOCKER_PROVIDER: docker.Provider,
            t.DOCKER_IMAGE: docker.Image, t.DOCKER_VOLUME: docker.Volume, t.DOCKER_CONTAINER: docker.Container}


def measure_floor(dump: str, engine_settings: bool = False) -> dict[str, Any]:
    import asyncio
    import typing

    import pulumi

    from coldmail.ops.mock_engine import engine_runtime

    with open(dump, "rb") as fh:
        recorded = pickle.load(fh)
    classes = _classes()

    class Echo(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return args.name, dict(args.inputs)

        def call(self, args):
            return {}

    def register(typ: str, name: str, custom: bool, inputs: dict[str, Any]) -> pulumi.Resource:
        inputs = {k: v for k, v in inputs.items() if not k.startswith("__")}
        if not custom:
            return pulumi.ComponentResource(typ, name)
        cls = classes[typ]
        args_type = typing.get_type_hints(cls.__init__).get("args")
        if dataclasses.is_dataclass(args_type):
            fields = {f.name for f in dataclasses.fields(args_type)}
            return cls(name, args_type(**{k: v for k, v in inputs.items() if k in fields}))
        return cls(name, **{_snake(k): v for k, v in inputs.items()})

    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(Echo(), project="coldmail", stack=STACK)

    @pulumi.runtime.test
    def program():
        made = [register(*r) for r in recorded]
        return pulumi.Output.all(*[r.urn for r in made])

    start = _clock()
    with engine_runtime() if engine_settings else contextlib.nullcontext():
        program()
    return {**_since(start), "resources": len(recorded)}


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------

def _child(*argv: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *argv], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=170)
    ap.add_argument("--mailboxes", type=int, default=500)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=("plan", "floor", "floor-engine"), help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "plan":
        print(json.dumps(measure_plan(args.config, args.dump)))
        return 0
    if args.child:
        print(json.dumps(measure_floor(args.dump, engine_settings=args.child == "floor-engine")))
        return 0

    import yaml

    with tempfile.TemporaryDirectory(prefix="coldmail-bench-") as tmp:
        config_file = os.path.join(tmp, f"Pulumi.{STACK}.yaml")
        with open(config_file, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"config": stack_config(args.domains, args.mailboxes, args.servers)}, fh)
        dump = os.path.join(tmp, "resources.pickle")
        plans, floors, tuned = [], [], []
        for k in range(args.rounds):
            plans.append(_child("--child", "plan", "--config", config_file, "--dump", dump))
            floors.append(_child("--child", "floor", "--dump", dump))
            tuned.append(_child("--child", "floor-engine", "--dump", dump))
            print(f"round {k + 1}: plan {plans[-1]['cpu']:.1f} s cpu ({plans[-1]['wall']:.1f} s wall), "
                  f"floor {floors[-1]['cpu']:.1f} s cpu ({floors[-1]['wall']:.1f} s wall), floor with the "
                  f"engine's settings {tuned[-1]['cpu']:.1f} s cpu ({tuned[-1]['wall']:.1f} s wall)", flush=True)
    plan = min(plans, key=lambda m: m["cpu"])
    floor = min(floors, key=lambda m: m["cpu"])
    floor_engine = min(tuned, key=lambda m: m["cpu"])
    ratio = plan["cpu"] / floor["cpu"]
    print(f"stack: {plan['domains']} domains, {args.mailboxes} mailboxes, {args.servers} servers, "
          f"{plan['resources']} resources; text report {plan['text_lines']} lines, JSON {plan['json_bytes']} bytes")
    print(f"plan: {plan['cpu']:.2f} s cpu, {min(p['wall'] for p in plans):.2f} s wall, "
          f"peak memory {max(p['max_rss_mb'] for p in plans):.0f} MB (max RSS)")
    print(f"floor: {floor['cpu']:.2f} s cpu, {min(f['wall'] for f in floors):.2f} s wall; ratio {ratio:.2f} "
          f"(target <= {TARGET})")
    print(f"floor with the engine's runtime settings: {floor_engine['cpu']:.2f} s cpu; "
          f"ratio {plan['cpu'] / floor_engine['cpu']:.2f} (what components, recording and plan add)")
    if ratio > TARGET:
        print("TARGET MISSED", file=sys.stderr)
    print(f"plan: domains={plan['domains']} resources={plan['resources']} seconds={plan['cpu']:.2f} "
          f"floor_seconds={floor['cpu']:.2f} ratio={ratio:.2f}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
