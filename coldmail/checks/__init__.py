"""Health checks of a live stack: DNS drift, authentication, blacklists, SMTP/TLS and Google Postmaster Tools.

One module per kind (``records``, ``auth``, ``blacklist``, ``smtp``, ``postmaster``), each a function
``check_<kind>(ctx) -> [Observation]``; :mod:`.runner` runs the chosen kinds, records them in the shared
history, alerts on change through the shared notifier and proposes fixes (:mod:`.remedy`);
:mod:`.metrics` exports Prometheus metrics and :mod:`.status_page` renders the history as a page.
The CLI and the on-server agent are thin layers over :func:`runner.run`.
"""

from .context import CheckContext
from .resolve import Dns
from .runner import ALL, KINDS, RunReport, resolve_kinds, run
from .targets import Targets

__all__ = ["CheckContext", "Dns", "Targets", "run", "RunReport", "KINDS", "ALL", "resolve_kinds"]
