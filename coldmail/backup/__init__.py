"""Backups: Mailcow's own backups on each server (installed by ``components/backups.py``), listed, run and
restored over SSH (listed on the server itself by the agent), with their health in the shared history
(``backup.*``) and alerts through the notifier."""

from .health import observations, run_observations
from .points import BackupError, Listing, Point, Run, check_parts, list_local, list_points, restore, run_now

__all__ = ["BackupError", "Listing", "Point", "Run", "check_parts", "list_local", "list_points", "restore", "run_now",
           "observations", "run_observations"]
