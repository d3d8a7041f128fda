"""Where things live on a stack's server: paths the components install to and the day-2 commands use."""

from __future__ import annotations

#: Where install-mailcow.sh clones mailcow-dockerized (the compose project directory).
MAILCOW_DIR = "/opt/mailcow-dockerized"
#: coldmail's own scripts, settings and state on the server.
COLDMAIL_DIR = "/opt/coldmail"
#: components/scripts/backup.sh, installed by components/backups.py.
BACKUP_SCRIPT = f"{COLDMAIL_DIR}/backup.sh"
#: The stack's config export (no secrets), copied beside every backup.
STACK_EXPORT = f"{COLDMAIL_DIR}/coldmail-stack.json"
