"""Mailbox credentials from the stack outputs, written to a 0600 file for a sequencer's bulk import.

The stack exports ``credentials`` as a secret: a list of ``{email, first_name, last_name, password,
smtp_host, smtp_port, imap_host, imap_port, daily_limit}`` (or such lists per domain). Passwords go to
the file only; the terminal and the ``--json`` document get them only with ``--show-passwords``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Iterable, Mapping

from coldmail.errors import ColdmailError

COLUMNS = ("email", "first_name", "last_name", "smtp_host", "smtp_port", "smtp_username", "smtp_password",
           "imap_host", "imap_port", "imap_username", "imap_password", "daily_limit")
"""The CSV header: the fields Instantly, Smartlead and similar tools map on bulk import."""

FILE_MODE = 0o600


class CredentialsError(ColdmailError):
    """The outputs hold no credentials, or the file cannot be written; ``fix`` says what to do."""

    kind = "credentials"

    def __init__(self, message: str, fix: str = "", exit_code: int = 1):
        super().__init__(message, fix or None, exit_code=exit_code)


def _entries(value: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, Mapping):
        if "email" in value:
            yield value
            return
        for v in value.values():
            yield from _entries(v)
    elif isinstance(value, list):
        for v in value:
            yield from _entries(v)


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def rows_from_outputs(outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per mailbox, in :data:`COLUMNS` order, sorted by address."""
    raw = outputs.get("credentials")
    raw = getattr(raw, "value", raw)
    rows = []
    for e in _entries(raw):
        email, password = str(e.get("email", "")), str(e.get("password", ""))
        rows.append({
            "email": email, "first_name": str(e.get("first_name") or ""), "last_name": str(e.get("last_name") or ""),
            "smtp_host": str(e.get("smtp_host") or ""), "smtp_port": _int(e.get("smtp_port"), 587),
            "smtp_username": str(e.get("smtp_username") or email), "smtp_password": password,
            "imap_host": str(e.get("imap_host") or e.get("smtp_host") or ""), "imap_port": _int(e.get("imap_port"), 993),
            "imap_username": str(e.get("imap_username") or email), "imap_password": password,
            "daily_limit": _int(e.get("daily_limit")),
        })
    return sorted(rows, key=lambda r: r["email"])


def masked(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("********" if k.endswith("_password") else v) for k, v in row.items()}


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    if fmt == "json":
        return json.dumps({"accounts": rows}, indent=2, ensure_ascii=False) + "\n"
    raise CredentialsError(f"unknown format {fmt!r}", "use --format csv or --format json", 2)


def write_private(path: str, text: str, force: bool = False) -> None:
    """Write ``text`` to a new file readable by its owner only; an existing file is kept unless ``force``.

    The file is created with mode 0600 by ``open(O_EXCL)``, never chmod-ed after the fact, so no other
    user can read it even for a moment; with ``force`` the old file is unlinked first for the same reason.
    """
    if os.path.lexists(path):
        if not force:
            raise CredentialsError(f"{path} exists; kept it", "choose another --out, or pass --force to replace it", 2)
        os.unlink(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    except (FileNotFoundError, NotADirectoryError):
        raise CredentialsError(f"cannot write {path}: the directory {os.path.dirname(path) or '.'} does not exist",
                               "create it first, or pass an --out in an existing directory", 2) from None
    except OSError as exc:
        raise CredentialsError(f"cannot write {path}: {exc.strerror}",
                               "pass an --out in a directory you can write to", 2) from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
