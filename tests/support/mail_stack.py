"""The program's Mailcow resources for one server, driven through the provider gRPC server like the engine.

:class:`MailStack` holds a raw ``coldmail:*`` config (one server), loads it with the program's own schema
(``coldmail.model.load``) and derives every resource's inputs from that model as the components do: the
domain limits from ``StackConfig.domain_sizing``, the description, the DKIM selector, the relayhost per
sending IP, the mailbox list. ``up()`` plays ``pulumi up``: relayhosts first, then per domain
MailcowDomain → (MailcowDkim, MailcowMailboxSet) through ``DynamicResource.up`` (Check → Create, or
Check → Diff → Update/replace), ``parallel`` steps at a time, then the deletes of whatever left the config,
dependents first.

:func:`random_config` and :func:`mutate` make the random edit pairs the property test and the benchmark
run: grow and shrink mailbox sets, quotas up and down, domains removed down to one, a domain moved to
another sending IP, the DKIM selector changed, sending IPs added or removed.
"""

from __future__ import annotations

import copy
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from coldmail import model as cm
from coldmail.model import tokens
from coldmail.model.mailcow import stored_display_name
from coldmail.model.sizing import LIMIT_KEYS, planned_daily_sends
from components.relay import relayhost_address
from dynamic_providers import (MailcowDkimProvider, MailcowDomainProvider, MailcowMailboxSetProvider,
                               MailcowRelayhostProvider)
from tests.support import grpc_harness
from tests.support.grpc_harness import DynamicResource, ProviderHarness, Secret
from tests.support.mailcow_emulator import MailcowEmulator

#: Obviously fake; the emulator accepts it, nothing else would.
API_KEY = "FAKE-GRPC-TEST-KEY-0000-0000"
SERVER = "mx1"
HOSTNAME = "mail.emulator.test"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTONLYTESTONLYTESTONLYTESTONLY test@example"
KINDS = ("domain", "dkim", "mailboxes")
TYPES = {"domain": tokens.MAILCOW_DOMAIN, "dkim": tokens.MAILCOW_DKIM, "mailboxes": tokens.MAILCOW_MAILBOX_SET,
         "relayhost": tokens.MAILCOW_RELAYHOST}
PROVIDERS = {"domain": MailcowDomainProvider, "dkim": MailcowDkimProvider, "mailboxes": MailcowMailboxSetProvider,
             "relayhost": MailcowRelayhostProvider}


def servers_config(api_key: str = API_KEY, server: str = SERVER) -> dict:
    """The stack config the engine sends to Configure: ``coldmail:servers`` (a secret, as JSON)."""
    return {"coldmail:servers": [{"name": server, "hostname": HOSTNAME, "mailcowApiKey": api_key}]}


def start_session(api_key: str = API_KEY, **kw: Any) -> grpc_harness.HarnessSession:
    return grpc_harness.start(servers_config(api_key), secret_keys=["coldmail:servers"], **kw)


def mailbox_specs(domain: str, count: int, start: int = 0, quota_mb: int = 100) -> list[dict]:
    return [{"local_part": f"user{i:03d}", "name": f"User {i:03d}", "quota_mb": quota_mb, "active": True}
            for i in range(start, start + count)]


def fake_password(domain: str, local_part: str) -> str:
    return f"fake-pw-{local_part}-{domain.split('.')[0]}"


def base_config(floating_ips: int = 0) -> dict:
    """A valid raw config for one server and no domain yet (a big disk: quotas never hit the capacity check)."""
    return {"servers": [{"name": SERVER, "hostname": HOSTNAME, "serverType": "cpx62", "floatingIps": floating_ips,
                         "sshPublicKey": SSH_KEY, "adminCidrs": ["203.0.113.0/28"]}],
            "domains": [], "dmarc": {"rua": "dmarc@example.test"}}


def _slug(name: str) -> str:
    return name.replace(".", "-")


