"""A small, strict client for the Mailcow API (``/api/v1``), written against ``docs/mailcow-api.md``.

Layout follows hcloud-python: :class:`MailcowClient` holds the transport and the verbs
(``get_x`` returns ``None`` when missing, ``list_x``, ``create_x``, ``update_x``, ``delete_x``); reads
return small typed models in MiB and booleans, never Mailcow's raw bytes and ints.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Union
from urllib.parse import quote

import certifi
import urllib3

from coldmail.model.records import parse_mta_sts_policy

from .errors import (MailcowApiError, MailcowAuthError, MailcowCredentialsError, MailcowError,
                     MailcowUnavailable, MailcowWriteUncertain)

MIB = 1024 * 1024

#: Parallel writes per Mailcow instance. Mailcow has no locks; more than a few concurrent
#: bcrypt-hashing adds only slows php-fpm down (docs/mailcow-api.md §4).
WRITE_CONCURRENCY = 4

_SLOTS_LOCK = threading.Lock()
_WRITE_SLOTS: dict[str, threading.BoundedSemaphore] = {}

#: What a bare message key means for one endpoint, where Mailcow's own key misleads.
HINTS = {
    ("add/mailbox", "access_denied"): "Mailcow answers this when the domain does not exist",
    ("edit/mailbox", "access_denied"): "Mailcow answers this when the mailbox does not exist",
    ("delete/mailbox", "access_denied"): "Mailcow answers this when a mailbox does not exist",
    ("add/dkim", "dkim_domain_or_sel_invalid"): "the domain may already have a key (see get/dkim)",
}

#: Warnings that still mean "the object exists": SOGo failed to restart after the domain row was written.
BENIGN_WARNINGS = frozenset({"domain_added_sogo_failed"})


def write_slots(base_url: str) -> threading.BoundedSemaphore:
    """The process-wide semaphore bounding concurrent writes to one Mailcow."""
    key = base_url.rstrip("/").lower()
    with _SLOTS_LOCK:
        if key not in _WRITE_SLOTS:
            _WRITE_SLOTS[key] = threading.BoundedSemaphore(WRITE_CONCURRENCY)
        return _WRITE_SLOTS[key]


def _int(value: Any, default: int = 0) -> int:
    # Mailcow returns SUM()-based numbers as strings and TINYINTs as ints; accept both.
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _mib(value: Any) -> int:
    return _int(value) // MIB


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Domain:
    """A Mailcow domain. Quotas are MiB (Mailcow reports bytes)."""

    name: str
    description: str
    max_mailboxes: int
    max_aliases: int
    domain_quota_mb: int
    max_mailbox_quota_mb: int
    default_mailbox_quota_mb: int
    relayhost_id: str
    active: bool
    mailbox_count: int = 0
    quota_used_mb: int = 0
    """The sum of the domain's mailbox quotas (what Mailcow compares ``domain_quota_mb`` with)."""

    @classmethod
    def from_api(cls, d: dict) -> "Domain":
        return cls(
            name=str(d.get("domain_name", "")).lower(), description=str(d.get("description") or ""),
            max_mailboxes=_int(d.get("max_num_mboxes_for_domain")),
            max_aliases=_int(d.get("max_num_aliases_for_domain")),
            domain_quota_mb=_mib(d.get("max_quota_for_domain")),
            max_mailbox_quota_mb=_mib(d.get("max_quota_for_mbox")),
            default_mailbox_quota_mb=_mib(d.get("def_quota_for_mbox")),
            relayhost_id=str(d.get("relayhost") if d.get("relayhost") not in (None, "") else "0"),
            active=bool(_int(d.get("active_int", d.get("active")))),
            mailbox_count=_int(d.get("mboxes_in_domain")), quota_used_mb=_mib(d.get("quota_used_in_domain")))


