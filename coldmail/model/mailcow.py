"""Facts about Mailcow that more than one layer relies on: limits, key sizes, what its API accepts."""

from __future__ import annotations

import re
from typing import Optional

MIB = 1024 * 1024
#: The sizes Mailcow's UI offers; below 384 bits its openssl call fails, past 4096 it is not offered.
DKIM_KEY_SIZES = (1024, 2048, 3072, 4096)
#: RFC 8301 asks for 2048 bits: the schema and the policy pack's dkim-key-size rule refuse smaller keys.
DKIM_MIN_STRONG_BITS = 2048
DKIM_STRONG_KEY_SIZES = tuple(n for n in DKIM_KEY_SIZES if n >= DKIM_MIN_STRONG_BITS)
DEFAULT_DKIM_SELECTOR = "dkim"
_API_KEY = re.compile(r"^[A-Za-z0-9-]{16,255}$")
_RELEASE_TAG = re.compile(r"^\d{4}-\d{2}[a-z]?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

#: The commit each mailcow-dockerized release tag points at (read from the upstream repository with
#: ``git rev-parse "<tag>^{commit}"``). The install checks the tag out only when it resolves to this
#: commit, so a tag moved upstream cannot change what runs. Other tags need ``servers[].mailcowCommit``.
RELEASE_COMMITS = {
    "2026-07a": "489db905122d20487e29c9a8438b311c403442ab",
    "2026-07": "96a70652c320d1c76979610df13c71f363ecc2de",
    "2026-05c": "2ac4b1deaee50e1284d644cecc16dcb0b37e67e2",
    "2026-05b": "1eb6d2e26cf234bd2e80f32b5f556b5e173ed33b",
    "2026-05a": "384e2f6ac1c03c9d92b22b3d53e16afe3d677e99",
    "2026-05": "32156a337a8a531ae0b43012c2367b91289f309f",
    "2026-03b": "281cf93db359554e8f4ca941351d5ba157325cc7",
    "2026-03a": "a693325fe6f0ddd4c2c63bc0e467f6aa41d721b4",
    "2026-03": "b84ba8ded12fc5646a634cf8d39f8a5c9b298088",
    "2026-01": "4ccfedd6b334232dd8869af6553e9deb6b4335f6",
}
#: How an operator finds the commit of a tag that is not in RELEASE_COMMITS.
COMMIT_LOOKUP = "git ls-remote https://github.com/mailcow/mailcow-dockerized 'refs/tags/{tag}'"

#: The images Mailcow's compose file leaves on a moving tag (``mcuadros/ofelia:latest``, ``memcached:alpine``),
#: by compose service, with the release tag coldmail pins instead (both as upstream published them in
#: 2026-07). A digest from ``servers[].imageDigests`` pins the content as well; without one, the install
#: pins the digest it pulled first.
PINNED_IMAGES = {
    "ofelia-mailcow": "mcuadros/ofelia:0.3.21",
    "memcached-mailcow": "memcached:1.6.45-alpine",
}
#: How an operator reads the digest of a pinned image (run anywhere with Docker).
DIGEST_LOOKUP = "docker buildx imagetools inspect {image} --format '{{{{json .Manifest.Digest}}}}'"

#: Mailcow's compose services, each run as container ``<name>-mailcow`` (docker-compose.yml).
SERVICES = ("unbound", "mysql", "redis", "clamd", "rspamd", "php-fpm", "sogo", "dovecot", "postfix",
            "postfix-tlspol", "memcached", "nginx", "acme", "netfilter", "watchdog", "dockerapi", "olefy", "ofelia")
#: What ``helper-scripts/backup_and_restore.sh`` backs up and restores, each its own archive
#: (docs/mailcow-api.md §8); ``all`` means every one of them.
BACKUP_PARTS = ("vmail", "crypt", "redis", "rspamd", "postfix", "mysql")


def service_container(service: str) -> str:
    """The compose service name of a Mailcow service: ``postfix`` → ``postfix-mailcow``."""
    return f"{service}-mailcow"


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


def commit_problem(sha: str) -> Optional[str]:
    if not _COMMIT.match(sha):
        return "is not a full git commit id (40 lowercase hex digits)"
    return None


def image_digest_problem(digest: str) -> Optional[str]:
    if not _DIGEST.match(digest):
        return "is not an image digest such as sha256:<64 hex digits>"
    return None
