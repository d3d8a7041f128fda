"""Facts about Mailcow that more than one layer relies on: limits, key sizes, what its API accepts."""

from __future__ import annotations

import re
from typing import Optional

MIB = 1024 * 1024
#: The sizes Mailcow's UI offers; below 384 bits its openssl call fails, past 4096 it is not offered.
DKIM_KEY_SIZES = (1024, 2048, 3072, 4096)
#: RFC 8301 recommends 2048 bits; smaller keys need an explicit opt-in.
DKIM_MIN_STRONG_BITS = 2048
DEFAULT_DKIM_SELECTOR = "dkim"
_API_KEY = re.compile(r"^[A-Za-z0-9-]{16,255}$")
_RELEASE_TAG = re.compile(r"^\d{4}-\d{2}[a-z]?$")

#: The defaults of Mailcow's "Default" domain template, used when a limit is left out.
DOMAIN_TEMPLATE = {"max_mailboxes": 10, "max_aliases": 400, "domain_quota_mb": 10240,
                   "max_mailbox_quota_mb": 10240, "default_mailbox_quota_mb": 3072}


def dkim_selector_problem(selector: str) -> Optional[str]:
    """Mailcow's own rule: the selector is alphanumeric once ``-``, ``_`` and ``.`` are removed."""
    if not re.sub(r"[-_.]", "", selector).isalnum() or not selector.isascii():
        return "must be letters and digits, optionally with - _ . (e.g. `dkim` or `s-2026`)"
    return None


def stored_display_name(name: str) -> str:
    """The display name as Mailcow stores it: every leading ``<`` and trailing ``>`` is trimmed.

    Mailcow runs ``ltrim(rtrim($name, '>'), '<')`` on add and edit (docs/mailcow-api.md §4), so ``<C>``
    is stored as ``C``; nothing else in a name is changed.
    """
    return name.rstrip(">").lstrip("<")


def display_name_problem(name: str) -> Optional[str]:
    """Why Mailcow would store ``name`` differently from how it is written, or ``None``."""
    if stored_display_name(name) != name:
        return (f"starts with '<' or ends with '>', which Mailcow trims (it would store "
                f"{stored_display_name(name)!r})")
    return None


def api_key_problem(key: str) -> Optional[str]:
    """Mailcow strips every character but ``[A-Za-z0-9-]`` from X-API-Key, so any other key never matches."""
    if not _API_KEY.match(key):
        return "must be 16-255 characters of A-Z a-z 0-9 and -"
    return None


def release_tag_problem(tag: str) -> Optional[str]:
    if not _RELEASE_TAG.match(tag):
        return "is not a Mailcow release tag such as 2026-07a"
    return None
