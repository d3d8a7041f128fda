"""Mailcow's containers over SSH: restart them, read their logs (and the sending relays'), look into
Postfix's queue.

Everything runs as ``docker compose`` in Mailcow's directory on the server (its compose project), so
container names and the project name come from Mailcow's own ``.env``. Service names are checked against
Mailcow's list and queue ids against Postfix's alphabet before they reach a shell.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from coldmail.errors import UsageError
from coldmail.model.host import MAILCOW_DIR
from coldmail.model.mailcow import SERVICES, service_container

from . import remote

#: Postfix's queue ids: short ones are hex, long ones (``enable_long_queue_ids``) base-52 letters and digits.
_QUEUE_ID = re.compile(r"^[0-9A-Za-z]{6,20}$")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")
# `docker compose logs --timestamps`: "<container>  | <RFC 3339 time> <line>"; without them "<container>  | <line>".
_LOG_LINE = re.compile(r"^(?P<container>\S+)\s+\|\s?(?:(?P<time>\d{4}-\d{2}-\d{2}T\S+)\s)?(?P<message>.*)$")


def compose(*args: str) -> str:
    """A ``docker compose`` line run in Mailcow's directory, every argument quoted."""
    return f'cd "${{ROOT:-}}{MAILCOW_DIR}" && docker compose ' + " ".join(shlex.quote(a) for a in args)


def check_service(service: str) -> str:
    """The compose service of a Mailcow service name (``postfix`` or ``postfix-mailcow``).

    :raises UsageError: naming the services there are.
    """
    name = service.removesuffix("-mailcow")
    if name not in SERVICES:
        raise UsageError(f"{service!r} is not a Mailcow service", f"use one of: {', '.join(SERVICES)}")
    return service_container(name)


def check_queue_id(queue_id: str) -> str:
    if not _QUEUE_ID.match(queue_id):
        raise UsageError(f"{queue_id!r} is not a Postfix queue id",
                         "take it from `coldmail server queue NAME` (e.g. 4F2A1C3B9D)")
    return queue_id


def docker_since(since: str) -> str:
    """``--since`` as ``docker compose logs`` takes it: ``30m``, ``12h``, ``2d`` (as hours) or an RFC 3339 time.

    :raises UsageError: for anything else.
    """
    since = since.strip()
    m = _DURATION.match(since)
    if m:
        return f"{int(m.group(1)) * 24}h" if m.group(2) == "d" else since
    if _TIMESTAMP.match(since):
        return since
    raise UsageError(f"--since {since!r} is neither a duration nor a time",
                     "write it like 30m, 12h, 2d or 2026-08-05T10:00:00Z")


# --------------------------------------------------------------------------------------------
# restart
# --------------------------------------------------------------------------------------------

def restart(target: remote.Target, service: Optional[str] = None) -> list[str]:
    """Restart one service (``docker compose restart <service>-mailcow``) or, without one, all of them.

    :return: the compose services restarted; ``["all"]`` for the whole project.
    """
    services = [check_service(service)] if service else []
    remote.run(target, compose("restart", *services), timeout=900)
    return services or ["all"]


# --------------------------------------------------------------------------------------------
# logs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogLine:
    container: str
    time: Optional[str]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"container": self.container, "time": self.time, "message": self.message}


def parse_compose_logs(text: str) -> list[LogLine]:
    """``docker compose logs`` output as lines; a line without the ``container |`` prefix continues the last one."""
    lines: list[LogLine] = []
    for raw in text.splitlines():
        m = _LOG_LINE.match(raw)
        if m:
            lines.append(LogLine(m.group("container"), m.group("time"), m.group("message")))
        elif raw.strip() and lines:
            last = lines[-1]
            lines[-1] = LogLine(last.container, last.time, last.message + "\n" + raw)
    return lines


def logs(target: remote.Target, service: str, *, since: Optional[str] = None,
         tail: Optional[int] = 1000) -> list[LogLine]:
    """The last ``tail`` lines (None: all) of one service's logs, optionally only those since ``since``."""
    args = ["logs", "--no-color", "--timestamps", "--tail", "all" if tail is None else str(tail)]
    if since:
        args += ["--since", docker_since(since)]
    result = remote.run(target, compose(*args, check_service(service)), timeout=300)
    return parse_compose_logs(result.stdout)