@dataclass(frozen=True)
class Mailbox:
    """A Mailcow mailbox. ``quota_mb`` is MiB (Mailcow reports bytes; 0 = unlimited)."""

    address: str
    local_part: str
    domain: str
    name: str
    quota_mb: int
    active: bool

    @classmethod
    def from_api(cls, m: dict) -> "Mailbox":
        address = str(m.get("username", "")).lower()
        local, _, dom = address.partition("@")
        return cls(address=address, local_part=str(m.get("local_part") or local).lower(),
                   domain=str(m.get("domain") or dom).lower(), name=str(m.get("name") or ""),
                   quota_mb=_mib(m.get("quota")), active=bool(_int(m.get("active_int", m.get("active")))))


@dataclass(frozen=True)
class DkimKey:
    """A domain's DKIM key as Mailcow publishes it. ``txt_value`` is Mailcow's ``dkim_txt``, unchanged."""

    domain: str
    selector: str
    key_size: int
    public_key: str
    txt_value: str

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True)
class MtaStsPolicy:
    """A domain's MTA-STS policy as Mailcow serves it at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``."""

    domain: str
    mode: str
    max_age: int
    mx: tuple[str, ...]
    text: str
    """The body exactly as served: the ``_mta-sts`` TXT id is derived from it."""


@dataclass(frozen=True)
class Relayhost:
    """A sender-dependent transport. Its password is deliberately not kept."""

    id: str
    hostname: str
    username: str
    active: bool
    used_by_domains: tuple[str, ...] = field(default=())
    used_by_mailboxes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RateLimit:
    """A Mailcow rate limit: at most ``value`` messages per one ``frame`` (``s``, ``m``, ``h`` or ``d``).

    An rspamd token bucket (burst ``value``, refilled over the frame), not a calendar-day counter
    (docs/mailcow-api.md §6).
    """

    value: int
    frame: str

    @classmethod
    def from_api(cls, d: Any) -> Optional["RateLimit"]:
        if not isinstance(d, dict) or not _int(d.get("value")):
            return None
        return cls(_int(d.get("value")), str(d.get("frame") or ""))


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    """One HTTP answer: status, headers and the whole body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _pool(verify: Union[bool, str], timeout: float) -> urllib3.PoolManager:
    """Connections to Mailcow: kept alive, thread-safe; no cookie jar, no proxy from the environment."""
    tls: dict[str, Any] = ({"cert_reqs": "CERT_NONE"} if verify is False else
                           {"cert_reqs": "CERT_REQUIRED", "ca_certs": verify if isinstance(verify, str)
                            else certifi.where()})
    return urllib3.PoolManager(maxsize=2 * WRITE_CONCURRENCY, retries=False,
                               timeout=urllib3.Timeout(connect=timeout, read=timeout), **tls)


def _nothing_was_sent(exc: urllib3.exceptions.HTTPError) -> bool:
    """True when the connection failed before the request left this machine."""
    return isinstance(exc, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _is_boot_page(resp: Response) -> bool:
    # While MySQL or dockerapi are still starting, prerequisites.inc.php answers HTML 500 before any
    # API code runs; an uncaught exception inside the API gives an *empty* 500 instead.
    ctype = resp.headers.get("Content-Type", "")
    text = resp.text.lstrip()[:200].lower()
    return resp.status_code == 500 and bool(text) and ("html" in ctype or text.startswith("<")
                                                      or "connection to" in text)


def _names(joined: Any) -> tuple[str, ...]:
    """Mailcow's ``", "``-joined list of names (``used_by_domains``) as a tuple."""
    return tuple(n for n in str(joined or "").replace(",", " ").split() if n)


