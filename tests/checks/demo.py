"""Two weeks of history for the status page, made by real check runs against loopback servers.

Day by day the DNS and blacklist checks run against the loopback zone while listings come and go
(SpamCop on ip1 for two days, Spamhaus ZEN on ip1 from day 10, UCEPROTECT level 3 on ip0, SURBL on a
domain, a DMARC record edited by hand); the last run adds the authentication and SMTP/TLS checks
against loopback mail servers whose certificate expires in 21 days. Warmup sends and placement and
the latest backup are recorded under the names of ``coldmail.ops.signals``, as those capabilities do.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from coldmail import model as cm
from coldmail.checks import runner
from coldmail.ops.history import History, Observation
from coldmail.ops.signals import BACKUP_LATEST, WARMUP_PLACEMENT, WARMUP_SENT
from tests.checks.certs import TestCA
from tests.checks.conftest import PTRS, dkim_txt, make_ctx, outputs_for, serve_stack, with_checks
from tests.checks.mailservers import Greeter, MailEndpoints

LOOPBACK = {0: "127.0.0.1", 1: "127.0.0.11", 2: "127.0.0.12", 3: "127.0.0.13"}
DAYS = 14


def rev(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def build(zone, stack: cm.StackConfig, mailcow, tmp: Path, now: dt.datetime) -> tuple[History, object]:
    """The history and the targets of the demo stack, the last run at ``now``."""
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    history = History(str(tmp / "history.sqlite"))
    serve_stack(zone, stack, LOOPBACK, dkim_txt(mailcow))
    outputs = outputs_for(LOOPBACK)
    start = now - dt.timedelta(days=DAYS - 1, hours=1)
    events = {
        4: lambda: zone.add(f"{rev(LOOPBACK[1])}.bl.spamcop.net", "A", "127.0.0.2"),
        6: lambda: zone.remove(f"{rev(LOOPBACK[1])}.bl.spamcop.net"),
        10: lambda: zone.add(f"{rev(LOOPBACK[1])}.zen.spamhaus.org", "A", "127.0.0.2"),
        11: lambda: zone.add("acme-gamma.co.multi.surbl.org", "A", "127.0.0.8"),
        12: lambda: (zone.add(f"{rev(LOOPBACK[0])}.dnsbl-3.uceprotect.net", "A", "127.0.0.2"),
                     zone.set("_dmarc.acme-beta.io", "TXT", "v=DMARC1; p=none")),
    }
    for day in range(DAYS):
        at = start + dt.timedelta(days=day)
        events.get(day, lambda: None)()
        runner.run(make_ctx(zone, stack, mailcow, outputs=outputs, now=lambda at=at: at), ["dns", "blacklist"],
                   history=history)
        cap = min(stack.warmup.max_per_ip_per_day, stack.warmup.start_per_ip_per_day * 2 ** (day // 7))
        history.record([Observation(WARMUP_SENT, f"ip:{LOOPBACK[n]}", "ok", f"sent {cap - 3} of {cap}", "warmup",
                                    value=cap - 3, data={"cap": cap, "day": at.date().isoformat()})
                        for n in (1, 2)], at=at + dt.timedelta(hours=8))

    ca = TestCA(tmp)
    endpoints = MailEndpoints(*ca.leaf(PTRS[0], days=21.5))
    relays = {n: Greeter(PTRS[n]) for n in PTRS}
    sink = Greeter("sink.test")
    try:
        ctx = make_ctx(zone, with_checks(stack, outbound_probe=sink.endpoint), mailcow, outputs=outputs,
                       now=lambda: now, ports=endpoints.ports, cafile=ca.cafile,
                       relays={("mx1", n): g.endpoint for n, g in relays.items()})
        runner.run(ctx, ["all"], history=history)
    finally:
        endpoints.close()
        sink.close()
        for g in relays.values():
            g.close()
    history.record([
        Observation(WARMUP_PLACEMENT, f"ip:{LOOPBACK[2]}", "warn", "inbox 72% at gmail", "warmup", value=0.72,
                    data={"provider": "gmail"}),
        Observation(BACKUP_LATEST, "server:mx1", "ok", "latest backup 6 h old", "backup", value=6.0),
    ], at=now)
    return history, ctx.targets
