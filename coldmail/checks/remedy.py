"""Remediation proposed, never applied: move the domains of a listed IP to a clean IP of the same server.

For every sending IP that a gating blacklist lists, the proposal names the domains that send from it
and gives, per domain, the exact ``coldmail domain move D --ip N`` edit (SPF and relayhost follow the
IP). Targets are the server's other IPs that every gating list answered "not listed" for in the same
run: standby IPs without domains first, then the least loaded. An IP with an unknown answer is not
clean. Nothing moves until the user or an agent runs the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from coldmail.ops.history import FAIL, OK, Observation
from coldmail.ops.signals import BLACKLIST, family

from .blacklist import LISTS
from .targets import IpTarget, Targets


@dataclass(frozen=True)
class Move:
    domain: str
    to_index: int
    to_address: Optional[str]
    command: str


@dataclass(frozen=True)
class Proposal:
    ip: IpTarget
    lists: tuple[str, ...]
    moves: tuple[Move, ...]
    note: str

    def to_dict(self) -> dict:
        return {"ip": self.ip.address, "label": self.ip.label, "lists": list(self.lists),
                "domains": list(self.ip.domains), "note": self.note,
                "moves": [{"domain": m.domain, "to_index": m.to_index, "to_address": m.to_address,
                           "command": m.command} for m in self.moves]}

    def lines(self) -> list[str]:
        head = f"{self.ip.address} ({self.ip.label}) is listed on {', '.join(self.lists)}"
        if not self.moves:
            return [f"{head}: {self.note}"]
        return [f"{head}; proposed:"] + [f"  {m.command}" for m in self.moves]


def _gating(o: Observation) -> bool:
    bl = LISTS.get(o.check)
    return bl is not None and bl.gating


def propose(stack_name: str, targets: Targets, observations: Iterable[Observation]) -> list[Proposal]:
    """A proposal per listed IP of this run's (or the history's current) blacklist observations."""
    by_subject: dict[str, list[Observation]] = {}
    for o in observations:
        if family(o.check) == BLACKLIST and _gating(o):
            by_subject.setdefault(o.subject, []).append(o)
    proposals = []
    for server in targets.servers:
        clean = [ip for ip in server.ips if ip.address and by_subject.get(ip.subject)
                 and all(o.status == OK for o in by_subject[ip.subject])]
        load = {ip.index: len(ip.domains) for ip in clean}
        for ip in server.ips:
            listed = [LISTS[o.check].name for o in by_subject.get(ip.subject, []) if o.status == FAIL]
            if not listed:
                continue
            if not ip.domains:
                proposals.append(Proposal(ip, tuple(listed), (), "no domain sends from it; nothing to move"))
                continue
            if not clean:
                proposals.append(Proposal(ip, tuple(listed), (), f"{server.name} has no clean IP to move to: add a "
                                          "floating IP (servers[].floatingIps) and run the checks again"))
                continue
            moves = []
            for domain in ip.domains:
                best = min(clean, key=lambda c: (load[c.index], c.index))
                load[best.index] += 1
                moves.append(Move(domain, best.index, best.address,
                                  f"coldmail domain move {domain} --ip {best.index} --stack {stack_name}"))
            proposals.append(Proposal(ip, tuple(listed), tuple(moves),
                                      "moves change the domain's sending IP, SPF and relayhost; preview first"))
    return proposals
