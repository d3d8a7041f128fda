"""``python -m coldmail``: the same command as the ``coldmail`` console script."""

import sys

from coldmail.cli import main

sys.exit(main())
