"""The one notifier: alerts to Slack, Telegram, email or a JSON webhook through apprise, with retries.

Every capability alerts through :class:`Notifier`, and only on change (see ``History.record``), so a
listing that lasts a week is one message, not one per hour. URLs are apprise URLs (``slack://…``,
``tgram://…``, ``mailtos://…``, ``json://host/path``); they carry tokens, so they come from the
environment (``COLDMAIL_NOTIFY_URLS``, space-separated) or a secret, never from a command line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence

from .history import FAIL, SEVERITY, WARN, Change, History, Observation

ENV_URLS = "COLDMAIL_NOTIFY_URLS"
LOG = logging.getLogger("coldmail.notify")


@dataclass(frozen=True)
class Delivery:
    """What became of one notification: delivered to every target, after how many attempts."""

    ok: bool
    attempts: int
    targets: int


class Notifier:
    """Send notifications to every configured target; a failed send is retried with backoff.

    :param urls: apprise URLs; none means notifications are dropped (and said so in the log).
    :param retries: extra attempts after a failed send.
    :param backoff: seconds before retry ``n`` is ``backoff * 2**n``.
    :param sleep: injectable, for tests.
    """

    def __init__(self, urls: Sequence[str], *, retries: int = 3, backoff: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 15) -> None:
        import apprise

        self._apprise = apprise
        self.urls = [u for u in urls if u]
        self.retries, self.backoff, self._sleep, self.timeout = retries, backoff, sleep, timeout
        self._targets = apprise.Apprise()
        for url in self.urls:
            if not self._targets.add(url):
                # The URL itself may hold a token: name only its scheme.
                raise ValueError(f"not a notification URL apprise understands: {url.split(':', 1)[0]}://…")

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra: Iterable[str] = (), **kw) -> "Notifier":
        return cls([*env.get(ENV_URLS, "").split(), *extra], **kw)

    def send(self, title: str, body: str, level: str = WARN) -> Delivery:
        """One notification; ``level`` is a history status (``fail`` is sent as a failure)."""
        if not self.urls:
            LOG.info("no notification target configured; dropped: %s", title)
            return Delivery(False, 0, 0)
        kind = {FAIL: self._apprise.NotifyType.FAILURE, WARN: self._apprise.NotifyType.WARNING}.get(
            level, self._apprise.NotifyType.INFO)
        for attempt in range(self.retries + 1):
            if self._targets.notify(body=body, title=title, notify_type=kind):
                return Delivery(True, attempt + 1, len(self.urls))
            if attempt < self.retries:
                self._sleep(self.backoff * (2 ** attempt))
        LOG.warning("notification %r failed after %d attempts", title, self.retries + 1)
        return Delivery(False, self.retries + 1, len(self.urls))

    def changes(self, changes: Sequence[Change], *, stack: str, what: str = "checks",
                footer: Sequence[str] = ()) -> Optional[Delivery]:
        """One message listing every change of a run, worst first, then ``footer`` (e.g. proposed fixes);
        nothing is sent when nothing changed."""
        if not changes:
            return None
        ordered = sorted(changes, key=lambda c: (-SEVERITY[c.observation.status], c.observation.check,
                                                  c.observation.subject))
        level = max((c.observation.status for c in changes), key=lambda s: SEVERITY[s])
        lines = [f"{c.observation.subject}: {c.observation.check} {c.previous or 'new'} → {c.observation.status}"
                 f" — {c.observation.summary}" for c in ordered]
        title = f"coldmail {stack}: {len(changes)} {what} change(s)"
        if footer:
            lines += ["", *footer]
        return self.send(title, "\n".join(lines), level)


def record_and_notify(history: History, observations: Iterable[Observation], notifier: Optional[Notifier], *,
                      stack: str, what: str) -> tuple[list[Change], Optional[Delivery]]:
    """Store one run's observations and send one message for what changed (nothing when nothing did)."""
    changes = history.record(list(observations))
    return changes, notifier.changes(changes, stack=stack, what=what) if notifier is not None else None
