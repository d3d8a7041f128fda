"""Per-IP sending relays: the Postfix configuration of one host relay instance per floating IP.

Mailcow sends every message from one server-wide address (docs/mailcow-api.md §7), so each floating IP gets its
own small Postfix instance on the host, registered in Mailcow as a relayhost. We run host Postfix
instances rather than relay containers because: a container inside Mailcow's network is rewritten by
netfilter-mailcow's SNAT rule, which sits at position 1 of POSTROUTING and would override per-container
source addresses; a host process binds the floating IP directly with ``smtp_bind_address``; and the
very same configuration runs under Debian's Postfix in the loopback tests, so what is tested is what
is deployed.

Each instance listens only on the Mailcow bridge gateway (``172.22.1.1:<2525+N>``, unreachable from
outside), accepts mail only from Mailcow's Postfix container, and sends it from floating IP N with that
IP's PTR name as HELO. This module only renders text: the install script copies the files, and the relay
test runs them.

Only Mailcow's Postfix (``172.22.1.253/32``) may talk to a relay: every other container on the bridge is
refused at connect, and ``smtpd_delay_reject = no`` makes that refusal final. With Postfix's default of
delaying it to RCPT, a bare ``RCPT TO:<postmaster>`` is accepted from anyone, client restrictions or not
(tests/relay shows both against Debian's Postfix).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

#: The host's address on Mailcow's default bridge (``IPV4_NETWORK=172.22.1`` in mailcow.conf), and
#: postfix-mailcow's fixed address on it (``ipv4_address: ${IPV4_NETWORK}.253`` in Mailcow's compose file).
MAILCOW_GATEWAY = "172.22.1.1"
MAILCOW_POSTFIX = "172.22.1.253"
BASE_PORT = 2525
#: Mailcow's own message size limit, so the relay never refuses what Mailcow accepted.
MESSAGE_SIZE_LIMIT = 104857600


def relay_port(index: int) -> int:
    """The port of the relay for sending IP ``index`` (1..N)."""
    if index < 1:
        raise ValueError(f"relay index must be 1 or more (0 is Mailcow's own IP), got {index}")
    return BASE_PORT + index


def relayhost_address(index: int) -> str:
    """The relayhost Mailcow is given for sending IP ``index``, e.g. ``[172.22.1.1]:2526``."""
    return f"[{MAILCOW_GATEWAY}]:{relay_port(index)}"


@dataclass(frozen=True, kw_only=True)
class RelayConfig:
    """Everything that differs between relay instances, and between the server and the loopback test."""

    name: str
    """Instance name, e.g. ``relay1``: the syslog name and the directory suffix."""
    listen_address: str
    port: int
    bind_address: str
    """The source address of outgoing connections (the floating IP)."""
    helo_name: str
    """The HELO/EHLO name: the PTR name of ``bind_address``, so receivers see FCrDNS agree."""
    mynetworks: str = f"{MAILCOW_POSTFIX}/32"
    """The only clients served; everyone else is refused at connect."""
    extra_listen_addresses: tuple[str, ...] = ()
    """More addresses the smtpd listens on (same port), e.g. ``[::1]`` in the IPv6 test."""
    inet_protocols: str = "ipv4"
    config_directory: str = ""
    queue_directory: str = ""
    data_directory: str = ""
    maillog_file: Optional[str] = None
    """Log to this file through postlogd instead of syslog (tests: there is no syslog)."""
    relayhost: str = ""
    """Send everything to this next hop instead of the recipients' MX (tests only)."""
    dns: bool = True
    """Look up MX records; off for the loopback test, which must never query a resolver."""

    @classmethod
    def for_server(cls, index: int, bind_address: str, helo_name: str) -> "RelayConfig":
        """The production instance for sending IP ``index`` with the standard Debian/Ubuntu paths."""
        name = f"relay{index}"
        return cls(name=name, listen_address=MAILCOW_GATEWAY, port=relay_port(index), bind_address=bind_address,
                   helo_name=helo_name, config_directory=f"/etc/postfix-{name}",
                   queue_directory=f"/var/spool/postfix-{name}", data_directory=f"/var/lib/postfix-{name}")

    def __post_init__(self) -> None:
        for field_name in ("name", "listen_address", "bind_address", "helo_name", "config_directory",
                           "queue_directory", "data_directory"):
            value = getattr(self, field_name)
            if not value or any(c.isspace() for c in value):
                raise ValueError(f"RelayConfig.{field_name} must be a non-empty word, got {value!r}")
        for address in self.extra_listen_addresses:
            if not address or any(c.isspace() for c in address):
                raise ValueError(f"RelayConfig.extra_listen_addresses must hold non-empty words, got {address!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"RelayConfig.port must be 1..65535, got {self.port}")
        # postfix check refuses non-root files inside config_directory, and queue/data are postfix-owned.
        for inner in (self.queue_directory, self.data_directory):
            if inner.rstrip("/").startswith(self.config_directory.rstrip("/") + "/"):
                raise ValueError(f"{inner} must not be inside config_directory {self.config_directory}")


def render_main_cf(cfg: RelayConfig) -> str:
    """main.cf of one relay instance."""
    lines = [
        "# Rendered by coldmail (components/relay.py); edits are overwritten on the next deploy.",
        "compatibility_level = 3.6",
        f"queue_directory = {cfg.queue_directory}",
        f"data_directory = {cfg.data_directory}",
        f"syslog_name = postfix-{cfg.name}",
    ]
    if cfg.maillog_file:
        prefix = cfg.maillog_file.rsplit("/", 1)[0] or "/"
        lines += [f"maillog_file = {cfg.maillog_file}", f"maillog_file_prefixes = {prefix}"]
    lines += [
        f"myhostname = {cfg.helo_name}",
        "myorigin = $myhostname",
        # A pure relay: it never delivers locally, so nothing can be addressed to the host itself.
        "mydestination =",
        "local_recipient_maps =",
        "local_transport = error:local delivery disabled",
        "alias_maps =",
        "alias_database =",
        # The listener address is on the smtpd line in master.cf; inet_interfaces only has to be
        # satisfiable when the instance starts, and loopback always is.
        "inet_interfaces = loopback-only",
        f"inet_protocols = {cfg.inet_protocols}",
        f"mynetworks = {cfg.mynetworks}",
        "smtpd_client_restrictions = permit_mynetworks, reject",
        "smtpd_delay_reject = no",
        "smtpd_relay_restrictions = permit_mynetworks, reject",
        "smtpd_recipient_restrictions = permit_mynetworks, reject",
        "smtpd_peername_lookup = no",
        "smtpd_tls_security_level = none",
        f"message_size_limit = {MESSAGE_SIZE_LIMIT}",
        f"relayhost = {cfg.relayhost}",
        f"smtp_bind_address = {cfg.bind_address}",
        f"smtp_helo_name = {cfg.helo_name}",
        "smtp_tls_security_level = may",
        "smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt",
        "smtp_tls_loglevel = 1",
        "smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache",
        f"smtp_dns_support_level = {'dnssec' if cfg.dns else 'disabled'}",
        "disable_vrfy_command = yes",
        "biff = no",
    ]
    return "\n".join(lines) + "\n"


_MASTER_SERVICES = (
    # service     type        private unpriv chroot wakeup maxproc command
    ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
    ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
    ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
    ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
    ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
    ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
    ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
    ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
    ("proxywrite", "unix", "-", "-", "n", "-", "1", "proxymap"),
    ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
    ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
    ("tlsmgr", "unix", "-", "-", "n", "1000?", "1", "tlsmgr"),
    ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
    ("error", "unix", "-", "-", "n", "-", "-", "error"),
    ("retry", "unix", "-", "-", "n", "-", "-", "error"),
    ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
    ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
    ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
    ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
)


def render_master_cf(cfg: RelayConfig) -> str:
    """master.cf of one relay instance: an smtpd on ``listen_address:port`` (and the extra addresses), no chroot."""
    listeners = [(f"{address}:{cfg.port}", "inet", "n", "-", "n", "-", "-", "smtpd")
                 for address in (cfg.listen_address, *cfg.extra_listen_addresses)]
    rows = [*listeners, *_MASTER_SERVICES]
    out = ["# Rendered by coldmail (components/relay.py); edits are overwritten on the next deploy."]
    out += ["{:<22} {:<10} {:<7} {:<6} {:<6} {:<6} {:<7} {}".format(*r) for r in rows]
    return "\n".join(out) + "\n"


def render_files(cfg: RelayConfig) -> dict[str, str]:
    """``{"main.cf": …, "master.cf": …}`` for one instance."""
    return {"main.cf": render_main_cf(cfg), "master.cf": render_master_cf(cfg)}