class MailStack:
    """The engine's view of one stack's Mailcow resources (see the module docstring)."""

    def __init__(self, harness: ProviderHarness, api_url: str, *, providers: Optional[dict] = None,
                 parallel: int = 1, raw: Optional[dict] = None) -> None:
        self.h = harness
        self.api_url = api_url
        #: Extra ``client_options`` per provider kind (tests shorten the backoff); they travel in ``__provider``.
        self.providers = providers or {}
        self.parallel = parallel
        self.raw = raw or base_config()
        #: domain → local part → password (a fake one unless set).
        self.passwords: dict[str, dict[str, str]] = {}
        #: Resources the engine has in state: ("relayhost", n) or (kind, domain) → resource.
        self.res: dict[tuple, DynamicResource] = {}

    # -------------------------------------------------------------- the config
    @property
    def settings(self) -> cm.StackConfig:
        return cm.load(self.raw)

    def set_config(self, raw: dict) -> None:
        self.raw = copy.deepcopy(raw)

    def set_domain(self, domain: str, mailboxes: list[dict], passwords: Optional[dict] = None, *,
                   ip: int = 0, max_per_domain: Optional[int] = None) -> None:
        """Add or replace one domain with an explicit mailbox list (``{local_part, name, quota_mb}``).

        ``limits.maxMailboxesPerDomain`` is a hard limit of the schema: it is raised to fit the domain, or set
        to ``max_per_domain`` (which also sizes the domain's room: equal to the count, there is none).
        """
        limits = self.raw.setdefault("limits", {})
        limits["maxMailboxesPerDomain"] = max_per_domain or max(limits.get("maxMailboxesPerDomain", 5), len(mailboxes))
        entry = {"name": domain, "ip": ip, "mailboxQuotaMb": max([m["quota_mb"] for m in mailboxes] or [100]),
                 "mailboxes": [{"localPart": m["local_part"], "name": m["name"], "quotaMb": m["quota_mb"]}
                               for m in mailboxes]}
        self.raw["domains"] = [d for d in self.raw["domains"] if d["name"] != domain] + [entry]
        if passwords:
            self.passwords[domain] = dict(passwords)

    def password(self, domain: str, local_part: str) -> str:
        return self.passwords.get(domain, {}).get(local_part) or fake_password(domain, local_part)

    @property
    def desired(self) -> dict[str, dict]:
        """domain → ``{"mailboxes": [...], "passwords": {...}}`` as the config says."""
        return {d.name: {"mailboxes": self._mailboxes(d),
                         "passwords": {m.local_part: self.password(d.name, m.local_part) for m in d.mailboxes}}
                for d in self.settings.domains}

    # -------------------------------------------------------------- inputs, as the components build them
    def conn(self) -> dict:
        return {"api_url": self.api_url, "server": SERVER, "verify_tls": True}

    @staticmethod
    def _mailboxes(d: cm.Domain) -> list[dict]:
        return [{"local_part": m.local_part, "name": m.name, "quota_mb": m.quota_mb, "active": True}
                for m in d.mailboxes]

    def relayhost_inputs(self, settings: cm.StackConfig, n: int) -> dict:
        server = settings.server(SERVER)
        return {**self.conn(), "hostname": relayhost_address(n), "source_ip": f"198.51.100.{n}",
                "helo_name": server.ptr_names[n - 1], "adopt": server.adopt_relayhosts}

    def inputs(self, domain: str, kind: str, settings: Optional[cm.StackConfig] = None) -> dict:
        settings = settings or self.settings
        d = next(x for x in settings.domains if x.name == domain)
        if kind == "domain":
            relay = self.res.get(("relayhost", d.ip))
            rid = relay.state.outputs["relayhost_id"] if d.ip and relay and relay.state else "0"
            return {**self.conn(), "domain": d.name, "description": d.description, **settings.domain_sizing(d),
                    "relayhost_id": rid, "active": True}
        if kind == "dkim":
            return {**self.conn(), "domain": d.name, "selector": settings.dkim.selector,
                    "key_size": settings.dkim.key_size}
        return {**self.conn(), "domain": d.name, "mailboxes": self._mailboxes(d),
                "passwords": Secret({m.local_part: self.password(d.name, m.local_part) for m in d.mailboxes}),
                "daily_send_limit": planned_daily_sends(settings, d), **settings.domain_sizing(d)}

    def _resource(self, key: tuple, name: str) -> DynamicResource:
        if key not in self.res:
            kind = key[0]
            provider = PROVIDERS[kind]()
            if kind in self.providers:
                provider.client_options = self.providers[kind]
            self.res[key] = self.h.resource(provider, TYPES[kind].rsplit(":", 1)[1], name)
        return self.res[key]

    def _wanted(self, settings: cm.StackConfig) -> list[tuple]:
        keys: list[tuple] = [("relayhost", n) for n in range(1, settings.server(SERVER).floating_ips + 1)]
        return keys + [(kind, d.name) for d in settings.domains for kind in KINDS]

    # -------------------------------------------------------------- the engine
    def _step(self, kind: str, domain: str, settings: cm.StackConfig) -> str:
        res = self._resource((kind, domain), f"{_slug(domain)}-{kind}")
        return res.up(self.inputs(domain, kind, settings)).op

    def up(self) -> dict[str, dict[str, str]]:
        """``pulumi up``: relayhosts, then every resource step once what it depends on is done, at most
        ``parallel`` at a time (a domain's key and mailbox set both wait for the domain only), then the deletes.
        Returns the step taken for each domain's resources; the first failure is raised once the steps in
        flight are done, and nothing that depends on it runs."""
        settings = self.settings
        for n in range(1, settings.server(SERVER).floating_ips + 1):
            self._resource(("relayhost", n), f"{SERVER}-relayhost{n}").up(self.relayhost_inputs(settings, n))
        names = [d.name for d in settings.domains]
        steps: dict[str, dict[str, str]] = {d: {} for d in names}
        errors: list[BaseException] = []
        running = threading.Condition()
        outstanding = [0]
        pool = ThreadPoolExecutor(max_workers=max(1, self.parallel))

        def submit(kind: str, domain: str) -> None:
            with running:
                outstanding[0] += 1
            pool.submit(run, kind, domain)

        def run(kind: str, domain: str) -> None:
            try:
                steps[domain][kind] = self._step(kind, domain, settings)
                if kind == "domain":
                    for dependent in ("dkim", "mailboxes"):
                        submit(dependent, domain)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, as the engine reports it
                errors.append(exc)
            finally:
                with running:
                    outstanding[0] -= 1
                    running.notify_all()

        try:
            for d in names:
                submit("domain", d)
            with running:
                running.wait_for(lambda: outstanding[0] == 0)
        finally:
            pool.shutdown()
        if errors:
            raise errors[0]
        self._delete_all(set(self.res) - set(self._wanted(settings)))
        return steps

    def _delete_all(self, keys: set[tuple]) -> None:
        # Dependents first, as the engine deletes: sets and keys, then domains, then relayhosts.
        for kind in ("mailboxes", "dkim", "domain", "relayhost"):
            for key in sorted(k for k in keys if k[0] == kind):
                self.res.pop(key).destroy()

    def preview(self) -> dict[str, dict]:
        """``pulumi preview``: Check + Diff of every wanted resource, and a change for each pending delete."""
        settings = self.settings
        wanted = self._wanted(settings)
        out: dict[str, dict] = {}
        for key in wanted:
            res = self.res.get(key)
            if res is None or res.state is None:
                diff = {"changes": True, "create": True}
            elif key[0] == "relayhost":
                diff = res.preview(self.relayhost_inputs(settings, key[1]))
            else:
                diff = res.preview(self.inputs(key[1], key[0], settings))
            out.setdefault(str(key[1]) if key[0] != "relayhost" else f"relayhost{key[1]}", {})[key[0]] = diff
        for key in set(self.res) - set(wanted):
            out.setdefault(f"delete {key}", {})[key[0]] = {"changes": True, "delete": True}
        return out

    def destroy(self) -> None:
        self._delete_all(set(self.res))


