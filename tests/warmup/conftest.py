"""Shared warmup fixtures: a stack config, a history file, and the loopback mail lab (Postfix + Dovecot)."""

from __future__ import annotations

import copy
import datetime as _dt
import itertools
from typing import Any, Optional

import pytest

from coldmail import model
from coldmail.ops.history import History
from coldmail.warmup.store import WarmupStore
from coldmail.warmup.transport import Account

from .mail_lab import MailLab

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITESTONLYTESTONLYTESTONLYTESTONLY test@example"
START = _dt.date(2026, 3, 2)

#: Two servers; mx1 sends alpha (3 mailboxes) from its floating IP 1 and beta (1 mailbox) from IP 2.
BASE: dict[str, Any] = {
    "servers": [
        {"name": "mx1", "hostname": "mx1.ops-example.com", "serverType": "cx32", "floatingIps": 2,
         "sshPublicKey": KEY, "adminCidrs": ["203.0.113.0/28"], "timezone": "UTC"},
        {"name": "mx2", "hostname": "mx2.ops-example.com", "serverType": "cx32", "floatingIps": 1,
         "sshPublicKey": KEY, "adminCidrs": ["203.0.113.0/28"], "timezone": "UTC"},
    ],
    "domains": [
        {"name": "alpha-example.com", "server": "mx1", "ip": 1,
         "mailboxes": [{"localPart": "anna", "name": "Anna Berg"}, {"localPart": "jonas", "name": "Jonas Schulz"},
                       {"localPart": "mia", "name": "Mia Vogel"}]},
        {"name": "beta-example.com", "server": "mx1", "ip": 2,
         "mailboxes": [{"localPart": "lena", "name": "Lena Koch"}]},
        {"name": "gamma-example.com", "server": "mx2", "ip": 1,
         "mailboxes": [{"localPart": "paul", "name": "Paul Wolf"}]},
    ],
    "dmarc": {"rua": "dmarc@ops-example.com"},
    "warmup": {"startDate": START.isoformat()},
}


def stack_raw(**warmup: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw["warmup"].update(warmup)
    return raw


def settings(**warmup: Any) -> model.StackConfig:
    return model.load(stack_raw(**warmup))


def at(day: _dt.date, hour: int = 12) -> _dt.datetime:
    return _dt.datetime.combine(day, _dt.time(hour), _dt.timezone.utc)


class Clock:
    """A clock the test moves; starts at noon UTC of ``day``."""

    def __init__(self, day: _dt.date = START, hour: int = 12) -> None:
        self.now = at(day, hour)

    def __call__(self) -> _dt.datetime:
        return self.now

    def next_day(self, days: int = 1) -> None:
        self.now += _dt.timedelta(days=days)


@pytest.fixture
def history(tmp_path) -> History:
    return History(str(tmp_path / "history.sqlite"))


@pytest.fixture
def store(history) -> WarmupStore:
    s = WarmupStore(history)
    yield s
    s.close()


@pytest.fixture(scope="session")
def lab():
    mail = MailLab().start()
    yield mail
    mail.stop()


_unique = itertools.count(1)


class LabStack:
    """A stack whose mailboxes (and seeds) are real users of the lab, each test with its own names."""

    def __init__(self, lab: MailLab, domains: Optional[list[dict]] = None, **warmup: Any) -> None:
        n = next(_unique)
        self.lab, self.tag = lab, f"t{n}"
        raw = stack_raw(**warmup)
        raw["domains"] += copy.deepcopy(domains or [])
        for d in raw["domains"]:
            d["name"] = f"{self.tag}-{d['name']}"
        seeds = []
        for i, (provider, folder) in enumerate((("gmail", "Promotions"), ("outlook", None))):
            seeds.append({"address": f"seed{i}@{self.tag}-{provider}-example.net", "provider": provider,
                          "password": f"seed-{i}-test-password", "imapHost": "127.0.0.1", "imapPort": lab.imap_port,
                          "smtpHost": "127.0.0.1", "smtpPort": lab.smtp_port, "tls": False, "maxPerDay": 20,
                          **({"promotionsFolder": folder} if folder else {})})
        raw["warmup"].setdefault("seeds", seeds)
        raw["warmup"].setdefault("sendFromHour", 0)
        raw["warmup"].setdefault("sendUntilHour", 1)  # all of the day is due by 01:00 local
        raw["warmup"].setdefault("pauseSeconds", 0)
        self.raw = raw
        self.settings = model.load(raw)
        users = {m.address: f"pw-{m.local_part}-test" for d in self.settings.domains for m in d.mailboxes}
        users.update({s.address: s.password for s in self.settings.warmup_exchange.seeds})
        lab.add_users(users)

    def rows(self, only: Optional[set[str]] = None) -> list[dict]:
        """Credential rows as ``coldmail credentials export`` writes them, pointing at the lab."""
        return [{"email": m.address, "smtp_host": "127.0.0.1", "smtp_port": self.lab.smtp_port,
                 "smtp_password": f"pw-{m.local_part}-test", "imap_host": "127.0.0.1",
                 "imap_port": self.lab.imap_port, "tls": False}
                for d in self.settings.domains for m in d.mailboxes if only is None or m.address in only]

    def accounts(self, only: Optional[set[str]] = None, seeds: bool = True) -> list[Account]:
        from coldmail.warmup.inputs import mailbox_accounts, seed_accounts

        accounts, unknown = mailbox_accounts(self.settings, self.rows(only))
        assert unknown == []
        return accounts + (seed_accounts(self.settings, {}) if seeds else [])

    def address(self, local_part: str) -> str:
        return next(m.address for d in self.settings.domains for m in d.mailboxes if m.local_part == local_part)

    @property
    def seeds(self) -> list[str]:
        return [s.address for s in self.settings.warmup_exchange.seeds]


@pytest.fixture
def lab_stack(lab):
    return lambda domains=None, **warmup: LabStack(lab, domains, **warmup)
