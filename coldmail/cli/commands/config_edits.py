"""Config edits: domain, mailbox and server add/remove, written to the stack config, then previewed."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from coldmail.ops import automation, edits
from coldmail.ops.automation import DEFAULT_PARALLEL

from ..output import LOG, Outcome, Progress
from ..session import Session
from .stack import next_steps, report_text


def _edit(session: Session, stack: str, command: str, make: Callable[[dict], edits.Edit], *, yes: bool,
          parallel: int) -> Outcome:
    out = Outcome(command, stack=stack)
    handle = automation.open_stack(session.stack_options(stack))
    raw = edits.raw_from_config_map(automation.read_config(handle))
    edit = make(raw)
    edits.validate(edit)
    LOG.debug("%s: writing %d config operations", command, len(edit.ops))
    automation.write_config(handle, edit.ops)
    result: dict[str, Any] = {"edit": edit.name, "target": edit.target, "operations": [o.to_dict() for o in edit.ops],
                              "preview": None, "applied": False}
    out.result = result
    lines = [f"{edit.name} {' '.join(edit.target)}: wrote {len(edit.ops)} change(s) to "
             f"Pulumi.{stack}.yaml"] + [f"  {o}" for o in edit.ops]
    if yes:
        report = automation.up(handle, parallel=parallel, on_event=Progress(session.progress, operation="up"))
        report.next_steps = next_steps(session, stack, report.outputs)
        result["preview"], result["applied"] = report.to_dict(), True
        lines.append(report_text(report, "up"))
    else:
        report = automation.preview(handle, parallel=parallel, on_event=Progress(session.progress, operation="preview"))
        result["preview"] = report.to_dict()
        lines.append(report_text(report, "preview"))
        lines.append(f"Apply with: coldmail up --stack {stack} --yes")
    out.text = "\n".join(lines)
    return out


def domain_add(session: Session, stack: str, name: str, *, server: Optional[str] = None, ip: Optional[int] = None,
               mailboxes: Optional[int] = None, yes: bool = False, parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Add a sending domain (default: the least-loaded server and floating IP, 3 mailboxes)."""
    return _edit(session, stack, "domain add", lambda raw: edits.domain_add(raw, name, server, ip, mailboxes),
                 yes=yes, parallel=parallel)


def domain_remove(session: Session, stack: str, name: str, *, yes: bool = False,
                  parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Remove a domain and its mailboxes."""
    return _edit(session, stack, "domain remove", lambda raw: edits.domain_remove(raw, name), yes=yes,
                 parallel=parallel)


def domain_move(session: Session, stack: str, name: str, *, ip: int, yes: bool = False,
                parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Move a domain to another sending IP of its server; its SPF and relayhost follow (edit, then preview)."""
    return _edit(session, stack, "domain move", lambda raw: edits.domain_move(raw, name, ip), yes=yes,
                 parallel=parallel)


def mailbox_add(session: Session, stack: str, addresses: Sequence[str], *, name: Optional[str] = None,
                yes: bool = False, parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Add mailboxes to their domains' explicit lists."""
    return _edit(session, stack, "mailbox add", lambda raw: edits.mailbox_add(raw, addresses, name), yes=yes,
                 parallel=parallel)


def mailbox_remove(session: Session, stack: str, addresses: Sequence[str], *, yes: bool = False,
                   parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Remove mailboxes."""
    return _edit(session, stack, "mailbox remove", lambda raw: edits.mailbox_remove(raw, addresses), yes=yes,
                 parallel=parallel)


def server_add(session: Session, stack: str, name: str, *, hostname: str, floating_ips: int, ssh_public_key: str,
               admin_cidrs: Sequence[str], location: Optional[str] = None, server_type: Optional[str] = None,
               yes: bool = False, parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Add a mail server; its Mailcow API key is generated and stored encrypted."""
    return _edit(session, stack, "server add", lambda raw: edits.server_add(
        raw, name, hostname, floating_ips, ssh_public_key, admin_cidrs, location=location, server_type=server_type),
        yes=yes, parallel=parallel)


def server_remove(session: Session, stack: str, name: str, *, yes: bool = False,
                  parallel: int = DEFAULT_PARALLEL) -> Outcome:
    """Remove a server no domain uses."""
    return _edit(session, stack, "server remove", lambda raw: edits.server_remove(raw, name), yes=yes,
                 parallel=parallel)
