"""Ports: what Mailcow serves, what a mail client uses, and what must never be reachable."""

from __future__ import annotations

SSH = 22
SMTP = 25
SUBMISSIONS = 465
SUBMISSION = 587
IMAP = 143
IMAPS = 993
POP3 = 110
POP3S = 995
SIEVE = 4190
HTTP = 80
HTTPS = 443

#: Inbound ports Mailcow serves; everything else but SSH stays closed.
MAILCOW_INBOUND = (SMTP, SUBMISSIONS, SUBMISSION, IMAP, IMAPS, POP3, POP3S, SIEVE, HTTP, HTTPS)
#: The ports without which mail to and from the server fails, open to everyone.
MAIL_REQUIRED = (SMTP, SUBMISSIONS, SUBMISSION, IMAP, IMAPS)
#: Mailcow's internal services and the Docker daemon: reachable from outside, each is a takeover. 13306
#: and 7654 are the host ports mailcow.conf gives MySQL and Redis (``SQL_PORT``, ``REDIS_PORT``).
INTERNAL = (2375, 2376, 3306, 3310, 6379, 7654, 8080, 8081, 8983, 9000, 9001, 9002, 9081, 10001, 11211,
            11334, 13306, 19991, 20000)
#: Served only when the stack enables them (``servers[].pop3`` / ``servers[].sieve``): cold email needs
#: neither, and each is one more login endpoint to guess passwords at.
POP3_PORTS = (POP3, POP3S)
SIEVE_PORTS = (SIEVE,)
#: The mailcow.conf key that publishes each mail port; its value is ``[host-ip:]port``.
MAILCOW_CONF_KEYS = {SMTP: "SMTP_PORT", SUBMISSIONS: "SMTPS_PORT", SUBMISSION: "SUBMISSION_PORT", IMAP: "IMAP_PORT",
                     IMAPS: "IMAPS_PORT", POP3: "POP_PORT", POP3S: "POPS_PORT", SIEVE: "SIEVE_PORT"}


def inbound_ports(pop3: bool, sieve: bool) -> tuple[int, ...]:
    """The ports a server serves to everyone: Mailcow's inbound ports minus the optional ones left off."""
    closed = set(() if pop3 else POP3_PORTS) | set(() if sieve else SIEVE_PORTS)
    return tuple(p for p in MAILCOW_INBOUND if p not in closed)
