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