def _normalise_entries(payload: Any) -> list[dict]:
    """Mailcow answers writes with one object or a list of objects; always give a list."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return [e for e in payload if isinstance(e, dict)]
    return []


def _split_msg(msg: Any) -> tuple[str, list]:
    if isinstance(msg, list) and msg:
        return str(msg[0]), list(msg[1:])
    return str(msg if msg is not None else ""), []


def _subject(body: Any) -> str:
    """What a write was about, for error messages: an address, a domain or a relayhost; never a secret."""
    items: list = []
    if isinstance(body, dict):
        attr = body.get("attr") if isinstance(body.get("attr"), dict) else body
        if body.get("items") is not None:
            items = body["items"] if isinstance(body["items"], list) else [body["items"]]
        elif attr.get("local_part") and attr.get("domain"):
            items = [f"{attr['local_part']}@{attr['domain']}"]
        else:
            items = [attr[k] for k in ("domain", "domains", "hostname") if attr.get(k)][:1]
    elif isinstance(body, list):
        items = body
    if not items:
        return ""
    shown = ", ".join(str(i) for i in items[:3]) + (" …" if len(items) > 3 else "")
    return f" ({shown})"


class MailcowClient:
    """Client for one Mailcow instance.

    :param base_url: ``https://<mailcow hostname>``; ``/api/v1`` is appended.
    :param api_key: a read-write key (``API_KEY`` in mailcow.conf). Sent only as ``X-API-Key``.
    :param timeout: seconds per HTTP request.
    :param verify: ``True`` (system CAs), a CA bundle path, or ``False`` as the explicit opt-out for
        Mailcow's snake-oil certificate before ACME has run.
    :param retries: extra attempts for calls that are safe to repeat.
    :param backoff: seconds before retry ``n`` is ``min(backoff_max, backoff * 2**n)``; 0 in tests.
    :param sleep: injectable sleep.

    **Retry policy.** Retries are truncated exponential backoff, ``retries`` times, and only where
    repeating cannot do harm:

    * connection refused / connect timeout, any method: nothing reached Mailcow;
    * GET: any connection error, read timeout or HTTP 5xx;
    * any method: HTML HTTP 500 while Mailcow boots ("Connection to database failed"): PHP stopped
      before the API ran.

    A 401/403 is never retried (Mailcow bans an IP after 10 failed logins in 10 minutes). A write
    whose outcome is unknown (reset or timeout after sending, empty HTTP 500, 502-504) is never re-sent
    blindly: ``create_*`` and ``delete_*`` read the object first and only repeat the write if it did
    not land; ``update_*`` re-sends the same attributes, which is idempotent for every field this client
    sends. Exhausted retries raise :class:`MailcowUnavailable`.

    **Sessions.** No cookie is kept between calls: a failed call can leave stale messages in Mailcow's
    PHP session that would leak into the next response (docs/mailcow-api.md §1). Connections are kept
    alive and the client is safe to share between threads.

    **Responses.** Writes fail when any entry's ``type`` is not ``success`` or ``info``
    (:data:`BENIGN_WARNINGS` excepted) and raise :class:`MailcowApiError` with Mailcow's message key.
    ``{}`` on a read means "missing" or "empty list"; an empty body on a read means the key was not
    accepted. Writes to one Mailcow are bounded process-wide by :func:`write_slots`.

    ``calls`` counts requests by kind (``read``, ``write``, ``retry``) for benchmarks and tests.
    """

    def __init__(self, base_url: str, api_key: str, timeout: float = 30, verify: Union[bool, str] = True, *,
                 retries: int = 5, backoff: float = 0.5, backoff_max: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep):
        if not api_key:
            raise MailcowCredentialsError(f"no Mailcow API key given for {base_url}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.verify = verify
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._sleep = sleep
        self.calls: Counter = Counter()
        self._calls_lock = threading.Lock()
        self._http = _pool(verify, timeout)

    def __repr__(self) -> str:
        return f"MailcowClient({self.base_url!r})"

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> "MailcowClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- transport

    def _count(self, kind: str) -> None:
        with self._calls_lock:
            self.calls[kind] += 1

    def _pause(self, attempt: int) -> None:
        self._count("retry")
        self._sleep(min(self.backoff_max, self.backoff * (2 ** attempt)))

    def _send(self, method: str, url: str, headers: dict[str, str], data: Optional[bytes]) -> Response:
        r = self._http.request(method, url, headers=headers, body=data, redirect=False, retries=False)
        return Response(r.status, r.headers, r.data)

    def request(self, method: str, endpoint: str, body: Any = None, *, check: bool = True) -> Any:
        """One API call with the retry policy above; returns parsed JSON (``None`` for ``{}``-less bodies).

        ``check=False`` returns a write's entries without raising for the ones that report a failure, for
        callers that judge each entry themselves (a bulk delete answers one entry per address).
        """
        url = f"{self.base_url}/api/v1/{endpoint}"
        headers = {"X-API-Key": self._api_key, "Accept": "application/json"}
        data = None
        if method != "GET":
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        return self._parse(self._exchange(method, url, headers, data, endpoint, body), method, endpoint, check)

    def _exchange(self, method: str, url: str, headers: dict[str, str], data: Optional[bytes], endpoint: str,
                  body: Any = None) -> Response:
        """``method url`` under the retry policy: the first answer that is neither a 401 nor a 5xx to retry."""
        is_read = method == "GET"
        last = ""
        for attempt in range(self.retries + 1):
            self._count("read" if is_read else "write")
            try:
                if is_read:
                    resp = self._send(method, url, headers, None)
                else:
                    with write_slots(self.base_url):
                        resp = self._send(method, url, headers, data)
            except urllib3.exceptions.SSLError as exc:
                raise MailcowError(
                    f"TLS to {self.base_url} failed ({method} {endpoint}): {exc.__class__.__name__}. If Mailcow "
                    "still has its snake-oil certificate, set mailcowCaBundle or mailcowTlsVerify: false "
                    "for this server") from exc
            except urllib3.exceptions.HTTPError as exc:
                last = f"{exc.__class__.__name__}"
                if is_read or _nothing_was_sent(exc):
                    if attempt < self.retries:
                        self._pause(attempt)
                        continue
                    raise MailcowUnavailable(
                        f"Mailcow at {self.base_url} unreachable after {attempt + 1} attempts "
                        f"({method} {endpoint}: {last})", endpoint=endpoint, method=method,
                        attempts=attempt + 1) from exc
                raise MailcowWriteUncertain(
                    f"{method} {endpoint}{_subject(body)} was sent to {self.base_url} but no answer came back "
                    f"({last})",
                    endpoint=endpoint, method=method, attempts=attempt + 1) from exc
            status = resp.status_code
            if status == 401:
                msg = self._json_or_none(resp)
                raise MailcowAuthError(str((msg or {}).get("msg", "authentication failed")) if isinstance(msg, dict)
                                       else "authentication failed", endpoint=endpoint, method=method, status=401)
            if status >= 500:
                last = f"HTTP {status}"
                if is_read or _is_boot_page(resp):
                    if attempt < self.retries:
                        self._pause(attempt)
                        continue
                    raise MailcowUnavailable(
                        f"Mailcow at {self.base_url} kept failing ({method} {endpoint}: {last} after "
                        f"{attempt + 1} attempts); is it still starting? `docker compose ps` on the server",
                        endpoint=endpoint, method=method, attempts=attempt + 1)
                raise MailcowWriteUncertain(
                    f"{method} {endpoint}{_subject(body)} answered {last} after it was sent; its outcome is unknown",
                    endpoint=endpoint, method=method, attempts=attempt + 1)
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _json_or_none(resp: Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            return None

    def _parse(self, resp: Response, method: str, endpoint: str, check: bool = True) -> Any:
        status = resp.status_code
        if status in (301, 302, 307, 308):
            raise MailcowApiError("redirected", [resp.headers.get("Location", "")], endpoint=endpoint,
                                  method=method, status=status,
                                  hint="call Mailcow over https:// (a redirected POST turns into a GET)")
        if not resp.content.strip():
            if status == 403:
                raise MailcowApiError("forbidden", endpoint=endpoint, method=method, status=403,
                                      hint="Mailcow refused the request before the API ran")
            raise MailcowAuthError("empty_response", endpoint=endpoint, method=method, status=status,
                                   hint="Mailcow answered with an empty body, which it does when no valid API "
                                        "key reached it. " + MailcowAuthError.HINT)
        payload = self._json_or_none(resp)
        if payload is None:
            raise MailcowApiError("invalid_response", [resp.text.strip()[:80]], endpoint=endpoint, method=method,
                                  status=status, hint="Mailcow did not answer with JSON")
        if status != 200:
            key, args = _split_msg(payload.get("msg") if isinstance(payload, dict) else None)
            cls = MailcowAuthError if status == 403 and "access denied" in key else MailcowApiError
            if cls is MailcowAuthError:
                raise MailcowAuthError(key, args, endpoint=endpoint, method=method, status=status,
                                       hint="the key is read-only; coldmail needs the read-write API_KEY")
            raise MailcowApiError(key or "http_error", args, endpoint=endpoint, method=method, status=status)
        if method != "GET" and check:
            self._raise_for_entries(payload, method, endpoint)
        return payload

    @staticmethod
    def _raise_for_entries(payload: Any, method: str, endpoint: str, tolerate: frozenset = frozenset()) -> None:
        """Raise for the first entry that reports a failure, unless its key is in ``tolerate``."""
        entries = _normalise_entries(payload)
        clean = [{"type": e.get("type"), "msg": e.get("msg")} for e in entries]
        for e in entries:
            kind = e.get("type")
            key, args = _split_msg(e.get("msg"))
            if kind in ("success", "info") or (kind == "warning" and key in BENIGN_WARNINGS) or key in tolerate:
                continue
            raise MailcowApiError(key, args, endpoint=endpoint, method=method, entries=clean,
                                  hint=HINTS.get((endpoint, key), ""))
        if not entries:
            raise MailcowApiError("invalid_response", endpoint=endpoint, method=method,
                                  hint="Mailcow answered a write with no status entries")

    def _get(self, endpoint: str) -> Any:
        """GET; ``{}`` (Mailcow's "nothing") becomes ``None``."""
        payload = self.request("GET", endpoint)
        if payload == {} or payload == []:
            return None
        return payload

    def _list(self, endpoint: str) -> list[dict]:
        payload = self._get(endpoint)
        if payload is None:
            return []
        if isinstance(payload, dict):
            return [payload]
        return [p for p in payload if isinstance(p, dict)]

    def _post(self, endpoint: str, body: Any, *, check: bool = True) -> list[dict]:
        return _normalise_entries(self.request("POST", endpoint, body, check=check))

    def _write_read_first(self, endpoint: str, body: Any, landed: Callable[[], bool]) -> list[dict]:
        """A non-repeatable write: on an unknown outcome, read first; re-send only if it did not land."""
        try:
            return self._post(endpoint, body)
        except MailcowWriteUncertain:
            if landed():
                return []
            return self._post(endpoint, body)

    def _write_repeatable(self, endpoint: str, body: Any) -> list[dict]:
        try:
            return self._post(endpoint, body)
        except MailcowWriteUncertain:
            return self._post(endpoint, body)

    # ---------------------------------------------------------------- status

    def get_status(self) -> dict:
        """Mailcow's version, e.g. ``{"version": "2026-07a"}``; raises while Mailcow boots."""
        return self._get("get/status/version") or {}

    def wait_until_ready(self, timeout: float = 900, interval: float = 5) -> dict:
        """Poll :meth:`get_status` until Mailcow answers JSON; auth errors stop at once."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get_status()
            except MailcowAuthError:
                raise
            except MailcowError:
                if time.monotonic() >= deadline:
                    raise
                self._sleep(interval)

    # ---------------------------------------------------------------- domains

    def get_domain(self, domain: str) -> Optional[Domain]:
        """The domain, or ``None``. An alias domain resolves to its target, so check ``.name``."""
        d = self._get(f"get/domain/{quote(domain)}")
        return Domain.from_api(d) if isinstance(d, dict) else None

    def list_domains(self) -> list[Domain]:
        return [Domain.from_api(d) for d in self._list("get/domain/all")]

    @staticmethod
    def _domain_attrs(description: Optional[str] = None, max_mailboxes: Optional[int] = None,
                      max_aliases: Optional[int] = None, domain_quota_mb: Optional[int] = None,
                      max_mailbox_quota_mb: Optional[int] = None, default_mailbox_quota_mb: Optional[int] = None,
                      active: Optional[bool] = None, relayhost_id: Optional[str] = None) -> dict:
        attrs = {"description": description, "mailboxes": max_mailboxes, "aliases": max_aliases,
                 "quota": domain_quota_mb, "maxquota": max_mailbox_quota_mb, "defquota": default_mailbox_quota_mb,
                 "active": None if active is None else int(bool(active)), "relayhost": relayhost_id}
        return {k: v for k, v in attrs.items() if v is not None}

    def create_domain(self, domain: str, *, key_size: int = 0, **attrs: Any) -> None:
        """Add a domain (quotas in MiB). ``key_size=0``: no automatic DKIM key (DKIM is its own resource).

        A ``domain_added_sogo_failed`` warning counts as success: the domain row exists, only SOGo's
        restart failed. ``domain_exists`` is raised as :class:`MailcowApiError` for the caller to adopt.
        """
        body = {"domain": domain, "key_size": key_size, "restart_sogo": 0, **self._domain_attrs(**attrs)}
        body.pop("relayhost", None)
        self._write_read_first("add/domain", body, lambda: self.get_domain(domain) is not None)

    def update_domain(self, domain: str, **attrs: Any) -> None:
        """Edit a domain in place. Mailcow ignores empty/0 ``description``, ``aliases``, ``maxquota``, ``quota``."""
        self._write_repeatable("edit/domain", {"items": [domain], "attr": self._domain_attrs(**attrs)})

    def delete_domain(self, domain: str) -> None:
        """Delete an empty domain (a missing one is success). Its DKIM key stays: see :meth:`delete_dkim`."""
        self._write_repeatable("delete/domain", [domain])

    # ---------------------------------------------------------------- mailboxes

    def list_mailboxes(self, domain: str) -> list[Mailbox]:
        """The domain's mailboxes, one read. Filtered here: for an unknown domain Mailcow returns all."""
        domain = domain.lower()
        rows = self._list(f"get/mailbox/reduced/{quote(domain)}")
        return [m for m in (Mailbox.from_api(r) for r in rows) if m.domain == domain]

    def get_mailbox(self, address: str) -> Optional[Mailbox]:
        m = self._get(f"get/mailbox/{quote(address, safe='@')}")
        if isinstance(m, dict) and m.get("username"):
            mb = Mailbox.from_api(m)
            return mb if mb.address == address.lower() else None
        return None

    def create_mailbox(self, local_part: str, domain: str, *, name: str, password: str, quota_mb: int,
                       active: bool = True) -> str:
        """Add one mailbox (quota in MiB, ``force_pw_update`` off); returns the address.

        ``object_exists`` is raised as :class:`MailcowApiError` for the caller to adopt or refuse.
        """
        address = f"{local_part}@{domain}".lower()
        body = {"local_part": local_part, "domain": domain, "name": name, "password": password,
                "password2": password, "quota": int(quota_mb), "active": int(bool(active)), "force_pw_update": 0}
        self._write_read_first("add/mailbox", body, lambda: self.get_mailbox(address) is not None)
        return address

    def update_mailbox(self, address: str, *, name: Optional[str] = None, quota_mb: Optional[int] = None,
                       active: Optional[bool] = None, password: Optional[str] = None) -> None:
        attr: dict[str, Any] = {"force_pw_update": 0}
        if name is not None:
            attr["name"] = name
        if quota_mb is not None:
            attr["quota"] = int(quota_mb)
        if active is not None:
            attr["active"] = int(bool(active))
        if password is not None:
            attr["password"] = attr["password2"] = password
        self._write_repeatable("edit/mailbox", {"items": [address], "attr": attr})

    def delete_mailboxes(self, addresses: Iterable[str]) -> None:
        """Delete mailboxes in one call (maildirs go to Mailcow's garbage); one already gone is no error.

        Mailcow answers one entry per address: ``mailbox_removed`` with the address, or a bare
        ``access_denied`` for one that does not exist. Every address without its ``mailbox_removed`` is read
        back; one that still exists raises :class:`MailcowApiError` naming it. No read when all went.
        """
        addresses = [a.lower() for a in addresses]
        if not addresses:
            return
        try:
            payload = self.request("POST", "delete/mailbox", addresses, check=False)
        except MailcowWriteUncertain:
            left = [a for a in addresses if self.get_mailbox(a) is not None]
            if left:
                self.delete_mailboxes(left)
            return
        self._raise_for_entries(payload, "POST", "delete/mailbox", tolerate=frozenset({"access_denied"}))
        removed = {str(args[0]).lower() for key, args in (_split_msg(e.get("msg")) for e in _normalise_entries(payload))
                   if key == "mailbox_removed" and args}
        still = [a for a in addresses if a not in removed and self.get_mailbox(a) is not None]
        if still:
            raise MailcowApiError("mailbox_not_removed", still, endpoint="delete/mailbox", method="POST",
                                  entries=_normalise_entries(payload),
                                  hint="Mailcow did not confirm these deletes and they still exist")

    # ---------------------------------------------------------------- DKIM

    def get_dkim(self, domain: str) -> Optional[DkimKey]:
        k = self._get(f"get/dkim/{quote(domain)}")
        if not isinstance(k, dict) or not k.get("pubkey"):
            return None
        return DkimKey(domain=domain.lower(), selector=str(k.get("dkim_selector", "")),
                       key_size=_int(k.get("length")), public_key=str(k["pubkey"]),
                       txt_value=str(k.get("dkim_txt", "")))

    def create_dkim(self, domain: str, selector: str, key_size: int) -> None:
        """Generate a key. An existing key makes Mailcow say ``dkim_domain_or_sel_invalid``."""
        # `domains` must be a string: a JSON array crashes Mailcow's preg_split with HTTP 500.
        body = {"domains": domain, "dkim_selector": selector, "key_size": int(key_size)}
        self._write_read_first("add/dkim", body, lambda: self.get_dkim(domain) is not None)

    def delete_dkim(self, domain: str) -> None:
        """Remove the domain's key (success also when none exists)."""
        self._write_repeatable("delete/dkim", [domain])

    # ---------------------------------------------------------------- MTA-STS

    def get_mta_sts(self, domain: str) -> Optional[MtaStsPolicy]:
        """The policy Mailcow serves for ``domain``, read where a sending MTA reads it; None when none is served.

        There is no ``get/mta-sts`` route (HTTP 404 "route not found"), so this is a GET of
        ``/.well-known/mta-sts.txt`` on the API host with ``Host: mta-sts.<domain>``, which Mailcow's nginx
        hands to ``mta-sts.php``. Retried like any read.
        """
        url = f"{self.base_url}/.well-known/mta-sts.txt"
        resp = self._exchange("GET", url, {"Host": f"mta-sts.{domain}", "Accept": "text/plain"}, None,
                              "mta-sts.txt")
        if resp.status_code == 404:
            return None
        policy = parse_mta_sts_policy(resp.text)
        if resp.status_code != 200 or policy.get("version") != "STSv1":
            raise MailcowApiError("invalid_mta_sts_policy", [domain, f"HTTP {resp.status_code}"],
                                  endpoint="mta-sts.txt", method="GET", status=resp.status_code,
                                  hint=f"https://mta-sts.{domain}/.well-known/mta-sts.txt is not an MTA-STS policy")
        return MtaStsPolicy(domain=domain.lower(), mode=str(policy.get("mode", "")),
                            max_age=_int(policy.get("max_age")), mx=tuple(policy["mx"]), text=resp.text)

    @staticmethod
    def _mta_sts_attrs(mode: str, mx: Iterable[str], max_age: int, active: bool) -> dict[str, str]:
        # Mailcow takes the MX hosts comma-separated and every value as a string.
        return {"version": "STSv1", "mode": mode, "mx": ",".join(mx), "max_age": str(int(max_age)),
                "active": "1" if active else "0"}

    def create_mta_sts(self, domain: str, *, mode: str, mx: Iterable[str], max_age: int) -> None:
        """Add an active policy. Mailcow answers one object (``{"type":"success","msg":"Task completed"}``)."""
        body = {"domain": domain, **self._mta_sts_attrs(mode, mx, max_age, True)}
        self._write_read_first("add/mta-sts", body, lambda: self.get_mta_sts(domain) is not None)

    def update_mta_sts(self, domain: str, *, mode: str, mx: Iterable[str], max_age: int, active: bool = True) -> None:
        """Rewrite the policy; Mailcow answers ``object_modified``. Repeatable: it sets every field."""
        self._write_repeatable("edit/mta-sts", {"items": [domain],
                                                "attr": self._mta_sts_attrs(mode, mx, max_age, active)})

    # ---------------------------------------------------------------- relayhosts

    def list_relayhosts(self) -> list[Relayhost]:
        out = []
        for r in self._list("get/relayhost/all"):
            out.append(Relayhost(id=str(r.get("id", "")), hostname=str(r.get("hostname", "")),
                                 username=str(r.get("username") or ""), active=bool(_int(r.get("active"), 1)),
                                 used_by_domains=_names(r.get("used_by_domains")),
                                 used_by_mailboxes=_names(r.get("used_by_mailboxes"))))
        return out

    def get_relayhost_by_hostname(self, hostname: str) -> Optional[Relayhost]:
        return next((r for r in self.list_relayhosts() if r.hostname == hostname), None)

    def create_relayhost(self, hostname: str, username: str = "", password: str = "") -> str:
        """Add a relayhost and return its id (Mailcow's answer has none: it is looked up by hostname)."""
        self._write_read_first("add/relayhost", {"hostname": hostname, "username": username, "password": password},
                               lambda: self.get_relayhost_by_hostname(hostname) is not None)
        found = self.get_relayhost_by_hostname(hostname)
        if found is None:
            raise MailcowApiError("relayhost_not_found_after_add", [hostname], endpoint="get/relayhost/all",
                                  method="GET")
        return found.id

    def delete_relayhost(self, relayhost_id: str) -> None:
        """Remove a relayhost; Mailcow resets domains that used it to no relayhost."""
        try:
            self._post("delete/relayhost", [str(relayhost_id)])
        except MailcowWriteUncertain:
            if any(r.id == str(relayhost_id) for r in self.list_relayhosts()):
                self._post("delete/relayhost", [str(relayhost_id)])

    # ---------------------------------------------------------------- rate limits

    def get_mailbox_rate_limit(self, address: str) -> Optional[RateLimit]:
        """The mailbox's own limit, or ``None`` (no limit, or no such mailbox: Mailcow answers ``{}`` to both)."""
        return RateLimit.from_api(self._get(f"get/rl-mbox/{quote(address.lower(), safe='@')}"))

    def list_mailbox_rate_limits(self) -> dict[str, RateLimit]:
        """Every mailbox that has a limit of its own, by address, in one read."""
        out = {}
        for row in self._list("get/rl-mbox/all"):
            limit = RateLimit.from_api(row)
            if limit is not None and row.get("mailbox"):
                out[str(row["mailbox"]).lower()] = limit
        return out

    def set_mailbox_rate_limits(self, addresses: Iterable[str], value: int, frame: str = "d") -> None:
        """Give every mailbox in ``addresses`` the limit ``value`` per ``frame``; 0 removes the limit.

        Mailcow answers one ``rl_saved`` per mailbox and ``access_denied`` for one that does not exist.
        Setting the same limit twice is harmless, so an unknown outcome is simply sent again.
        """
        items = sorted({a.lower() for a in addresses})
        if items:
            self._write_repeatable("edit/rl-mbox",
                                   {"items": items, "attr": {"rl_value": int(value), "rl_frame": frame}})
