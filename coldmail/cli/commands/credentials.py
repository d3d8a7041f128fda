"""``credentials export``: every mailbox's SMTP/IMAP login, for a sequencer's bulk import."""

from __future__ import annotations

import os

from coldmail.ops import automation, credentials

from ..output import Outcome, table
from ..session import Session


def credentials_export(session: Session, stack: str, *, out_file: str, fmt: str = "csv", force: bool = False,
                       show_passwords: bool = False) -> Outcome:
    """Write the logins to a new 0600 file; passwords appear in the result only with ``show_passwords``."""
    out = Outcome("credentials export", stack=stack)
    handle = automation.open_stack(session.stack_options(stack))
    rows = credentials.rows_from_outputs(automation.plain_outputs(automation.stack_outputs(handle)))
    if not rows:
        raise credentials.CredentialsError(f"stack {stack} has no mailbox credentials in its outputs",
                                           f"deploy first: coldmail up --stack {stack} --yes")
    path = os.path.abspath(out_file)
    credentials.write_private(path, credentials.render(rows, fmt), force=force)
    shown = rows if show_passwords else [credentials.masked(r) for r in rows]
    out.result = {"file": path, "format": fmt, "mode": "0600", "count": len(rows),
                  "columns": list(credentials.COLUMNS), "accounts": shown}
    out.text = "\n".join([
        table(["email", "smtp", "imap", "daily_limit"] + (["password"] if show_passwords else []),
              [[r["email"], f"{r['smtp_host']}:{r['smtp_port']}", f"{r['imap_host']}:{r['imap_port']}",
                r["daily_limit"]] + ([r["smtp_password"]] if show_passwords else []) for r in rows]),
        "", f"wrote {len(rows)} accounts to {path} (mode 0600)" +
        ("" if show_passwords else "; passwords are in the file only")])
    return out
