"""``server restart | logs | queue``: Mailcow's containers on one server, over SSH."""

from __future__ import annotations

from typing import Any, Optional

from coldmail.errors import EXIT_BAD_INPUT
from coldmail.ops import services

from ..output import ErrorEntry, Outcome, table
from ..session import Session
from . import day2


def server_restart(session: Session, stack: str, name: str, *, service: Optional[str] = None) -> Outcome:
    """Restart one Mailcow service (``docker compose restart <service>-mailcow``), or all of them."""
    out = Outcome("server restart", stack=stack)
    if service:
        services.check_service(service)
    target = day2.one_target(session, stack, name, "server restart")
    restarted = services.restart(target, service)
    out.result = {"server": name, "services": restarted}
    out.text = f"{name}: restarted {', '.join(restarted)}"
    return out


def server_logs(session: Session, stack: str, name: str, *, service: str, since: Optional[str] = None,
                tail: int = 1000) -> Outcome:
    """The logs of one Mailcow service, as lines with their container and time."""
    out = Outcome("server logs", stack=stack)
    container = services.check_service(service)
    if since:
        services.docker_since(since)
    target = day2.one_target(session, stack, name, "server logs")
    lines = services.logs(target, service, since=since, tail=tail)
    out.result = {"server": name, "service": container, "since": since, "count": len(lines),
                  "lines": [line.to_dict() for line in lines]}
    out.text = "\n".join(f"{line.time or '-'} {line.container} | {line.message}" for line in lines)
    return out


def _queue_text(name: str, report: services.QueueReport) -> str:
    s = report.summary()
    lines = [f"{name}: {s['total']} message(s) queued"
             + (" (" + ", ".join(f"{q} {n}" for q, n in s["by_queue"].items()) + ")" if s["by_queue"] else "")]
    if s["deferred_by_reason"]:
        lines += ["", "deferred, by reason:",
                  table(["recipients", "reason"], [[r["recipients"], r["reason"][:110]] for r in s["deferred_by_reason"]],
                        indent="  "),
                  "", "deferred, by destination:",
                  table(["recipients", "domain"], [[d["recipients"], d["domain"]] for d in s["deferred_by_destination"]],
                        indent="  ")]
    if report.messages:
        lines += ["", table(["queue id", "queue", "sender", "recipients"],
                            [[m.queue_id, m.queue_name, m.sender, ", ".join(a for a, _ in m.recipients)]
                             for m in report.messages])]
    return "\n".join(lines)


def server_queue(session: Session, stack: str, name: str, *, flush: Optional[str] = None,
                 delete: Optional[str] = None, yes: bool = False) -> Outcome:
    """Postfix's queue: deferred mail by reason and destination. ``flush`` retries now (``""``: everything,
    else one queue id); ``delete`` removes one message, after a confirmation or with ``yes``."""
    out = Outcome("server queue", stack=stack)
    if flush:
        services.check_queue_id(flush)
    if delete:
        services.check_queue_id(delete)
    target = day2.one_target(session, stack, name, "server queue")
    action: dict[str, Any] = {"flushed": None, "deleted": None, "found": None}
    if flush is not None:
        services.flush(target, flush or None)
        action["flushed"] = flush or "all"
    if delete:
        answer = yes or session.confirm(f"Delete message {delete} from {name}'s queue? It is never delivered then.")
        if answer is None:
            out.exit_code = EXIT_BAD_INPUT
            out.errors.append(ErrorEntry("confirmation_required", "not deleted: nobody to confirm",
                                         fix=f"re-run with --yes: coldmail server queue {name} --delete {delete} --yes"))
        elif answer:
            action["deleted"] = delete
            action["found"] = services.delete(target, delete)
            if not action["found"]:
                out.warnings.append(f"{delete} was not in the queue (delivered or deleted already?)")
    report = services.queue(target)
    out.result = {"server": name, "summary": report.summary(), "messages": [m.to_dict() for m in report.messages],
                  "action": action}
    out.text = _queue_text(name, report)
    return out
