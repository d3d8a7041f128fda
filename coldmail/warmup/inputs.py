"""What the worker needs besides the config: logins, sending IP addresses and Mailcow clients.

- Stack mailboxes: the stack's ``credentials`` output (what ``coldmail credentials export`` writes),
  one row per mailbox with its password and SMTP/IMAP endpoints.
- Seeds: ``coldmail:warmup.seeds`` with their app passwords, decrypted from the stack config, or from
  ``COLDMAIL_WARMUP_SEED_PASSWORD_<ADDRESS>`` (upper case, every non-alphanumeric → ``_``).
- Sending IP addresses: the stack's ``domains`` output (``sending_ip`` of each domain).
- Mailcow: each server's API key from the config or ``COLDMAIL_MAILCOW_API_KEY[_<SERVER>]``; its URL is
  ``https://<hostname>`` unless ``COLDMAIL_MAILCOW_URL_<SERVER>`` says otherwise (a tunnel, or the
  API as seen from a container on the server).

:func:`worker_for` puts them together for ``coldmail warmup run|placement`` and the on-server agent alike.
The agent works for its own server only (:func:`one_server`): its mailboxes send, its Mailcow enforces,
its IPs ramp. Every server's agent keeps its own store, so each seed's daily cap is divided between the
agents (:func:`seed_share`) and the seed never gets more than ``maxPerDay`` from the stack in all.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from typing import Any, Iterable, Mapping, Optional

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.model.reader import NAMESPACE
from coldmail.model.types import StackConfig
from coldmail.ops.notify import Notifier
from dynamic_providers.client import MailcowClient
from dynamic_providers.credentials import ApiKeys
from dynamic_providers.errors import MailcowCredentialsError

from .store import WarmupStore
from .transport import MAILBOX, SEED, Account, Endpoint
from .worker import Worker

SEED_PASSWORD_ENV = "COLDMAIL_WARMUP_SEED_PASSWORD"
MAILCOW_URL_ENV = "COLDMAIL_MAILCOW_URL"


class InputError(ColdmailError):
    """A login, file or key the warmup needs is missing or unreadable; ``fix`` says where it comes from."""

    kind = "warmup_input"


def _env_name(prefix: str, name: str) -> str:
    return f"{prefix}_{re.sub(r'[^A-Z0-9]', '_', name.upper())}"


def _flag(value: Any, default: bool = True) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return default


def _port(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def read_accounts_file(path: str) -> list[dict[str, Any]]:
    """The rows of a ``coldmail credentials export`` file (CSV or JSON ``{"accounts": [...]}``)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read the accounts file {path}: {exc.strerror}",
                         "export it: coldmail credentials export --stack NAME --format json --out FILE",
                         exit_code=EXIT_BAD_INPUT) from None
    if text.lstrip()[:1] in "[{":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{path} is not JSON: {exc}", "use the file credentials export wrote",
                             exit_code=EXIT_BAD_INPUT) from None
        rows = doc.get("accounts") if isinstance(doc, Mapping) else doc
        return [dict(r) for r in rows or [] if isinstance(r, Mapping)]
    return [dict(r) for r in csv.DictReader(text.splitlines())]


def mailbox_accounts(settings: StackConfig, rows: Iterable[Mapping[str, Any]]) -> tuple[list[Account], list[str]]:
    """Accounts for the stack's mailboxes in ``rows``; also the addresses of rows the config does not know.

    A row's ``tls`` column (``false``) allows plain SMTP/IMAP to a loopback host, for test servers.
    """
    known = {m.address: d for d in settings.domains for m in d.mailboxes}
    names = {m.address: m.name for d in settings.domains for m in d.mailboxes}
    accounts, unknown = [], []
    for row in rows:
        address = str(row.get("email") or "").strip().lower()
        domain = known.get(address)
        if domain is None:
            if address:
                unknown.append(address)
            continue
        server = settings.server(domain.server)
        tls = _flag(row.get("tls"))
        password = str(row.get("smtp_password") or row.get("password") or "")
        smtp_host = str(row.get("smtp_host") or server.hostname)
        imap_host = str(row.get("imap_host") or smtp_host)
        try:
            smtp = Endpoint(smtp_host, _port(row.get("smtp_port"), 587), tls)
            imap = Endpoint(imap_host, _port(row.get("imap_port"), 993), tls)
        except ValueError as exc:
            raise InputError(f"the login of {address}: {exc}", "remove `tls: false` from its row",
                             exit_code=EXIT_BAD_INPUT) from None
        accounts.append(Account(address, names.get(address, ""), MAILBOX, smtp, imap, server=domain.server,
                                ip=settings.sending_ip(domain).label, timezone=server.timezone, password=password))
    return accounts, unknown


def seed_password_env(address: str) -> str:
    return _env_name(SEED_PASSWORD_ENV, address)


def warmup_servers(settings: StackConfig) -> list[str]:
    """The servers whose agents send warmup mail: those with a deployed domain that has mailboxes, in config order."""
    sending = {d.server for d in settings.rollout.deployed(settings.domains) if d.mailboxes}
    return [s.name for s in settings.servers if s.name in sending]