def relay_logs(target: remote.Target, since: str) -> list[str]:
    """The journal of the host's sending relays (``coldmail-relay@N``, one Postfix per floating IP) since ``since``."""
    m = _DURATION.match(since.strip())
    if m:
        start = f"-{m.group(1)}{m.group(2)}"
    else:
        t = _dt.datetime.fromisoformat(docker_since(since).replace("Z", "+00:00"))
        start = (t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)).astimezone(_dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    result = remote.run(target, "journalctl --no-pager -o short-iso -u 'coldmail-relay@*' --since "
                        + shlex.quote(start), timeout=300)
    return result.stdout.splitlines()


# --------------------------------------------------------------------------------------------
# the Postfix queue
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueuedMessage:
    """One message of ``postqueue -j``: a JSON object per line."""

    queue_id: str
    queue_name: str
    arrival_time: Optional[int]
    size: Optional[int]
    sender: str
    recipients: tuple[tuple[str, Optional[str]], ...]
    """``(address, delay_reason)`` per recipient not yet delivered."""

    def to_dict(self) -> dict[str, Any]:
        arrival = (_dt.datetime.fromtimestamp(self.arrival_time, _dt.timezone.utc).isoformat()
                   if self.arrival_time is not None else None)
        return {"queue_id": self.queue_id, "queue_name": self.queue_name, "arrival_time": arrival,
                "size": self.size, "sender": self.sender,
                "recipients": [{"address": a, "delay_reason": r} for a, r in self.recipients]}


def parse_postqueue(text: str) -> list[QueuedMessage]:
    messages = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        messages.append(QueuedMessage(
            queue_id=str(doc.get("queue_id", "")), queue_name=str(doc.get("queue_name", "")),
            arrival_time=doc.get("arrival_time"), size=doc.get("message_size"), sender=str(doc.get("sender", "")),
            recipients=tuple((str(r.get("address", "")), r.get("delay_reason")) for r in doc.get("recipients") or [])))
    return messages


@dataclass
class QueueReport:
    messages: list[QueuedMessage] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Messages per queue, and the deferred recipients by reason and by destination domain, biggest first."""
        by_queue = Counter(m.queue_name for m in self.messages)
        reasons: Counter[str] = Counter()
        destinations: Counter[str] = Counter()
        for m in self.messages:
            if m.queue_name != "deferred":
                continue
            for address, reason in m.recipients:
                reasons[reason or "(no reason given)"] += 1
                destinations[address.rpartition("@")[2].lower() or address] += 1
        return {"total": len(self.messages), "by_queue": dict(sorted(by_queue.items())),
                "deferred_by_reason": _ranked(reasons, "reason"),
                "deferred_by_destination": _ranked(destinations, "domain")}


def _ranked(counts: Counter, key: str) -> list[dict[str, Any]]:
    return [{key: k, "recipients": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _postfix(*args: str) -> str:
    return compose("exec", "-T", service_container("postfix"), *args)


def queue(target: remote.Target) -> QueueReport:
    return QueueReport(parse_postqueue(remote.run(target, _postfix("postqueue", "-j"), timeout=300).stdout))


def flush(target: remote.Target, queue_id: Optional[str] = None) -> None:
    """Retry delivery now: one message (``postqueue -i ID``) or the whole queue (``postqueue -f``)."""
    args = ("postqueue", "-i", check_queue_id(queue_id)) if queue_id else ("postqueue", "-f")
    remote.run(target, _postfix(*args), timeout=300)


def delete(target: remote.Target, queue_id: str) -> bool:
    """Delete one message from the queue (``postsuper -d ID``); False when Postfix had no such message."""
    result = remote.run(target, _postfix("postsuper", "-d", check_queue_id(queue_id)), timeout=300)
    return re.search(r"Deleted: [1-9]", result.stderr + result.stdout) is not None