def assert_converged(mc: MailcowEmulator, stack: MailStack) -> None:
    """Mailcow holds exactly what the config says: domains with their sizing and sending IP, DKIM keys,
    relayhosts, and every mailbox with its name, quota and password."""
    settings = stack.settings
    with mc.lock:
        domains = {name: dict(row) for name, row in mc.domains.items()}
        dkim = {name: dict(row) for name, row in mc.dkim.items()}
        boxes = {addr: dict(row) for addr, row in mc.mailboxes.items()}
        relayhosts = {rid: dict(row) for rid, row in mc.relayhosts.items()}
    want_domains = {d.name: d for d in settings.domains}
    assert set(domains) == set(want_domains), f"domains: {sorted(set(domains) ^ set(want_domains))} differ"
    assert set(dkim) == set(want_domains), f"DKIM keys: {sorted(set(dkim) ^ set(want_domains))} differ"
    floating = settings.server(SERVER).floating_ips
    assert sorted(r["hostname"] for r in relayhosts.values()) == sorted(
        relayhost_address(n) for n in range(1, floating + 1)), f"relayhosts: {relayhosts}"
    by_host = {r["hostname"]: str(rid) for rid, r in relayhosts.items()}
    mailcow_keys = {"max_mailboxes": "mailboxes", "domain_quota_mb": "quota", "max_mailbox_quota_mb": "maxquota",
                    "default_mailbox_quota_mb": "defquota"}
    for name, d in want_domains.items():
        row = domains[name]
        sizing = settings.domain_sizing(d)
        assert {k: row[mailcow_keys[k]] for k in LIMIT_KEYS} == sizing, f"{name}: limits {row} != {sizing}"
        want_relay = by_host[relayhost_address(d.ip)] if d.ip else "0"
        assert str(row["relayhost"]) == want_relay, f"{name}: relayhost {row['relayhost']} != {want_relay}"
        assert dkim[name]["selector"] == settings.dkim.selector, f"{name}: DKIM selector {dkim[name]}"
    desired = stack.desired
    want = {f"{m['local_part']}@{d}": (m, spec["passwords"][m["local_part"]])
            for d, spec in desired.items() for m in spec["mailboxes"]}
    assert set(boxes) == set(want), (f"missing: {sorted(set(want) - set(boxes))}, "
                                     f"unexpected: {sorted(set(boxes) - set(want))}")
    for addr, (m, pw) in want.items():
        row = boxes[addr]
        assert row["name"] == stored_display_name(m["name"]), f"{addr}: name {row['name']!r} != {m['name']!r}"
        assert row["quota"] == m["quota_mb"] * 1048576, f"{addr}: quota {row['quota']}"
        assert bool(row["active"]) == m["active"], f"{addr}: active {row['active']}"
        assert mc.check_password(addr, pw), f"{addr}: password not the desired one"


