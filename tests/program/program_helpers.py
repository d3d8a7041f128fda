"""Stack configs and whole-program runs of ``__main__.py`` for the program tests, and the run's DNS
records served on loopback, so that independent resolvers (pyspf, checkdmarc, dkimpy) can judge them."""

import copy
import os
from typing import Any, Optional

import dns.nameserver
import dns.resolver
from dnslib import RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from coldmail import model as cm
from coldmail.model import tokens
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops.mock_engine import ProgramRun, run_program
from tests.support.stacks import ADMIN_CIDR, SSH_PUBLIC_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(ROOT, "__main__.py")
PROD = os.path.join(ROOT, "Pulumi.prod.yaml")

# Obviously fake secrets: the tests look for them everywhere they must not be.
FAKE_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-ONLY-FAKE-SSH-KEY-NOT-A-REAL-KEY\n-----END OPENSSH PRIVATE KEY-----\n"
FAKE_API_KEYS = ["TEST-FAKE-MAILCOW-API-KEY-0000", "TEST-FAKE-MAILCOW-API-KEY-1111", "TEST-FAKE-MAILCOW-API-KEY-2222"]

FIRST = ["Anna", "Jonas", "Mia", "Lukas", "Lea", "Felix", "Emma", "Paul"]
LAST = ["Berg", "Schulz", "Hoffmann", "Wagner", "Becker", "Koch"]


def with_secrets(raw: dict) -> dict:
    """The raw config plus the secrets ``pulumi config set --secret`` would add."""
    raw = copy.deepcopy(raw)
    for i, server in enumerate(raw["servers"]):
        server["mailcowApiKey"] = FAKE_API_KEYS[i]
    raw["sshPrivateKey"] = FAKE_SSH_KEY
    return raw


def engine_config(raw: dict) -> dict:
    return {f"coldmail:{k}": v for k, v in raw.items()}


def run_main(raw: dict):
    """Run ``__main__.py`` on a raw config (keys without the namespace), with every secret marked secret."""
    return run_program(MAIN, config=engine_config(raw),
                       secret_keys=["coldmail:sshPrivateKey", "coldmail:servers"])


def prod_raw() -> dict:
    return with_secrets(raw_from_stack_file(PROD))


def big_raw() -> dict:
    """3 servers, 60 domains, 200 mailboxes: pattern and explicit mailboxes, shared zones, configured zone ids."""
    servers = []
    for n, fips in ((1, 3), (2, 2), (3, 0)):
        s = {"name": f"mx{n}", "hostname": f"mx{n}.ops-example.com", "floatingIps": fips, "serverType": "cx52",
             "sshPublicKey": SSH_PUBLIC_KEY, "adminCidrs": [ADMIN_CIDR]}
        if n == 2:
            s["ipv6"] = False
        servers.append(s)
    domains = []
    for i in range(60):
        server = (1, 2, 3)[i % 3]
        fips = {1: 3, 2: 2, 3: 0}[server]
        # Domains 0..19 get 4 mailboxes, the other 40 get 3: 200 in all.
        count = 4 if i < 20 else 3
        name = f"outreach-{i:02d}-example.com"
        d: dict = {"name": name, "server": f"mx{server}", "ip": i % (fips + 1)}
        if i % 10 == 5:
            # A subdomain sharing its parent's zone: one zone lookup for both.
            d["name"] = f"mail.outreach-{i - 1:02d}-example.com"
        if i % 10 == 7:
            d["zoneId"] = f"{i:032x}"
        if i % 4 == 0:
            d["mailboxes"] = [{"localPart": f"{FIRST[k % len(FIRST)].lower()}.{LAST[(i + k) % len(LAST)].lower()}",
                               "name": f"{FIRST[k % len(FIRST)]} {LAST[(i + k) % len(LAST)]}"}
                              for k in range(count)]
        else:
            d["mailboxes"] = {"count": count, "pattern": "{first}.{last}{n}" if i % 2 else "{f}{last}"}
        if i % 6 == 1:
            d["dmarcPhase"] = "quarantine"
        domains.append(d)
    return with_secrets({
        "servers": servers, "domains": domains,
        "names": {"firstNames": FIRST, "lastNames": LAST},
        "dmarc": {"phase": "none", "rua": "dmarc@ops-example.com"},
        "dkim": {"selector": "s2026", "keySize": 2048},
        "warmup": {"maxPerIpPerDay": 300, "maxPerMailboxPerDay": 40},
        "dns": {"ttl": 600, "spfAll": "~all", "mtaSts": True, "tlsRpt": True, "tlsRptRua": "tls@ops-example.com"},
        "limits": {"maxMailboxesPerDomain": 5, "mailboxHeadroom": 1},
    })


