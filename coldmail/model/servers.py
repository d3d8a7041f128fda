"""``coldmail:servers``: the Mailcow hosts, their sending IPs and how they are reached."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Mapping, Optional

from .catalogue import IMAGES, LOCATIONS, MIN_MEMORY_GB, SERVER_TYPES
from .errors import ConfigIssue
from .mailcow import (COMMIT_LOOKUP, DIGEST_LOOKUP, PINNED_IMAGES, RELEASE_COMMITS, api_key_problem, commit_problem,
                      image_digest_problem, release_tag_problem)
from .names import in_zone, normalise_domain, registrable_domain, server_name_problem
from .networks import covers_internet, parse_network
from .reader import NAMESPACE, Section, is_secure
from .types import Server

_SSH_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) "
                      r"[A-Za-z0-9+/=]{16,}( .*)?$")
KEYS = ("name", "hostname", "zone", "zoneId", "location", "serverType", "image", "floatingIps", "ptrNames",
        "sshPublicKey", "adminCidrs", "timezone", "mailcowVersion", "skipClamd", "allowSmallServer",
        "ipv6", "mailcowTlsVerify", "mailcowCaBundle", "mailcowApiKey", "apiCidrs", "allowSshFromInternet",
        "adminUiCidrs", "pop3", "sieve", "mailcowCommit", "imageDigests",
        "adoptRelayhosts")
#: Where the operator reads why and how to reach the server from CI without opening it.
SECURITY_DOC = "docs/security.md §6"
_TZ_NAME = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(name: str) -> Optional[str]:
    """Why ``name`` is not an IANA time zone name, or None; it ends up in a root shell on the server."""
    if not _TZ_NAME.match(name) or name not in _time_zones():
        return "is not an IANA time zone name"
    return None


def ssh_public_key_problem(key: str) -> Optional[str]:
    return None if _SSH_KEY.match(key) else "is not an OpenSSH public key"


def check_fqdn(r: Section, key: str, value: Optional[str], what: str) -> Optional[str]:
    """The normalised name, or None after reporting why ``value`` is not one."""
    if value is None:
        return None
    try:
        return normalise_domain(value)
    except ValueError as exc:
        r.error(key, f"{what} {value!r} is invalid: {exc}", "use a name like mx1.example.com, no trailing dot")
        return None


def default_ptr_name(hostname: str, index: int) -> str:
    """The PTR name of floating IP ``index`` when none is configured: ``mx1.z.com`` → ``mx1-ip2.z.com``."""
    head, _, rest = hostname.partition(".")
    return f"{head}-ip{index}.{rest}"


def read_cidrs(r: Section, key: str, items: list) -> list[str]:
    """The entries of a CIDR list, each reported when it is not a network."""
    for k, c in enumerate(items):
        if parse_network(c) is None:
            r.error(f"{key}[{k}]", f"{c!r} is not an IP network", "write it as 203.0.113.4/32")
    return [str(c).strip() for c in items]


def _read_access(r: Section) -> tuple[list[str], list[str], list[str], bool]:
    """adminCidrs (SSH), apiCidrs (the Mailcow API), adminUiCidrs (/admin) and the SSH-from-anywhere opt-in."""
    narrow = f"list only the networks you deploy from (your office, a self-hosted CI runner's fixed IP; {SECURITY_DOC})"
    admin = read_cidrs(r, "adminCidrs", r.list(
        "adminCidrs", required=True, fix="list the networks allowed to SSH in, e.g. `[203.0.113.4/32]`"))
    if r.has("adminCidrs") and not admin:
        r.error("adminCidrs", "is empty: nothing could reach SSH, so coldmail could never install or update the server",
                "list the networks you deploy from, e.g. `[203.0.113.4/32]`")
    ssh_anywhere = r.bool("allowSshFromInternet", False)
    if covers_internet(admin) and not ssh_anywhere:
        r.error("adminCidrs", f"{admin} covers the whole internet: SSH would be open to everyone",
                f"{narrow}; or set `allowSshFromInternet: true` to accept SSH from anywhere")
    if r.has("apiCidrs"):
        api = read_cidrs(r, "apiCidrs", r.list("apiCidrs"))
        if not api:
            r.error("apiCidrs", "is empty: the Mailcow providers of `pulumi up` could not reach the API",
                    "list the networks `pulumi up` runs from, or remove `apiCidrs` to use `adminCidrs`")
        if covers_internet(api):
            r.error("apiCidrs", f"{api} covers the whole internet: the Mailcow API key would be its only lock",
                    narrow)
    else:
        api = admin
        if covers_internet(admin) and ssh_anywhere:
            r.error("apiCidrs", "is required when adminCidrs covers the whole internet: the Mailcow API is never "
                    "opened to everyone", f"set `apiCidrs` and {narrow}")
    ui = read_cidrs(r, "adminUiCidrs", r.list("adminUiCidrs"))
    if r.has("adminUiCidrs") and (not ui or covers_internet(ui)):
        r.error("adminUiCidrs", f"{ui} is no allow-list for /admin",
                "list the networks that may open Mailcow's /admin, or remove `adminUiCidrs`")
    return admin, api, ui, ssh_anywhere


def _read_pins(r: Section, version: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """mailcowCommit (the commit the release tag must resolve to) and the image digests to pin."""
    known = RELEASE_COMMITS.get(version)
    lookup = COMMIT_LOOKUP.format(tag=version)
    commit = r.str("mailcowCommit") or known or ""
    if not commit:
        r.error("mailcowCommit", f"is required for mailcowVersion {version!r}: coldmail knows no commit for that tag",
                f"set it to the commit the tag points at, from `{lookup}` (the line ending in ^{{}} when there is one)")
    elif commit_problem(commit):
        r.error("mailcowCommit", f"{commit!r} {commit_problem(commit)}", f"copy the full id from `{lookup}`")
    elif known and commit != known:
        r.error("mailcowCommit", f"{commit} is not the commit of release {version} ({known})",
                f"remove `mailcowCommit`, or check the tag with `{lookup}`")
    raw = r.data.get("imageDigests")
    digests = Section(r.issues, r.sub("imageDigests"), raw, tuple(PINNED_IMAGES)).data if raw is not None else {}
    for service, digest in digests.items():
        if service in PINNED_IMAGES and (not isinstance(digest, str) or image_digest_problem(digest)):
            image = PINNED_IMAGES[service]
            r.error(f"imageDigests.{service}", f"{digest!r} is not an image digest such as sha256:<64 hex digits>",
                    f"read it with `{DIGEST_LOOKUP.format(image=image)}`")
    pins = tuple(sorted((k, v) for k, v in digests.items()
                        if k in PINNED_IMAGES and isinstance(v, str) and not image_digest_problem(v)))
    return commit, pins


def read_servers(issues: list[ConfigIssue], items: list) -> list[Server]:
    servers: list[Server] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        r = Section(issues, f"{NAMESPACE}:servers[{i}]", item, KEYS)
        name = r.str("name", required=True, fix="give the server a short name like `mx1`") or f"server{i}"
        if server_name_problem(name):
            r.error("name", f"{name!r} is not a valid server name", "use 2-32 of a-z 0-9 -, starting with a letter")
        if name in names:
            r.error("name", f"duplicate server name {name!r} (also servers[{names[name]}])", "give each server its own name")
        names.setdefault(name, i)
        hostname = check_fqdn(r, "hostname", r.str("hostname", required=True,
                                                   fix="set the Mailcow hostname, e.g. `mx1.mail-ops.com`"), "hostname")
        if hostname and hostname.count(".") < 2:
            r.error("hostname", f"{hostname!r} has only one dot; Mailcow needs a full host name",
                    f"use a subdomain such as mx1.{hostname}")
        zone = r.str("zone") or (registrable_domain(hostname) if hostname else None) or ""
        if hostname and zone and not in_zone(hostname, zone):
            r.error("zone", f"hostname {hostname!r} is not inside zone {zone!r}", "set `zone` to the Cloudflare zone that holds the hostname")
        location = r.choice("location", "fsn1", LOCATIONS)
        server_type = r.str("serverType", "cx42") or "cx42"
        memory, disk = SERVER_TYPES.get(server_type, (0, 0))
        if not memory:
            r.error("serverType", f"unknown Hetzner server type {server_type!r}",
                    f"use one of {', '.join(sorted(SERVER_TYPES))}")
        skip_clamd = r.bool("skipClamd", False)
        allow_small = r.bool("allowSmallServer", False)
        if memory and memory < MIN_MEMORY_GB and not (skip_clamd and allow_small):
            r.error("serverType", f"{server_type} has {memory} GB RAM; Mailcow needs 6 GiB + swap",
                    "use cx32/cpx31 (8 GB) or larger, or set both `skipClamd: true` and `allowSmallServer: true`")
        image = r.choice("image", "debian-12", IMAGES)
        before = len(issues)
        n_fips = r.int("floatingIps", 0, 0, 20)
        fips_known = len(issues) == before
        ptr_raw = r.list("ptrNames")
        ptr_names: list[str] = []
        if ptr_raw and len(ptr_raw) != n_fips and fips_known:
            r.error("ptrNames", f"has {len(ptr_raw)} names for {n_fips} floating IPs", "give exactly one PTR name per floating IP, or remove `ptrNames`")
        for k in range(n_fips):
            if k < len(ptr_raw) and isinstance(ptr_raw[k], str):
                ptr = check_fqdn(r, f"ptrNames[{k}]", ptr_raw[k], "PTR name") or ""
                if ptr and zone and not ptr.endswith("." + zone):
                    r.error(f"ptrNames[{k}]", f"{ptr!r} is outside zone {zone!r}, so coldmail cannot create its A record",
                            f"use a name under {zone}")
            else:
                ptr = default_ptr_name(hostname or f"{name}.invalid.example", k + 1)
            ptr_names.append(ptr)
        key = r.str("sshPublicKey", required=True, fix="paste your public key: `ssh-ed25519 AAAA… you@laptop`")
        if key and ssh_public_key_problem(key):
            r.error("sshPublicKey", "is not an OpenSSH public key", "paste the one line from ~/.ssh/id_ed25519.pub")
        admin_cidrs, api_cidrs, ui_cidrs, ssh_anywhere = _read_access(r)
        version = r.str("mailcowVersion", "2026-07a") or "2026-07a"
        if release_tag_problem(version):
            r.error("mailcowVersion", f"{version!r} is not a Mailcow release tag", "pin a tag such as 2026-07a")
        commit, image_digests = _read_pins(r, version)
        timezone = r.str("timezone", "Europe/Berlin") or "Europe/Berlin"
        if timezone_problem(timezone):
            r.error("timezone", f"{timezone!r} {timezone_problem(timezone)}",
                    "use a name such as Europe/Berlin or UTC (`timedatectl list-timezones` lists them)")
        api_key_raw = item.get("mailcowApiKey") if isinstance(item, Mapping) else None
        api_key = api_key_raw if isinstance(api_key_raw, str) else None
        if api_key is not None and api_key_problem(api_key):
            r.error("mailcowApiKey", api_key_problem(api_key) or "",
                    f"generate one: openssl rand -hex 24 | pulumi config set --secret --path "
                    f"'coldmail:servers[{i}].mailcowApiKey'")
            api_key = None
        servers.append(Server(
            name=name, hostname=hostname or "", zone=zone, zone_id=r.str("zoneId"), location=location,
            server_type=server_type, memory_gb=memory, disk_gb=disk, image=image, floating_ips=n_fips,
            ptr_names=tuple(ptr_names), ssh_public_key=key or "", admin_cidrs=tuple(admin_cidrs),
            timezone=timezone, mailcow_version=version,
            skip_clamd=skip_clamd, ipv6=r.bool("ipv6", True), mailcow_tls_verify=r.bool("mailcowTlsVerify", True),
            mailcow_ca_bundle=r.str("mailcowCaBundle"), adopt_relayhosts=r.bool("adoptRelayhosts", False),
            api_key=api_key,
            api_key_is_set=api_key is not None or is_secure(api_key_raw), index=i,
            api_cidrs=tuple(api_cidrs), admin_ui_cidrs=tuple(ui_cidrs), ssh_from_internet=ssh_anywhere,
            pop3=r.bool("pop3", False), sieve=r.bool("sieve", False), mailcow_commit=commit,
            image_digests=image_digests))
    return servers


def check_ptr_names_unique(issues: list[ConfigIssue], servers: list[Server]) -> None:
    """FCrDNS needs one name per IP: a PTR name used twice, or equal to a server's hostname (the primary
    IP's PTR), gives two A records for one name."""
    seen: dict[str, str] = {s.hostname: f"servers[{i}].hostname" for i, s in enumerate(servers) if s.hostname}
    for i, s in enumerate(servers):
        for k, ptr in enumerate(s.ptr_names):
            if ptr in seen:
                issues.append(ConfigIssue(f"{NAMESPACE}:servers[{i}].ptrNames[{k}]",
                                          f"PTR name {ptr!r} is also used by {seen[ptr]}",
                                          "give every IP its own PTR name (FCrDNS needs a 1:1 mapping)"))
            seen.setdefault(ptr, f"servers[{i}].ptrNames[{k}]")
