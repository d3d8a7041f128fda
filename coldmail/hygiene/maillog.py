"""Deliveries in Postfix's logs: who sent to whom, and what became of it.

Postfix logs the sender once per message (``qmgr: QUEUEID: from=<…>``) and the outcome once per recipient
and attempt (``smtp: QUEUEID: to=<…>, relay=…, dsn=5.1.1, status=bounced (…)``); queue ids are unique per
instance only, so an instance's syslog name (``postfix``, ``postfix-relay1``) is part of the key. Lines
may come from a mail log file, ``journalctl`` or ``docker compose logs``: only the part from the syslog
name on is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from .reports import bounce_kind

_TAG = r"(?P<instance>postfix[\w.-]*)/(?P<daemon>[\w/-]+)\[\d+\]: (?P<qid>[0-9A-Za-z]{6,20}): "
_FROM = re.compile(_TAG + r"from=<(?P<sender>[^>]*)>")
_TO = re.compile(_TAG + r"to=<(?P<rcpt>[^>]*)>,(?: orig_to=<[^>]*>,)? relay=(?P<relay>[^,]*),.*?"
                 r"dsn=(?P<dsn>\d\.\d{1,3}\.\d{1,3}), status=(?P<status>\w+)(?: \((?P<reason>.*)\))?\s*$")
#: Hops inside the stack, not deliveries: Mailcow handing mail to a sending relay on its bridge gateway
#: (172.22.1.1:2525+N), and local delivery into mailboxes.
_INTERNAL_RELAY = re.compile(r"^(172\.22\.1\.1\[|dovecot|lmtp|local|virtual|none$)")

SENT, BOUNCED, DEFERRED = "sent", "bounced", "deferred"


@dataclass(frozen=True)
class Delivery:
    """One recipient's outcome in one attempt."""

    instance: str
    queue_id: str
    sender: Optional[str]
    recipient: str
    relay: str
    status: str
    """``sent``, ``bounced`` or ``deferred`` (Postfix's ``expired`` counts as bounced)."""
    dsn: str
    reason: str

    @property
    def kind(self) -> Optional[str]:
        """``hard`` or ``soft`` for a failure (see :func:`coldmail.hygiene.reports.bounce_kind`), None when sent."""
        if self.status == SENT:
            return None
        return bounce_kind(self.dsn, "failed" if self.status == BOUNCED else "delayed", self.reason)

    @property
    def internal(self) -> bool:
        return bool(_INTERNAL_RELAY.match(self.relay))


def parse_maillog(lines: Iterable[str]) -> list[Delivery]:
    """Every delivery attempt in ``lines``, its sender filled in from the same instance's ``from=`` line."""
    senders: dict[tuple[str, str], str] = {}
    found: list[tuple[str, str, re.Match]] = []
    for line in lines:
        m = _FROM.search(line)
        if m:
            senders[(m.group("instance"), m.group("qid"))] = m.group("sender").lower()
            continue
        m = _TO.search(line)
        if m:
            found.append((m.group("instance"), m.group("qid"), m))
    out = []
    for instance, qid, m in found:
        status = {"expired": BOUNCED, "undeliverable": BOUNCED}.get(m.group("status"), m.group("status"))
        if status not in (SENT, BOUNCED, DEFERRED):
            continue
        out.append(Delivery(instance, qid, senders.get((instance, qid)), m.group("rcpt").lower(), m.group("relay"),
                            status, m.group("dsn"), m.group("reason") or ""))
    return out