def zone_line(inputs: dict[str, Any]) -> str:
    """A registered Cloudflare record as a zone-file line (names absolute, SRV from its ``data``)."""
    name, rtype, ttl = inputs["name"] + ".", inputs["type"], int(inputs["ttl"])
    content = inputs.get("content")
    if rtype == "MX":
        content = f"{int(inputs['priority'])} {content}."
    elif rtype == "CNAME":
        content = f"{content}."
    elif rtype == "SRV":
        d = inputs["data"]
        content = f"{int(d['priority'])} {int(d['weight'])} {int(d['port'])} {d['target']}."
    return f"{name} {ttl} IN {rtype} {content}"


class PlannedDns(BaseResolver):
    """Every Cloudflare record of a run, answered over UDP on 127.0.0.1 with the contents parsed by
    dnslib's zone-file reader: what a receiving mail server resolves once ``up`` has run."""

    def __init__(self, run: ProgramRun) -> None:
        self.answers: dict[tuple[str, int], list[RR]] = {}
        for r in run.of_type(tokens.DNS_RECORD):
            for rr in RR.fromZone(zone_line(r.inputs)):
                self.answers.setdefault((str(rr.rname).lower(), rr.rtype), []).append(rr)
        self.names = {name for name, _ in self.answers}
        self.server = DNSServer(self, address="127.0.0.1", port=0, logger=DNSLogger(logf=lambda _: None))
        self.server.start_thread()
        self.port = self.server.server.server_address[1]

    def _wildcard(self, qname: str) -> Optional[str]:
        """The ``*.`` name that answers for ``qname`` (RFC 4592), as Cloudflare serves wildcards: the nearest
        ancestor's wildcard, unless a nearer ancestor exists in its own right."""
        labels = qname.rstrip(".").split(".")
        for i in range(1, len(labels)):
            parent = ".".join(labels[i:]) + "."
            if "*." + parent in self.names:
                return "*." + parent
            if parent in self.names:
                return None
        return None

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower()
        source = qname if qname in self.names else self._wildcard(qname)
        for rr in self.answers.get((source, request.q.qtype), []) if source else []:
            reply.add_answer(RR(request.q.qname, rr.rtype, rr.rclass, rr.ttl, rr.rdata))
        if source is None:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def resolver(self) -> dns.resolver.Resolver:
        """A dnspython resolver that asks only this server."""
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", self.port)]
        r.lifetime = 2.0
        return r

    def strings(self, name: str, rtype: str = "TXT") -> list[bytes]:
        """The TXT character-strings of ``name`` as a resolver receives them, one record joined per entry."""
        answer = self.resolver().resolve(name, rtype, raise_on_no_answer=False)
        return [b"".join(rd.strings) for rd in answer]

    def close(self) -> None:
        self.server.stop()


class Loaded:
    """A program run together with the validated config it ran on."""

    def __init__(self, raw: dict, name: str = ""):
        self.name = name
        self.raw = raw
        self.stack = cm.load(raw)
        self.run = run_main(raw)
        self._dns: Optional[PlannedDns] = None

    @property
    def dns(self) -> PlannedDns:
        """The run's records on a loopback DNS server, started on first use."""
        if self._dns is None:
            self._dns = PlannedDns(self.run)
        return self._dns

    def close(self) -> None:
        if self._dns is not None:
            self._dns.close()
