"""Stack configs and whole-program runs of ``__main__.py`` for the program tests."""

import copy
import os

from coldmail import model as cm
from coldmail.model.stackfile import raw_from_stack_file
from coldmail.ops.mock_engine import run_program

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(ROOT, "__main__.py")
PROD = os.path.join(ROOT, "Pulumi.prod.yaml")

# Obviously fake secrets: the tests look for them everywhere they must not be.
FAKE_SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-ONLY-FAKE-SSH-KEY-NOT-A-REAL-KEY\n-----END OPENSSH PRIVATE KEY-----\n"
FAKE_API_KEYS = ["TEST-FAKE-MAILCOW-API-KEY-0000", "TEST-FAKE-MAILCOW-API-KEY-1111", "TEST-FAKE-MAILCOW-API-KEY-2222"]
SSH_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTKEYTESTKEYTESTKEYTESTKEY test@example"

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
             "sshPublicKey": SSH_PUB, "adminCidrs": ["203.0.113.0/28"]}
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


class Loaded:
    """A program run together with the validated config it ran on."""

    def __init__(self, raw: dict):
        self.raw = raw
        self.stack = cm.load(raw)
        self.run = run_main(raw)
