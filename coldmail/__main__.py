"""``python -m coldmail``: the coldmail command."""

import sys

from coldmail.cli import main

sys.exit(main())
