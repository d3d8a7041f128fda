"""What the worker needs besides the config: logins, sending IP addresses and Mailcow clients.

- Stack mailboxes: the stack's ``credentials`` output (what ``coldmail credentials export`` writes),
  one row per mailbox with its password and SMTP/IMAP endpoints.
- Seeds: ``coldmail:warmup.seeds`` with their app passwords, decrypted from the stack config, or from
  ``COLDMAIL_WARMUP_SEED_PASSWORD_<ADDRESS>`` (upper case, every non-alphanumeric → ``_``).
- Sending IP addresses: the stack's ``domains`` output (``sending_ip`` of each domain).
- Mailcow: each server's API key from the config or ``COLDMAIL_MAILCOW_API_KEY[_<SERVER>]``; its URL is
  ``https://<hostname>`` unless ``COLDMAIL_MAILCOW_URL_<SERVER>`` says otherwise (a tunnel, or the
  API as seen from a container on the server).
"""

from __future__ import annotations

import csv
import json
import os
import re
from typing import Any, Iterable, Mapping

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.model.reader import NAMESPACE
from coldmail.model.types import StackConfig
from dynamic_providers.client import MailcowClient
from dynamic_providers.credentials import ApiKeys
from dynamic_providers.errors import MailcowCredentialsError

from .transport import MAILBOX, SEED, Account, Endpoint

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


def seed_accounts(settings: StackConfig, env: Mapping[str, str]) -> list[Account]:
    """Accounts for the seeds; raises :class:`InputError` naming every seed whose password is not readable."""
    out, missing = [], []
    for seed in settings.warmup_exchange.seeds:
        password = seed.password or env.get(seed_password_env(seed.address))
        if not password:
            missing.append(seed)
            continue
        out.append(Account(seed.address, "", SEED, Endpoint(seed.smtp_host, seed.smtp_port, seed.tls),
                           Endpoint(seed.imap_host, seed.imap_port, seed.tls), provider=seed.provider,
                           spam_folder=seed.spam_folder, promotions_folder=seed.promotions_folder,
                           max_per_day=seed.max_per_day, password=password))
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


def mailcow_clients(settings: StackConfig, raw_servers: Any, env: Mapping[str, str],
                    timeout: float = 30) -> tuple[dict[str, MailcowClient], list[str]]:
    """A client per server whose API key is known; the servers without one, with the fix, as warnings."""
    keys = ApiKeys.from_config({f"{NAMESPACE}:servers": raw_servers})
    clients, warnings = {}, []
    for server in settings.servers:
        try:
            key = keys.lookup(server.name, env)
        except MailcowCredentialsError as exc:
            warnings.append(f"rate limits on {server.name} not enforced: {exc}")
            continue
        url = env.get(_env_name(MAILCOW_URL_ENV, server.name)) or server.api_url
        verify: Any = server.mailcow_ca_bundle or server.mailcow_tls_verify
        clients[server.name] = MailcowClient(url, key, timeout=timeout, verify=verify, retries=2)
    return clients, warnings
