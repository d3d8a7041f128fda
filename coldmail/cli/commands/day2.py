"""What the day-2 commands share: the history and notifier of the session, and the servers they act on."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from coldmail.errors import UsageError
from coldmail.ops import remote
from coldmail.ops.history import Change, History, default_path
from coldmail.ops.notify import Delivery, Notifier

from ..session import Session


def history(session: Session) -> History:
    return History(default_path(session.project_dir, session.env))


def notifier(session: Session) -> Notifier:
    """The notifier of ``COLDMAIL_NOTIFY_URLS``; with none set, notifications are dropped (and logged)."""
    try:
        return Notifier.from_env(session.env)
    except ValueError as exc:
        raise UsageError(str(exc), "fix COLDMAIL_NOTIFY_URLS (space-separated apprise URLs)") from None


def alerts(changes: Sequence[Change], delivery: Optional[Delivery]) -> dict[str, Any]:
    """The ``alerts`` part of a result: what changed in the history, and whether a notification went out."""
    return {"changes": [{"check": c.observation.check, "subject": c.observation.subject,
                         "previous": c.previous, "status": c.observation.status,
                         "summary": c.observation.summary} for c in changes],
            "notified": bool(delivery and delivery.ok)}


def targets(session: Session, stack: str, server: Optional[str]) -> list[remote.Target]:
    """The named server, or every server of the stack."""
    return remote.stack_targets(session.stack_options(stack), [server] if server else None)


def one_target(session: Session, stack: str, server: Optional[str], command: str) -> remote.Target:
    """The named server, or the stack's only one; a stack with several needs ``--server``."""
    found = targets(session, stack, server)
    if len(found) > 1:
        raise UsageError(f"stack {stack} has {len(found)} servers ({', '.join(t.server for t in found)})",
                         f"name one: coldmail {command} --server {found[0].server}")
    return found[0]