def seed_share(settings: StackConfig, cap: int, server: str) -> int:
    """``server``'s share of a seed's daily ``cap``, when every server's agent counts in a store of its own.

    The cap is divided evenly between :func:`warmup_servers`; the remainder goes one each to the first of
    them in config order. So the shares add up to ``cap`` exactly, every agent computes the same split from
    the same config, and a server that sends no warmup gets 0 (as do the last servers when ``cap`` is
    smaller than their number).
    """
    names = warmup_servers(settings)
    if server not in names:
        return 0
    base, remainder = divmod(cap, len(names))
    return base + (1 if names.index(server) < remainder else 0)


def seed_accounts(settings: StackConfig, env: Mapping[str, str], server: Optional[str] = None) -> list[Account]:
    """Accounts for the seeds; raises :class:`InputError` naming every seed whose password is not readable.

    With ``server`` (its agent) each seed's daily cap is that server's :func:`seed_share` of ``maxPerDay``.
    """
    out, missing = [], []
    for seed in settings.warmup_exchange.seeds:
        password = seed.password or env.get(seed_password_env(seed.address))
        if not password:
            missing.append(seed)
            continue
        cap = seed.max_per_day if server is None else seed_share(settings, seed.max_per_day, server)
        out.append(Account(seed.address, "", SEED, Endpoint(seed.smtp_host, seed.smtp_port, seed.tls),
                           Endpoint(seed.imap_host, seed.imap_port, seed.tls), provider=seed.provider,
                           spam_folder=seed.spam_folder, promotions_folder=seed.promotions_folder,
                           max_per_day=cap, password=password))
    if missing:
        names = ", ".join(s.address for s in missing)
        first = missing[0]
        raise InputError(f"no readable app password for seed(s) {names}",
                         f"read the config decrypted (without --config), or set it: pulumi config set --secret "
                         f"--path '{NAMESPACE}:{first.password_config_path}' <app password>, or export "
                         f"{seed_password_env(first.address)}", exit_code=EXIT_BAD_INPUT)
    return out


def ip_addresses(settings: StackConfig, outputs: Mapping[str, Any]) -> dict[str, str]:
    """Sending IP label → address, from the ``domains`` output (each domain's ``sending_ip``)."""
    domains = outputs.get("domains")
    domains = getattr(domains, "value", domains)
    out: dict[str, str] = {}
    if not isinstance(domains, Mapping):
        return out
    for d in settings.domains:
        summary = domains.get(d.name)
        if isinstance(summary, Mapping) and isinstance(summary.get("sending_ip"), str) and summary["sending_ip"]:
            out[settings.sending_ip(d).label] = summary["sending_ip"]
    return out


def mailcow_clients(settings: StackConfig, raw_servers: Any, env: Mapping[str, str], timeout: float = 30, *,
                    only: Optional[str] = None, urls: Optional[Mapping[str, str]] = None
                    ) -> tuple[dict[str, MailcowClient], list[str]]:
    """A client per server (``only`` that one) whose API key is known; the servers without one, with the fix,
    as warnings. ``urls`` gives a server's API URL when it is not ``https://<hostname>`` (the agent's)."""
    keys = ApiKeys.from_config({f"{NAMESPACE}:servers": raw_servers})
    clients, warnings = {}, []
    for server in settings.servers:
        if only is not None and server.name != only:
            continue
        try:
            key = keys.lookup(server.name, env)
        except MailcowCredentialsError as exc:
            warnings.append(f"rate limits on {server.name} not enforced: {exc}")
            continue
        url = env.get(_env_name(MAILCOW_URL_ENV, server.name)) or (urls or {}).get(server.name) or server.api_url
        verify: Any = server.mailcow_ca_bundle or server.mailcow_tls_verify
        clients[server.name] = MailcowClient(url, key, timeout=timeout, verify=verify, retries=2)
    return clients, warnings


def one_server(settings: StackConfig, server: str) -> StackConfig:
    """The stack as one server's agent works on it: only that server's sending IPs ramp, hold and are
    recorded. The domains stay as they are, so every mailbox's cap is the one the whole stack plans."""
    return dataclasses.replace(settings, servers=(settings.server(server),))


def worker_for(settings: StackConfig, store: WarmupStore, rows: Iterable[Mapping[str, Any]],
               outputs: Mapping[str, Any], raw_servers: Any, env: Mapping[str, str], *, stack: str,
               notifier: Optional[Notifier], server: Optional[str] = None,
               mailcow_urls: Optional[Mapping[str, str]] = None) -> tuple[Worker, list[str]]:
    """A worker with every login in ``rows``, the seeds, the IP addresses of ``outputs`` and a Mailcow client
    per server whose key is known; also warnings naming what was left out and why.

    With ``server`` (the on-server agent) the worker works for that server alone: only its mailboxes send,
    only its Mailcow's limits are set, only its IPs are recorded, and each seed's cap is its share.
    """
    accounts, unknown = mailbox_accounts(settings, rows)
    warnings = []
    if unknown:
        warnings.append(f"{len(unknown)} login(s) for mailboxes the config does not have, ignored: "
                        f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}")
    if server is not None:
        accounts = [a for a in accounts if a.server == server]
    accounts += seed_accounts(settings, env, server)
    clients, missing = mailcow_clients(settings, raw_servers, env, only=server, urls=mailcow_urls)
    worker = Worker(settings if server is None else one_server(settings, server), accounts, store, stack=stack,
                    addresses=ip_addresses(settings, outputs), mailcow=clients, notifier=notifier)
    return worker, warnings + missing
