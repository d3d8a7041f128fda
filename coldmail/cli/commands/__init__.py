"""The commands as typed functions: ``f(session, stack, ...) -> Outcome``.

The CLI parser, the MCP server, the on-server containers and the tests all call these; argparse lives
only in ``coldmail.cli.parser``. A command raises :class:`coldmail.errors.ColdmailError` for anything the
caller must act on; the caller turns it into the envelope with ``Outcome.fail``.
"""

from .agent import agent_run
from .checks import check, check_history, status_page
from .config_edits import (domain_add, domain_move, domain_remove, mailbox_add, mailbox_remove, server_add,
                           server_remove)
from .credentials import credentials_export
from .stack import destroy, plan, preview, refresh, status, up

__all__ = ["plan", "preview", "up", "destroy", "refresh", "status", "domain_add", "domain_remove", "mailbox_add",
           "mailbox_remove", "server_add", "server_remove", "credentials_export", "domain_move", "check",
           "check_history", "status_page", "agent_run"]
