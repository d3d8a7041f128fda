"""The model layer: the stack config schema, the rules every layer shares, and DNS record rendering.

Pure Python: nothing here imports Pulumi at module level, talks to a network or knows about the CLI.
"""

from .errors import ConfigError, ConfigIssue
from .reader import NAMESPACE
from .schema import load, validate
from .types import (BackupConfig, DkimConfig, DmarcConfig, DnsConfig, Domain, Limits, Mailbox, OffsiteBackup,
                    Rollout, SendingIp, Server, StackConfig)
from .warmup import WarmupPlan

__all__ = ["NAMESPACE", "ConfigError", "ConfigIssue", "load", "validate", "StackConfig", "Server", "Domain",
           "Mailbox", "SendingIp", "DmarcConfig", "DkimConfig", "DnsConfig", "Limits", "Rollout", "WarmupPlan",
           "BackupConfig", "OffsiteBackup"]
