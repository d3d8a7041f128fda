"""Name rules, each written once: domains, hosts, servers, local parts, generated names.

The config schema, the providers' ``check``, the policy pack, the plan and the tests all call these,
so a name the schema accepts is a name every later step accepts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

import idna
from publicsuffixlist import PublicSuffixList

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SERVER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# Mailcow lowercases local parts and routes API paths through a query string, so "+" breaks GET
# paths; it is also Postfix's recipient delimiter.
_LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_PSL = PublicSuffixList()


def normalise_domain(name: str) -> str:
    """The lowercase punycode form Mailcow stores (idn_to_ascii UTS46).

    :raises ValueError: naming why the name is not a domain (a trailing dot, a bad label, too long).
    """
    name = name.strip()
    if name.endswith("."):
        raise ValueError("a trailing dot is not allowed")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(str(exc)) from None
    labels = ascii_name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("not a valid domain name")
    if len(ascii_name) > 253:
        raise ValueError("longer than 253 characters")
    return ascii_name


def domain_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a domain coldmail can manage, or None."""
    try:
        normalise_domain(name)
    except ValueError as exc:
        return str(exc)
    return None


def unicode_domain(name: str) -> str:
    """The unicode form of a punycode domain, for people; the input itself when it cannot be decoded."""
    try:
        return idna.decode(name)
    except idna.IDNAError:
        return name


def registrable_domain(name: str) -> Optional[str]:
    """The zone a name belongs to under the public suffix list (``mx1.acme.co.uk`` → ``acme.co.uk``)."""
    return _PSL.privatesuffix(name)


def has_public_suffix(name: str) -> bool:
    """True when ``name`` ends in a real public suffix, i.e. is absolute rather than zone-relative."""
    return _PSL.publicsuffix(name, accept_unknown=False) is not None


def absolute_name(name: str, zone: str) -> str:
    """A record name as a resolver asks for it: relative names and ``@`` are completed with ``zone``.

    A name that already ends in a real public suffix is absolute, even outside ``zone`` (a DMARC report
    authorisation record lives in the report domain's zone); ``dkim._domainkey`` is relative.
    """
    if not name or name == "@":
        return zone
    name = name.rstrip(".")
    if not zone or name == zone or name.endswith("." + zone) or has_public_suffix(name):
        return name
    return f"{name}.{zone}"


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def server_name_problem(name: str) -> Optional[str]:
    if not _SERVER_NAME.match(name):
        return "is not a valid server name"
    return None


def local_part_problem(local_part: str) -> Optional[str]:
    """Why Mailcow (or a mail client) would reject this local part, or None."""
    if "+" in local_part:
        return "contains `+`, which Mailcow's API path and Postfix's recipient delimiter break"
    if local_part != local_part.lower():
        return "has uppercase letters; Mailcow lowercases local parts, so the address would not match"
    if ".." in local_part:
        return "has two dots in a row"
    if not _LOCAL_PART.match(local_part):
        return "must be 1-64 of a-z 0-9 . _ - and start and end with a letter or digit"
    return None


def suggest_local_part(local_part: str) -> str:
    """The nearest local part :func:`local_part_problem` accepts, for a fix text."""
    s = re.sub(r"[^a-z0-9._-]", "", ascii_fold(local_part).lower().split("+", 1)[0])
    s = re.sub(r"\.{2,}", ".", s).strip("._-")
    return s or "firstname.lastname"


def email_problem(address: str) -> Optional[str]:
    if not _EMAIL.match(address.removeprefix("mailto:")):
        return "is not an email address"
    return None


def ascii_fold(text: str) -> str:
    """Accents dropped (``Jürgen`` → ``Jurgen``); characters with no ASCII form disappear."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def name_part(text: str) -> str:
    """A person's name reduced to what a local part may hold: lowercase ASCII letters and digits."""
    return re.sub(r"[^a-z0-9]", "", ascii_fold(text).lower())


def component_name(domain: str) -> str:
    """The MailDomain component name for a domain: its punycode name with dots as dashes.

    Part of every child URN, so changing it re-creates every domain's resources.
    """
    return domain.replace(".", "-")
