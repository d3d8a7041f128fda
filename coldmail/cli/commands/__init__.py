"""The commands as typed functions: ``f(session, stack, ...) -> Outcome``.

The CLI parser, the MCP server, the on-server containers and the tests all call these; argparse lives
only in ``coldmail.cli.parser``. A command raises :class:`coldmail.errors.ColdmailError` for anything the
caller must act on; the caller turns it into the envelope with ``Outcome.fail``.
"""

from .agent import agent_run
from .backup import backup_list, backup_now, backup_restore
from .checks import check, check_history, status_page
from .config_edits import (domain_add, domain_move, domain_remove, mailbox_add, mailbox_remove, server_add,
                           server_remove)
from .credentials import credentials_export
from .mcp import mcp
from .reports import dmarc_advance, reports_fetch, reports_summary
from .server_ops import server_logs, server_queue, server_restart
from .stack import destroy, plan, preview, refresh, stack_init, status, up
from .suppression import suppression_add, suppression_export, suppression_list, suppression_scan
from .warmup import warmup_placement, warmup_run, warmup_schedule, warmup_status

__all__ = ["stack_init", "plan", "preview", "up", "destroy", "refresh", "status", "domain_add", "domain_remove", "mailbox_add",
           "mailbox_remove", "server_add", "server_remove", "credentials_export", "reports_fetch",
           "reports_summary", "dmarc_advance", "backup_now", "backup_list",
           "backup_restore", "server_restart", "server_logs", "server_queue", "suppression_scan", "suppression_list",
           "suppression_add", "suppression_export", "warmup_schedule", "warmup_status", "warmup_run",
           "warmup_placement", "domain_move", "check", "check_history", "status_page", "agent_run", "mcp"]
