"""Google Postmaster Tools (optional): domain reputation, spam rate and authentication pass rates.

With the user's OAuth client and refresh token (``coldmail:checks.postmaster``), the checks exchange the
refresh token for an access token, list the domains verified in Postmaster Tools (``GET
/v1/domains``) and read each stack domain's traffic statistics of the last days (``GET
/v1/domains/{domain}/trafficStats`` with ``startDate``/``endDate``); the newest day counts. The
shapes are documented in docs/checks.md. Gmail asks bulk senders to stay below a 0.1% user-reported
spam rate and never reach 0.3%: 0.1% warns, 0.3% fails.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Optional

import requests

from coldmail.model.monitoring import ENV_POSTMASTER_CLIENT_SECRET, ENV_POSTMASTER_REFRESH_TOKEN
from coldmail.ops.history import FAIL, INFO, OK, UNKNOWN, WARN, Observation
from coldmail.ops.signals import (POSTMASTER_AUTH_RATES, POSTMASTER_REPUTATION, POSTMASTER_SPAM_RATE,
                                  SPAM_RATE_FAIL, SPAM_RATE_WARN)

from .context import SOURCE, CheckContext

SCOPE = "https://www.googleapis.com/auth/postmaster.readonly"
#: Days of statistics asked for; Gmail publishes a day's figures one to two days later.
WINDOW_DAYS = 7
_REPUTATION = {"HIGH": OK, "MEDIUM": WARN, "LOW": FAIL, "BAD": FAIL}


class PostmasterError(Exception):
    """The token exchange or an API call failed; the message never holds a token."""


class PostmasterClient:
    """The two calls the checks need, over ``requests``; ``api_url``/``token_url`` point tests at loopback."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str, *, token_url: str, api_url: str,
                 timeout: float = 15.0) -> None:
        self.client_id, self._secret, self._refresh = client_id, client_secret, refresh_token
        self.token_url, self.api_url, self.timeout = token_url, api_url.rstrip("/"), timeout
        self._token: Optional[str] = None
        self.session = requests.Session()
        self.session.trust_env = False

    def _access_token(self) -> str:
        if self._token is None:
            try:
                resp = self.session.post(self.token_url, timeout=self.timeout, data={
                    "grant_type": "refresh_token", "client_id": self.client_id, "client_secret": self._secret,
                    "refresh_token": self._refresh})
            except requests.RequestException as exc:
                raise PostmasterError(f"token endpoint unreachable: {type(exc).__name__}") from None
            body = _json(resp)
            if resp.status_code != 200 or not body.get("access_token"):
                raise PostmasterError(f"the refresh token was refused (HTTP {resp.status_code} "
                                      f"{body.get('error', '')}); create a new one with scope {SCOPE}")
            self._token = str(body["access_token"])
        return self._token

    def _get(self, path: str, params: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        try:
            resp = self.session.get(f"{self.api_url}/{path}", params=params, timeout=self.timeout,
                                    headers={"Authorization": f"Bearer {self._access_token()}"})
        except requests.RequestException as exc:
            raise PostmasterError(f"Postmaster Tools API unreachable: {type(exc).__name__}") from None
        body = _json(resp)
        if resp.status_code != 200:
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise PostmasterError(f"GET /{path}: HTTP {resp.status_code} {err.get('status', '')} "
                                  f"{err.get('message', '')}".rstrip())
        return body

    def domains(self) -> set[str]:
        """The domains the user verified in Postmaster Tools (every page)."""
        out: set[str] = set()
        token = None
        while True:
            body = self._get("v1/domains", {"pageToken": token} if token else None)
            out |= {str(d.get("name", "")).removeprefix("domains/").lower() for d in body.get("domains") or []}
            token = body.get("nextPageToken")
            if not token:
                return out

    def traffic_stats(self, domain: str, start: _dt.date, end: _dt.date) -> list[dict[str, Any]]:
        """Every day's ``TrafficStats`` of ``domain`` from ``start`` (inclusive) to ``end`` (exclusive)."""
        params: dict[str, Any] = {"startDate.year": start.year, "startDate.month": start.month,
                                  "startDate.day": start.day, "endDate.year": end.year, "endDate.month": end.month,
                                  "endDate.day": end.day}
        out: list[dict[str, Any]] = []
        while True:
            body = self._get(f"v1/domains/{domain}/trafficStats", params)
            out += list(body.get("trafficStats") or [])
            if not body.get("nextPageToken"):
                return out
            params["pageToken"] = body["nextPageToken"]


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _day(stats: dict[str, Any]) -> str:
    """``20261130`` from ``domains/x.com/trafficStats/20261130``."""
    return str(stats.get("name", "")).rsplit("/", 1)[-1]


def observations_for(subject: str, stats: list[dict[str, Any]]) -> list[Observation]:
    """The history entries of one domain's statistics (the newest day)."""
    if not stats:
        why = "no statistics: Gmail publishes them only above a daily volume threshold"
        return [Observation(POSTMASTER_SPAM_RATE, subject, UNKNOWN, why, SOURCE),
                Observation(POSTMASTER_REPUTATION, subject, UNKNOWN, why, SOURCE)]
    latest = max(stats, key=_day)
    day = _day(latest)
    out = []
    rate = latest.get("userReportedSpamRatio")
    if isinstance(rate, (int, float)):
        status = FAIL if rate >= SPAM_RATE_FAIL else WARN if rate >= SPAM_RATE_WARN else OK
        limit = {FAIL: f" (at or above Gmail's {SPAM_RATE_FAIL:.1%} limit)",
                 WARN: f" (above the {SPAM_RATE_WARN:.1%} Gmail asks for)"}.get(status, "")
        out.append(Observation(POSTMASTER_SPAM_RATE, subject, status, f"Gmail spam rate {rate:.2%} on {day}{limit}",
                               SOURCE, value=float(rate), data={"day": day}))
    else:
        out.append(Observation(POSTMASTER_SPAM_RATE, subject, UNKNOWN, f"no spam rate reported for {day}", SOURCE,
                               data={"day": day}))
    rep = str(latest.get("domainReputation") or "REPUTATION_CATEGORY_UNSPECIFIED")
    out.append(Observation(POSTMASTER_REPUTATION, subject, _REPUTATION.get(rep, UNKNOWN),
                           f"Gmail domain reputation {rep.lower()} on {day}", SOURCE, data={"day": day,
                                                                                          "reputation": rep}))
    rates = {k: latest.get(f"{k}SuccessRatio") for k in ("spf", "dkim", "dmarc")}
    known = {k: float(v) for k, v in rates.items() if isinstance(v, (int, float))}
    text = ", ".join(f"{k.upper()} {v:.1%}" for k, v in known.items()) or "none reported"
    out.append(Observation(POSTMASTER_AUTH_RATES, subject, INFO, f"Gmail authentication pass rates on {day}: {text}",
                           SOURCE, value=min(known.values()) if known else None, data={"day": day, **known}))
    return out


def check_postmaster(ctx: CheckContext) -> list[Observation]:
    cfg = ctx.stack.checks.postmaster
    if cfg is None:
        return []
    secret = cfg.client_secret or ctx.env.get(ENV_POSTMASTER_CLIENT_SECRET)
    token = cfg.refresh_token or ctx.env.get(ENV_POSTMASTER_REFRESH_TOKEN)
    subjects = [(d.name, d.subject) for d in ctx.targets.domains]
    if not secret or not token:
        why = (f"the Postmaster client secret or refresh token is not readable (set {ENV_POSTMASTER_CLIENT_SECRET} "
               f"and {ENV_POSTMASTER_REFRESH_TOKEN}, or run where the stack config can be decrypted)")
        return [Observation(POSTMASTER_SPAM_RATE, s, UNKNOWN, why, SOURCE) for _, s in subjects]
    client = PostmasterClient(cfg.client_id, secret, token, token_url=cfg.token_url, api_url=cfg.api_url,
                              timeout=ctx.timeout * 3)
    end = ctx.now().date()
    start = end - _dt.timedelta(days=WINDOW_DAYS)
    try:
        registered = client.domains()
    except PostmasterError as exc:
        return [Observation(POSTMASTER_SPAM_RATE, s, UNKNOWN, str(exc), SOURCE) for _, s in subjects]
    out: list[Observation] = []
    for name, subject in subjects:
        if name not in registered:
            out.append(Observation(POSTMASTER_SPAM_RATE, subject, INFO, f"{name} is not verified in Postmaster Tools",
                                   SOURCE, data={"registered": False}))
            continue
        try:
            out += observations_for(subject, client.traffic_stats(name, start, end))
        except PostmasterError as exc:
            out.append(Observation(POSTMASTER_SPAM_RATE, subject, UNKNOWN, str(exc), SOURCE))
    return out
