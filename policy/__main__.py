"""Serve coldmail's policy pack to the Pulumi engine (``pulumi preview --policy-pack policy``).

Constructing a PolicyPack starts a gRPC server and blocks, so this file is only ever run, never imported.
"""

import os
import sys

# The engine starts the pack with policy/ as its working directory; the rules import coldmail.model.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy import pack  # noqa: E402
from policy.sdk import keep_secret_markers  # noqa: E402

keep_secret_markers()

PolicyPack(
    name=pack.PACK_NAME,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=pack.ALL,
    initial_config=pack.INITIAL_CONFIG,
    description=pack.DESCRIPTION,
)
