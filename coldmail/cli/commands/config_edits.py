"""Config edits: domain, mailbox and server add/remove, validated, previewed, and written only with ``--yes``.

An edit is computed from the stack file and checked with the config schema before the Pulumi CLI is
needed at all. Without ``yes`` the edit is written only for the preview and the stack file is put back
byte for byte afterwards; with ``yes`` it is written and applied, and a write that fails half way puts
the file back as it was.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Callable, Optional, Sequence

from coldmail.errors import ColdmailError
from coldmail.model.stackfile import namespaced
from coldmail.ops import automation, edits
from coldmail.ops.automation import DEFAULT_PARALLEL
from coldmail.ops.project import StackFileSnapshot, load_stack_file, stack_file

from ..output import LOG, Outcome, Progress
from ..session import Session
from .stack import next_steps, report_text


def _edit(session: Session, stack: str, command: str, make: Callable[[dict], edits.Edit], *, yes: bool,
          parallel: int) -> Outcome:
    out = Outcome(command, stack=stack)
    path = stack_file(session.project_dir, stack)
    edit = make(namespaced(load_stack_file(path)))
    edits.validate(edit)
    again = "coldmail " + shlex.join([*edit.argv, "--stack", stack, "--yes"])
    handle = automation.open_stack(session.stack_options(stack))
    automation.policy_pack(session.project_dir)  # before the file changes: an edit is never left half done
    snapshot = StackFileSnapshot(path)
    name = os.path.basename(path)
    result: dict[str, Any] = {"edit": edit.name, "target": edit.target, "operations": [o.to_dict() for o in edit.ops],
                              "preview": None, "applied": False, "written": False,
                              "apply_command": None if yes else again}
    out.result = result
    LOG.debug("%s: %d config operations", command, len(edit.ops))
    try:
        automation.write_config(handle, edit.ops)
    except BaseException:  # whatever stops the writes (the CLI, Ctrl-C), none of them stays
        snapshot.restore()
        raise
    ops = [f"  {o}" for o in edit.ops]
    if yes:
        result["written"] = True
        try:
            report = automation.up(handle, parallel=parallel, on_event=Progress(session.progress, operation="up"))
        except ColdmailError as exc:
            raise automation.OperationFailed(
                exc.message, f"{name} holds the edit: fix the cause and run `coldmail up --stack {stack} --yes`, "
                f"or drop the edit with `git checkout -- {name}`") from exc
        report.next_steps = next_steps(session, stack, report.outputs)
        result["preview"], result["applied"] = report.to_dict(), True
        out.text = "\n".join([f"{edit.name} {' '.join(edit.target)}: wrote {len(edit.ops)} change(s) to {name}",
                              *ops, report_text(report, "up")])
        return out
    try:
        report = automation.preview(handle, parallel=parallel,
                                    on_event=Progress(session.progress, operation="preview"))
    finally:
        snapshot.restore()
    result["preview"] = report.to_dict()
    out.text = "\n".join([f"{edit.name} {' '.join(edit.target)}: previewed {len(edit.ops)} change(s); "
                          f"{name} is unchanged", *ops, report_text(report, "preview"), f"Apply with: {again}"])
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