# ------------------------------------------------------------------ random edit pairs

DOMAIN_POOL = tuple(f"{w}.example.test" for w in ("alpha", "bravo", "charlie", "delta", "echo"))
FIRST = ("Anna", "Jonas", "Mia", "Lukas", "Lea")
LAST = ("Berg", "Schulz", "Hoffmann", "Weber", "Koch")
QUOTAS = (64, 128, 256, 512)


def _random_domain(rng: random.Random, name: str, floating_ips: int) -> dict:
    quota = rng.choice(QUOTAS)
    if rng.random() < 0.5:
        boxes: Any = {"count": rng.randint(1, 6), "pattern": "{first}.{last}{n}",
                      "firstNames": list(FIRST), "lastNames": list(LAST)}
    else:
        boxes = [{"localPart": f"box{i}", "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                  "quotaMb": rng.choice(QUOTAS)} for i in rng.sample(range(8), rng.randint(1, 5))]
    return {"name": name, "ip": rng.randint(0, floating_ips), "mailboxQuotaMb": quota, "mailboxes": boxes}


def _fit_limits(raw: dict, rng: random.Random) -> None:
    """``limits.maxMailboxesPerDomain`` at or a little above the largest domain: the schema refuses a domain
    with more, and a maximum close to the counts keeps the sizing steps tight, so edits cross them often."""
    counts = [d["mailboxes"]["count"] if isinstance(d["mailboxes"], dict) else len(d["mailboxes"])
              for d in raw["domains"]]
    raw["limits"]["maxMailboxesPerDomain"] = max(counts or [1]) + rng.randint(0, 2)


def random_config(rng: random.Random) -> dict:
    """A valid raw config: one server with 0-3 floating IPs, 1-4 domains of 1-6 mailboxes, tight limits."""
    raw = base_config(rng.randint(0, 3))
    raw["dkim"] = {"selector": rng.choice(("dkim", "s2026"))}
    # Small advisory sizes and headroom make the limits' steps tight, so edits cross them often.
    raw["limits"] = {"maxMailboxesPerDomain": rng.randint(1, 5), "mailboxHeadroom": rng.randint(0, 2)}
    floating = raw["servers"][0]["floatingIps"]
    raw["domains"] = [_random_domain(rng, n, floating) for n in rng.sample(DOMAIN_POOL, rng.randint(1, 4))]
    _fit_limits(raw, rng)
    return raw


def _resize(rng: random.Random, d: dict, grow: bool) -> None:
    boxes = d["mailboxes"]
    if isinstance(boxes, dict):
        boxes["count"] = rng.randint(boxes["count"], 7) if grow else rng.randint(1, boxes["count"])
        return
    if grow:
        free = [i for i in range(8) if f"box{i}" not in {b["localPart"] for b in boxes}]
        for i in rng.sample(free, min(len(free), rng.randint(1, 3))):
            boxes.append({"localPart": f"box{i}", "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                          "quotaMb": rng.choice(QUOTAS)})
    else:
        for b in rng.sample(boxes, len(boxes) - rng.randint(1, len(boxes))):
            boxes.remove(b)


def _requota(rng: random.Random, d: dict) -> None:
    boxes = d["mailboxes"]
    if isinstance(boxes, list) and rng.random() < 0.5:
        rng.choice(boxes)["quotaMb"] = rng.choice(QUOTAS + (1024,))
    else:
        d["mailboxQuotaMb"] = rng.choice(QUOTAS + (1024,))
        if isinstance(boxes, list):
            for b in boxes:
                b["quotaMb"] = d["mailboxQuotaMb"]


def mutate(rng: random.Random, raw: dict) -> tuple[dict, list[str]]:
    """A second valid config made from ``raw`` by 1-3 random edits; returns it and the edits' names."""
    new = copy.deepcopy(raw)
    domains = new["domains"]
    server = new["servers"][0]
    edits: list[str] = []
    for _ in range(rng.randint(1, 3)):
        edit = rng.choice(("grow", "shrink", "quota", "remove_all_but_one", "add_domain", "move_ip", "selector",
                           "floating_ips", "rename", "headroom"))
        edits.append(edit)
        d = rng.choice(domains)
        if edit in ("grow", "shrink"):
            _resize(rng, d, edit == "grow")
        elif edit == "quota":
            _requota(rng, d)
        elif edit == "remove_all_but_one":
            del domains[:]
            domains.append(d)
        elif edit == "add_domain":
            free = [n for n in DOMAIN_POOL if n not in {x["name"] for x in domains}]
            if free:
                domains.append(_random_domain(rng, rng.choice(free), server["floatingIps"]))
        elif edit == "move_ip":
            d["ip"] = rng.randint(0, server["floatingIps"])
        elif edit == "selector":
            new["dkim"] = {"selector": "s2027" if new.get("dkim", {}).get("selector") != "s2027" else "dkim"}
        elif edit == "floating_ips":
            server["floatingIps"] = rng.randint(0, 3)
            for x in domains:
                x["ip"] = min(x["ip"], server["floatingIps"])
        elif edit == "headroom":
            new["limits"] = {"maxMailboxesPerDomain": rng.randint(1, 5), "mailboxHeadroom": rng.randint(0, 2)}
        elif edit == "rename" and isinstance(d["mailboxes"], list):
            rng.choice(d["mailboxes"])["name"] = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    _fit_limits(new, rng)
    cm.load(new)
    return new, edits


def random_pair(seed: int) -> tuple[dict, dict, list[str]]:
    """Config A, config B and the edits between them, the same for the same seed."""
    rng = random.Random(seed)
    a = random_config(rng)
    b, edits = mutate(rng, a)
    return a, b, edits
