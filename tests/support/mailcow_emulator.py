"""An in-process emulator of the Mailcow HTTP API, for tests and benchmarks.

It follows ``docs/mailcow-api.md`` (the facts read from Mailcow's PHP source and its genuine answers): the same
routes, status codes, response shapes, msg keys and argument types (``["max_quota_in_use", "2048"]`` but
``["mailboxes_in_use", 3]``), units (quota in MiB on write, bytes on read), ``{}`` for empty reads, and the real
gotchas (``get/mailbox/all/<unknown>`` returns every mailbox, DKIM keys survive domain deletes, limits are
check-then-insert and can overshoot, display names lose a leading ``<`` and trailing ``>``, deleting a relayhost
resets every domain that used it).

Usage::

    from tests.support.mailcow_emulator import MailcowEmulator

    with MailcowEmulator(write_latency=0.05) as mc:       # listens on 127.0.0.1:<random port>
        requests.get(f"{mc.url}/api/v1/get/domain/all", headers={"X-API-Key": mc.api_key})
        mc.inject("reset", match="add/mailbox", times=1)  # next matching request: connection reset
        mc.counts()["writes"]; mc.endpoints("write"); mc.calls[-1].status; mc.reset_counters()
        mc.mailboxes["user1@example.test"]["name"] = "drifted"   # state is live; see ``lock``

Constructor: ``MailcowEmulator(api_key="TEST-ONLY-KEY-0000-0000", read_only_key=None, hostname="mail.emulator.test",
write_latency=0.0, read_latency=0.0, ban_threshold=10, ban_window=600, ban_time=1800, password_min_length=6,
version="2026-07a", clock=time.monotonic)``. ``start()`` / ``stop()`` or use it as a context manager; ``url`` is
``http://127.0.0.1:PORT``. ``clock`` times faults armed for some seconds and bans, so a test can move time on
instead of sleeping. ``tls_cert`` (a PEM file with the certificate and its key) serves https, as Mailcow does
with its snake-oil certificate before ACME has run.

State (live dicts, guarded by ``lock``; take it when mutating while requests may run):

- ``domains``: punycode name -> row with MiB values as Mailcow's ``domain`` table stores them
  (``description, aliases, mailboxes, defquota, maxquota, quota, relayhost ("0" = none), active, gal, backupmx,
  relay_all_recipients, relay_unknown_only, tags, created, modified``).
- ``mailboxes``: username -> row (``local_part, domain, name, quota`` in **bytes**, ``active``, ``attributes`` with
  string values, ``password_hash``, ``authsource``, ``tags``, ``created``, ``modified``). Passwords are never stored;
  use ``check_password(address, password)``.
- ``dkim``: domain -> ``{"selector", "pubkey", "key_size"}`` (the "Redis" hashes: they outlive domain deletes).
- ``relayhosts``: int id -> ``{"hostname", "username", "password", "active"}``.
- ``ratelimits``: mailbox address or domain -> ``"N / 1<frame>"``, Mailcow's Redis hash ``RL_VALUE`` (entries of
  deleted mailboxes stay, as in Redis; ``add/mailbox`` clears the new mailbox's entry).
- ``mta_sts``: domain -> ``{"version", "mode", "mx" (comma-separated), "max_age", "active"}``, strings as the API
  takes them. ``add/mta-sts`` answers one object, ``edit/mta-sts`` the usual list with ``object_modified``; there
  is no ``get/mta-sts`` or ``delete/mta-sts`` route (404 "route not found"). ``GET /.well-known/mta-sts.txt`` with
  ``Host: mta-sts.<domain>`` serves an active policy as ``mta-sts.php`` does (no API key; 404 otherwise).

Seeding (bypasses the API and the call log, e.g. to create drift or foreign objects): ``seed_domain(domain, **row)``,
``seed_mailbox(address, name="", quota_mb=0, password="...", active=1)``, ``seed_dkim(domain, selector, key_size)``,
``seed_relayhost(hostname, ...) -> id``, ``seed_mta_sts(domain, mode, mx, max_age=604800, active=1)``.

Call log: ``calls`` (list of :class:`Call`: method, path, action, category, object, extra, endpoint, kind
("read"/"write"/"other"), body (parsed JSON or raw text; passwords masked), status (``None`` when no response was
sent), fault, cookie (the Cookie header the client sent)), ``counts()`` -> ``{"reads", "writes", "total", "by_endpoint": {endpoint: n}}`` where an endpoint is
``"add/mailbox"``, ``"get/mailbox/all"``, ``"get/mailbox/reduced"`` or ``"get/mailbox/*"`` (a single object), and
``reset_counters()`` which clears both. ``latency_charged`` counts the latency pauses by kind (``{"write": n,
"read": m}``) and ``peak_writes`` the most writes that were in flight at once: tests count these instead of timing
requests.

Fault injection: ``inject(fault, match=None, times=1, seconds=None, delay=0.0) -> Fault``. ``match`` is ``None``
(every request), a regex/substring searched in ``"<METHOD> <path>"`` (path without ``/api/v1/``, e.g.
``"add/mailbox"`` or ``"^POST delete/"``) or a callable taking the :class:`Call` being handled (body already parsed)
and returning bool. ``times`` limits how many requests are hit (``None`` = unlimited); ``seconds`` limits how long
the fault is armed. Kinds: ``"reset"`` (close the socket with an RST, no response), ``"500"`` (HTTP 500, empty body),
``"booting"`` (HTTP 500 with Mailcow's HTML "Connection to database failed" page, before authentication),
``"lost_response"`` (the write is applied, then the connection is reset), ``"delay"`` (sleep ``delay`` seconds, then
answer normally). ``clear_faults()`` disarms everything. ``booting(seconds=None, requests=None)`` is a shortcut.

Authentication: ``X-API-Key`` with everything except ``[A-Za-z0-9-]`` stripped. Unknown key: 401; after
``ban_threshold`` failures within ``ban_window`` seconds the client IP is banned for ``ban_time`` seconds, during which
every connection is closed without a response (``unban()`` lifts it). No key: GET -> 200 empty body, add -> 200
``access_denied``, edit/delete -> 403. Read-only key on a write -> 403.

Deliberate choices where the sources are silent: a GET to an add/edit/delete route answers 200 "Cannot find
attributes in post data" (as Mailcow was observed to) rather than 405; a banned client's connection is reset at once instead
of the real netfilter DROP (a test should not wait for a TCP timeout); DKIM public keys are structurally valid
SubjectPublicKeyInfo DER (random modulus, exponent 65537), not real RSA keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import idna

__all__ = ["Call", "Fault", "MailcowEmulator", "FAULT_KINDS"]

FAULT_KINDS = ("reset", "500", "booting", "lost_response", "delay")

_MIB = 1048576
_KEY_STRIP = re.compile(r"[^A-Za-z0-9-]")
_DOMAIN_RE = re.compile(r"^([a-z\d](-*[a-z\d])*)(\.([a-z\d](-*[a-z\d])*))*$", re.I)
_LABELS_RE = re.compile(r"^[^.]{1,63}(\.[^.]{1,63})*$")
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_SPLIT_RE = re.compile(r"[ ,;\n]")
_BOOT_HTML = (
    "<html><head><title>mailcow</title></head><body>"
    "<h1>Connection to database failed.</h1><p>The following error was reported:<br/>"
    "SQLSTATE[HY000] [2002] Connection refused</p><p>Please check your mailcow.conf and try again.</p>"
    "</body></html>"
)
_CONTAINERS = (
    "unbound", "mysql", "redis", "clamd", "rspamd", "php-fpm", "sogo", "dovecot", "postfix", "postfix-tlspol",
    "memcached", "nginx", "acme", "netfilter", "watchdog", "dockerapi", "olefy", "ofelia",
)


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _intval(value: Any) -> int:
    """PHP's intval: leading digits of a string, 0 for anything unparsable."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        m = re.match(r"\s*([+-]?\d+)", value)
        return int(m.group(1)) if m else 0
    return 0


def _php_empty(value: Any) -> bool:
    return value in (None, "", 0, "0", False, [], {}) or (isinstance(value, float) and value == 0.0)


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value) is not None


def to_ascii(name: Any) -> str | None:
    """idn_to_ascii(strtolower(trim(name)), UTS46): punycode, or None where PHP would return false."""
    if not isinstance(name, str):
        name = "" if name is None else str(name)
    name = name.strip().lower()
    if name == "":
        return ""
    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def to_unicode(name: str) -> str:
    try:
        return idna.decode(name)
    except (idna.IDNAError, UnicodeError, ValueError):
        return name


def is_valid_domain_name(name: Any) -> bool:
    """Mailcow's is_valid_domain_name(): LDH labels, single labels allowed, no trailing dot."""
    if _php_empty(name) or not isinstance(name, str):
        return False
    ascii_name = to_ascii(name)
    if not ascii_name:
        return False
    return bool(_DOMAIN_RE.match(ascii_name) and len(ascii_name) <= 253 and _LABELS_RE.match(ascii_name))


def is_valid_email(address: Any) -> bool:
    """An approximation of PHP's FILTER_VALIDATE_EMAIL, good enough for the addresses tests use."""
    if not isinstance(address, str) or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        return False
    return bool(domain) and bool(_DOMAIN_RE.match(domain)) and bool(_LABELS_RE.match(domain))


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def fake_rsa_pubkey(bits: int) -> str:
    """Base64 SubjectPublicKeyInfo with a random modulus: the shape and length of a real RSA key, no key behind it."""
    modulus = bytearray(secrets.token_bytes(bits // 8))
    modulus[0] |= 0x80
    n = _der(0x02, b"\x00" + bytes(modulus))
    e = _der(0x02, b"\x01\x00\x01")
    rsa_key = _der(0x30, n + e)
    algo = _der(0x30, bytes.fromhex("06092a864886f70d010101") + b"\x05\x00")
    spki = _der(0x30, algo + _der(0x03, b"\x00" + rsa_key))
    return base64.b64encode(spki).decode("ascii")


def _stored_name(name: Any) -> str:
    """PHP's ltrim(rtrim($name, '>'), '<'): what add/mailbox and edit/mailbox store as the display name."""
    return str(name).rstrip(">").lstrip("<")


def _mask(data: Any) -> Any:
    """The request data as Mailcow logs it: every field whose name contains "pass" becomes "*"."""
    if isinstance(data, dict):
        return {k: ("*" if "pass" in str(k) else v) for k, v in data.items()}
    return data


def _hash_password(password: str) -> str:
    if re.match(r"^\{[A-Z0-9-]+\}", password):
        return password
    salt = secrets.token_hex(8)
    return "{EMU-SHA256}" + salt + "$" + hashlib.sha256((salt + password).encode()).hexdigest()


@dataclass
class Call:
    """One request as the emulator saw it."""

    method: str
    path: str
    action: str = ""
    category: str = ""
    object: str = ""
    extra: str = ""
    endpoint: str = ""
    kind: str = "other"
    body: Any = None
    status: int | None = None
    fault: str | None = None
    cookie: str | None = None


@dataclass
class Fault:
    """An armed fault; ``hits`` counts the requests it has affected so far."""

    kind: str
    match: Any = None
    times: int | None = 1
    until: float | None = None
    delay: float = 0.0
    hits: int = 0

    def active(self, now: float) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.until is None or now < self.until

    def matches(self, call: Call) -> bool:
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(call))
        return re.search(self.match, f"{call.method} {call.path}") is not None


class _Response:
    def __init__(self, status: int, body: Any = None, raw: bytes | None = None, html: bool = False) -> None:
        self.status = status
        if raw is not None:
            self.raw = raw
        elif body is None:
            self.raw = b""
        else:
            self.raw = json.dumps(body).encode()
        self.content_type = "text/html; charset=UTF-8" if html else "application/json; charset=utf-8"


def _text(status: int, text: str) -> "_Response":
    response = _Response(status, raw=text.encode())
    response.content_type = "text/plain; charset=utf-8"
    return response


class _Crash(Exception):
    """What an uncaught PHP exception turns into: HTTP 500 with an empty body (error_reporting(0))."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, keep-alive clients wait ~40 ms per request.
    disable_nagle_algorithm = True
    server_version = "nginx"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.emulator._handle(self)  # type: ignore[attr-defined]

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # The default backlog of 5 drops SYNs under parallel clients and costs them a 1 s retransmit.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self.connections_lock:
            self.open_connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        # Keep-alive connections outlive serve_forever(); a stopped Mailcow must not keep answering on them.
        with self.connections_lock:
            conns, self.open_connections = list(self.open_connections), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class MailcowEmulator:
    """A Mailcow API on 127.0.0.1 with real response shapes, fault injection and a call log (see module doc)."""

    def __init__(
        self,
        api_key: str = "TEST-ONLY-KEY-0000-0000",
        read_only_key: str | None = None,
        hostname: str = "mail.emulator.test",
        write_latency: float = 0.0,
        read_latency: float = 0.0,
        ban_threshold: int = 10,
        ban_window: float = 600,
        ban_time: float = 1800,
        password_min_length: int = 6,
        version: str = "2026-07a",
        clock: Callable[[], float] = time.monotonic,
        tls_cert: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.read_only_key = read_only_key
        self.hostname = hostname
        self.write_latency = write_latency
        self.read_latency = read_latency
        self.ban_threshold = ban_threshold
        self.ban_window = ban_window
        self.ban_time = ban_time
        self.password_min_length = password_min_length
        self.version = version
        self.clock = clock
        self.tls_cert = tls_cert
        self.lock = threading.RLock()
        self.latency_charged: Counter = Counter()
        self.peak_writes = 0
        self._writes_in_flight = 0
        self.domains: dict[str, dict[str, Any]] = {}
        self.mailboxes: dict[str, dict[str, Any]] = {}
        self.dkim: dict[str, dict[str, Any]] = {}
        self.relayhosts: dict[int, dict[str, Any]] = {}
        self.ratelimits: dict[str, str] = {}
        #: MTA-STS policies by domain, as Mailcow's ``mta_sts`` table holds them (strings, like its API takes).
        self.mta_sts: dict[str, dict[str, str]] = {}
        self._next_relayhost_id = 1
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._auth_failures: dict[str, list[float]] = {}
        self._banned_until: dict[str, float] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._started = time.time()

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> "MailcowEmulator":
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", 0), _Handler)
        if self.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.tls_cert)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="mailcow-emulator"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_open_connections()
        self._server = None

    def __enter__(self) -> "MailcowEmulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_cert else 'http'}://127.0.0.1:{self.port}"

    # ------------------------------------------------------------- test helpers
    @property
    def calls(self) -> list[Call]:
        with self.lock:
            return list(self._calls)

    def counts(self) -> dict[str, Any]:
        """Requests seen since the last reset: reads (get), writes (add/edit/delete), total, by endpoint."""
        with self.lock:
            by_kind = Counter(c.kind for c in self._calls)
            return {
                "reads": by_kind["read"],
                "writes": by_kind["write"],
                "total": len(self._calls),
                "by_endpoint": dict(Counter(c.endpoint for c in self._calls)),
            }

    def endpoints(self, kind: str | None = None) -> list[str]:
        """The endpoints called since the last reset, in order; only reads or writes with ``kind``."""
        with self.lock:
            return [c.endpoint for c in self._calls if kind is None or c.kind == kind]

    def reset_counters(self) -> None:
        with self.lock:
            self._calls.clear()
            self.latency_charged.clear()
            self.peak_writes = 0

    def inject(
        self,
        fault: str,
        match: str | Callable[[Call], bool] | None = None,
        times: int | None = 1,
        seconds: float | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Arm a fault for the next ``times`` matching requests (and/or for ``seconds``)."""
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULT_KINDS)}")
        until = self.clock() + seconds if seconds is not None else None
        f = Fault(kind=fault, match=match, times=times, until=until, delay=delay)
        with self.lock:
            self._faults.append(f)
        return f

    def booting(self, seconds: float | None = None, requests: int | None = None) -> Fault:
        """Answer like a Mailcow whose database is not up yet, for ``requests`` requests or ``seconds`` seconds."""
        return self.inject("booting", times=requests, seconds=seconds)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def unban(self) -> None:
        with self.lock:
            self._banned_until.clear()
            self._auth_failures.clear()

    def check_password(self, address: str, password: str) -> bool:
        """Whether ``password`` is the mailbox's current password."""
        with self.lock:
            stored = self.mailboxes[address.lower()]["password_hash"]
        if stored.startswith("{EMU-SHA256}"):
            salt, digest = stored[len("{EMU-SHA256}"):].split("$", 1)
            return hashlib.sha256((salt + password).encode()).hexdigest() == digest
        return stored == password

    def seed_domain(self, domain: str, **row: Any) -> dict[str, Any]:
        """Insert a domain row directly (MiB values, template defaults); no DKIM, no call logged."""
        name = to_ascii(domain) or domain
        record = self._new_domain_row(name, name)
        record.update(row)
        with self.lock:
            self.domains[name] = record
        return record

    def seed_mailbox(
        self, address: str, name: str = "", quota_mb: int = 0, password: str = "Seeded-Passw0rd", active: int = 1,
        **attributes: str,
    ) -> dict[str, Any]:
        """Insert a mailbox directly, ignoring limits (its domain row is created if missing); no call logged."""
        local, domain = address.lower().split("@", 1)
        domain = to_ascii(domain) or domain
        with self.lock:
            if domain not in self.domains:
                self.seed_domain(domain)
            record = self._new_mailbox_row(local, domain, name, quota_mb * _MIB, active, _hash_password(password), {})
            record["attributes"].update({k: str(v) for k, v in attributes.items()})
            self.mailboxes[record["username"]] = record
        return record

    def seed_dkim(self, domain: str, selector: str = "dkim", key_size: int = 2048) -> dict[str, Any]:
        entry = {"selector": selector, "pubkey": fake_rsa_pubkey(key_size), "key_size": key_size}
        with self.lock:
            self.dkim[to_ascii(domain) or domain] = entry
        return entry

    def seed_relayhost(self, hostname: str, username: str = "", password: str = "", active: int = 1) -> int:
        with self.lock:
            rid = self._next_relayhost_id
            self._next_relayhost_id += 1
            self.relayhosts[rid] = {"hostname": hostname, "username": username, "password": password,
                                    "active": active}
        return rid

    # ------------------------------------------------------------------ HTTP
    def _handle(self, h: _Handler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw_body = h.rfile.read(length) if length > 0 else b""
        client = h.client_address[0]
        split = urllib.parse.urlsplit(h.path)
        call = Call(method=h.command, path=split.path, cookie=h.headers.get("Cookie"))

        with self.lock:
            banned = self._banned_until.get(client, 0) > self.clock()
        if banned:
            call.fault = "banned"
            self._log(call)
            self._reset(h)
            return

        if split.path == "/.well-known/mta-sts.txt" and h.command == "GET":
            # nginx hands Host mta-sts.<domain> to mta-sts.php, which serves the domain's active policy; no API key.
            call.kind, call.endpoint = "read", "mta-sts.txt"
            response = self._serve_mta_sts(h.headers.get("Host") or "")
            call.status = response.status
            self._log(call)
            self._send(h, response)
            return
        m = re.match(r"^/api/v1/(.*)$", split.path)
        if m is None:
            call.status = 404
            self._log(call)
            self._send(h, _Response(404, {"type": "error", "msg": "route not found"}))
            return
        query = self._php_query(m.group(1))
        parts = query.split("/")
        parts += [""] * (4 - len(parts))
        call.path = query
        call.action, call.category, call.object, call.extra = parts[0], parts[1], parts[2], parts[3]
        if call.action == "get":
            call.kind = "read"
        elif call.action in ("add", "edit", "delete"):
            call.kind = "write"
        call.endpoint = self._endpoint(call)
        content_type = h.headers.get("Content-Type") or ""
        call.body = self._parse_for_log(raw_body, content_type)

        fault = self._take_fault(call)
        if fault is not None:
            call.fault = fault.kind
            if fault.kind == "delay":
                time.sleep(fault.delay)
            elif fault.kind == "reset":
                self._log(call)
                self._reset(h)
                return
            elif fault.kind == "500":
                call.status = 500
                self._log(call)
                self._send(h, _Response(500, raw=b""))
                return
            elif fault.kind == "booting":
                call.status = 500
                self._log(call)
                self._send(h, _Response(500, raw=_BOOT_HTML.encode(), html=True))
                return

        with self.lock:
            if call.kind == "write":
                self._writes_in_flight += 1
                self.peak_writes = max(self.peak_writes, self._writes_in_flight)
        try:
            response = self._dispatch(h, call, raw_body, content_type, client)
        except _Crash:
            response = _Response(500, raw=b"")
        finally:
            with self.lock:
                if call.kind == "write":
                    self._writes_in_flight -= 1
        if fault is not None and fault.kind == "lost_response":
            self._log(call)
            self._reset(h)
            return
        call.status = response.status
        self._log(call)
        self._send(h, response)

    @staticmethod
    def _php_query(path: str) -> str:
        # nginx hands the decoded $uri to PHP as ?query=$1, so PHP decodes it a second time: '+' is a space and
        # '&' or '#' end the value.
        decoded = urllib.parse.unquote(path)
        decoded = re.split(r"[&#]", decoded, maxsplit=1)[0]
        return urllib.parse.unquote_plus(decoded)

    @staticmethod
    def _endpoint(call: Call) -> str:
        base = f"{call.action}/{call.category}"
        if call.action == "get" and call.object:
            obj = call.object if call.object in ("all", "reduced", "containers", "version") else "*"
            return f"{base}/{obj}"
        return base

    @staticmethod
    def _parse_for_log(raw: bytes, content_type: str) -> Any:
        if not raw:
            return None
        text = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except ValueError:
            if "application/x-www-form-urlencoded" in content_type:
                return {k: ("*" if "pass" in k else v) for k, v in urllib.parse.parse_qsl(text)}
            return text
        if isinstance(data, dict):
            data = _mask(data)
            if isinstance(data.get("attr"), dict):
                data["attr"] = _mask(data["attr"])
        return data

    def _take_fault(self, call: Call) -> Fault | None:
        with self.lock:
            now = self.clock()
            self._faults = [f for f in self._faults if f.active(now)]
            for f in self._faults:
                if f.matches(call):
                    f.hits += 1
                    return f
        return None

    def _log(self, call: Call) -> None:
        with self.lock:
            self._calls.append(call)

    def _reset(self, h: _Handler) -> None:
        # SO_LINGER 0 turns the close into an RST, which clients report as "connection reset by peer".
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
        except OSError:
            pass
        h.close_connection = True

    def _send(self, h: _Handler, response: _Response) -> None:
        try:
            h.send_response(response.status)
            h.send_header("Content-Type", response.content_type)
            h.send_header("Content-Length", str(len(response.raw)))
            if "MCSESSID=" not in (h.headers.get("Cookie") or ""):
                h.send_header("Set-Cookie", f"MCSESSID={secrets.token_hex(16)}; path=/; HttpOnly; SameSite=Lax")
            h.end_headers()
            h.wfile.write(response.raw)
        except OSError:
            h.close_connection = True

    # -------------------------------------------------------------- dispatch
    def _dispatch(self, h: _Handler, call: Call, raw: bytes, content_type: str, client: str) -> _Response:
        dest = h.headers.get("Sec-Fetch-Dest")
        if dest is not None and dest != "empty":
            return _Response(403, raw=b"")

        role: str | None = None
        if "X-API-Key" in h.headers:
            key = _KEY_STRIP.sub("", h.headers.get("X-API-Key") or "")
            if key and key == _KEY_STRIP.sub("", self.api_key):
                role = "rw"
            elif key and self.read_only_key and key == _KEY_STRIP.sub("", self.read_only_key):
                role = "ro"
            else:
                self._auth_failed(client)
                return _Response(401, {"type": "error", "msg": "authentication failed"})

        action = call.action
        if role is None:
            if action == "add":
                data = call.body if isinstance(call.body, dict) else {}
                if call.category in ("domain", "mailbox"):
                    log = ["mailbox", "add", call.category, data, None]
                else:
                    log = [call.category, "add", data]
                return _Response(200, [{"type": "danger", "log": log, "msg": "access_denied"}])
            if action in ("edit", "delete"):
                return _Response(403, {"type": "error", "msg": "API read/write access denied"})
            return _Response(200, raw=b"")

        if action in ("add", "edit", "delete"):
            if role == "ro":
                return _Response(403, {"type": "error", "msg": "API read/write access denied"})
            return self._dispatch_write(call, raw, content_type, h.command)
        if action == "get":
            if h.command != "GET":
                return _Response(405, {"type": "error", "msg": "only GET method is allowed"})
            if self.read_latency:
                with self.lock:
                    self.latency_charged["read"] += 1
                time.sleep(self.read_latency)
            return self._dispatch_read(call)
        return _Response(404, {"type": "error", "msg": "route not found"})

    def _auth_failed(self, client: str) -> None:
        now = self.clock()
        with self.lock:
            recent = [t for t in self._auth_failures.get(client, []) if now - t < self.ban_window]
            recent.append(now)
            self._auth_failures[client] = recent
            if len(recent) >= self.ban_threshold:
                self._banned_until[client] = now + self.ban_time
                self._auth_failures[client] = []

    # ----------------------------------------------------------------- reads
    def _dispatch_read(self, call: Call) -> _Response:
        cat, obj, extra = call.category, call.object, call.extra
        with self.lock:
            if cat == "domain" and obj:
                if obj == "all":
                    usage = self._usage()
                    return self._get_return([self._domain_view(d, usage) for d in self.domains])
                name = to_ascii(obj)
                return self._get_return(self._domain_view(name) if name in self.domains else None)
            if cat == "mailbox" and obj:
                if obj in ("all", "reduced"):
                    reduced = obj == "reduced"
                    by_domain: dict[str, list[str]] = {}
                    for u, mb in self.mailboxes.items():
                        by_domain.setdefault(mb["domain"], []).append(u)
                    users: list[str] = []
                    for d in extra.split(",") if extra else list(self.domains):
                        d = to_ascii(d)
                        if d in self.domains:
                            users += by_domain.get(d, [])
                        else:
                            # Mailcow's mailbox('get','mailboxes',<unknown>) falls through to "all mailboxes".
                            users += [u for d2 in self.domains for u in by_domain.get(d2, [])]
                    usage = self._usage()
                    return self._get_return([self._mailbox_view(u, reduced, usage) for u in users])
                user = obj.strip().lower()
                return self._get_return(self._mailbox_view(user, False) if user in self.mailboxes else None)
            if cat == "dkim" and obj:
                entry = self.dkim.get(to_ascii(obj) or "")
                if entry is None:
                    return self._get_return(None)
                return self._get_return({
                    "pubkey": entry["pubkey"],
                    "length": str(entry["key_size"]),
                    "dkim_txt": f"v=DKIM1;k=rsa;t=s;s=email;p={entry['pubkey']}",
                    "dkim_selector": entry["selector"],
                    "privkey": "",
                })
            if cat == "relayhost" and obj:
                if obj == "all":
                    return self._get_return([self._relayhost_view(i) for i in sorted(self.relayhosts)])
                rid = _intval(obj)
                return self._get_return(self._relayhost_view(rid) if rid in self.relayhosts else None)
            if cat in ("rl-mbox", "rl-domain") and obj:
                return self._get_return(self._ratelimit_read(cat, obj))
            if cat == "status" and obj == "containers":
                started = datetime.fromtimestamp(self._started, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
                return self._get_return({
                    f"{c}-mailcow": {"type": "info", "container": f"{c}-mailcow", "state": "running",
                                     "started_at": started, "image": f"ghcr.io/mailcow/{c}:{self.version}"}
                    for c in _CONTAINERS
                })
            if cat == "status" and obj == "version":
                return self._get_return({"version": self.version})
            if cat == "passwordpolicy":
                return self._get_return({"length": str(self.password_min_length), "chars": "0",
                                         "special_chars": "0", "lowerupper": "0", "numbers": "0"})
        return _Response(404, {"type": "error", "msg": "route not found"})

    def _ratelimit_view(self, obj: str) -> dict[str, str] | None:
        # Mailcow stores "N / 1<frame>" and splits it on " / 1" when read.
        stored = self.ratelimits.get(obj)
        if not stored:
            return None
        value, _, frame = stored.partition(" / 1")
        return {"value": value, "frame": frame}

    def _ratelimit_read(self, cat: str, obj: str) -> Any:
        if cat == "rl-mbox":
            if obj == "all":
                rows = []
                for d in self.domains:
                    for u, mb in self.mailboxes.items():
                        view = self._ratelimit_view(u) if mb["domain"] == d else None
                        if view:
                            rows.append({**view, "mailbox": u})
                return rows
            user = obj.strip().lower()
            # hasMailboxObjectAccess: the admin reaches a mailbox only through its existing domain.
            if user not in self.mailboxes or self.mailboxes[user]["domain"] not in self.domains:
                return None
            return self._ratelimit_view(user)
        if obj == "all":
            return [{**view, "domain": d} for d in self.domains if (view := self._ratelimit_view(d))]
        name = to_ascii(obj) or ""
        return self._ratelimit_view(name) if name in self.domains else None

    @staticmethod
    def _get_return(data: Any) -> _Response:
        if not data:
            return _Response(200, raw=b"{}")
        return _Response(200, raw=json.dumps(data, indent=4).encode())

    def _usage(self) -> dict[str, tuple[int, int]]:
        """Mailbox count and summed quota (bytes) per domain, in one pass so list reads stay linear."""
        usage: dict[str, tuple[int, int]] = {}
        for mb in self.mailboxes.values():
            count, used = usage.get(mb["domain"], (0, 0))
            usage[mb["domain"]] = (count + 1, used + mb["quota"])
        return usage

    def _domain_view(self, name: str, usage: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
        d = self.domains[name]
        count, used = (usage if usage is not None else self._usage()).get(name, (0, 0))
        quota_b = d["quota"] * _MIB
        left = max(quota_b - used, 0)
        max_new = min(d["maxquota"] * _MIB, left)
        view: dict[str, Any] = {
            "max_new_mailbox_quota": max_new,
            "def_new_mailbox_quota": min(d["defquota"] * _MIB, max_new),
            "quota_used_in_domain": str(used),
            "bytes_total": 0,
            "msgs_total": 0,
            "mboxes_in_domain": count,
            "mboxes_left": max(d["mailboxes"] - count, 0),
            "domain_name": name,
            "domain_h_name": to_unicode(name),
            "description": d["description"],
            "max_num_aliases_for_domain": d["aliases"],
            "max_num_mboxes_for_domain": d["mailboxes"],
            "def_quota_for_mbox": d["defquota"] * _MIB,
            "max_quota_for_mbox": d["maxquota"] * _MIB,
            "max_quota_for_domain": quota_b,
            "relayhost": str(d["relayhost"]),
            "backupmx": d["backupmx"],
            "backupmx_int": d["backupmx"],
            "gal": d["gal"],
            "gal_int": d["gal"],
            "rl": self._ratelimit_view(name) or False,
            "active": d["active"],
            "active_int": d["active"],
            "relay_all_recipients": d["relay_all_recipients"],
            "relay_all_recipients_int": d["relay_all_recipients"],
            "relay_unknown_only": d["relay_unknown_only"],
            "relay_unknown_only_int": d["relay_unknown_only"],
            "created": d["created"],
            "modified": d["modified"],
            "aliases_in_domain": 0,
            "aliases_left": d["aliases"],
            "domain_admins": "-",
        }
        if d.get("tags"):
            view["tags"] = list(d["tags"])
        return view

    def _mailbox_view(
        self, user: str, reduced: bool, usage: dict[str, tuple[int, int]] | None = None,
    ) -> dict[str, Any]:
        mb = self.mailboxes[user]
        d = self.domains.get(mb["domain"])
        view: dict[str, Any] = {
            "username": user,
            "active": mb["active"],
            "active_int": mb["active"],
            "domain": mb["domain"],
            "name": mb["name"],
            "local_part": mb["local_part"],
            "quota": mb["quota"],
            "messages": 0,
            "attributes": dict(mb["attributes"]),
            "custom_attributes": [],
            "quota_used": 0,
            "percent_in_use": 0 if mb["quota"] else "- ",
            "created": mb["created"],
            "modified": mb["modified"],
            "authsource": mb["authsource"],
            "percent_class": "success",
            "last_imap_login": 0,
            "last_smtp_login": 0,
            "last_pop3_login": 0,
            "last_sso_login": 0,
        }
        if not reduced:
            if d is not None:
                used = (usage if usage is not None else self._usage()).get(mb["domain"], (0, 0))[1]
                left = max(d["quota"] * _MIB - used, 0)
                max_new = min(left + mb["quota"], d["maxquota"] * _MIB)
            else:
                max_new = 0
            view.update({
                "max_new_quota": max_new,
                "spam_aliases": 0,
                "pushover_active": 0,
                "rl": self._ratelimit_view(user) or self._ratelimit_view(mb["domain"]) or False,
                "rl_scope": "mailbox" if self._ratelimit_view(user) else "domain",
                "is_relayed": 0,
                "sender_acl": [],
            })
        if mb.get("tags"):
            view["tags"] = list(mb["tags"])
        return view

    def _relayhost_view(self, rid: int) -> dict[str, Any]:
        r = self.relayhosts[rid]
        return {
            "id": rid,
            "hostname": r["hostname"],
            "username": r["username"],
            "password": r["password"],
            "password_short": (r["password"][:3] + "...") if r["password"] else "",
            "active": r["active"],
            "used_by_domains": ", ".join(n for n, d in self.domains.items() if str(d["relayhost"]) == str(rid)),
            "used_by_mailboxes": ", ".join(
                u for u, mb in self.mailboxes.items() if mb["attributes"].get("relayhost") == str(rid)
            ),
        }

    # ---------------------------------------------------------------- writes
    def _dispatch_write(self, call: Call, raw: bytes, content_type: str, method: str) -> _Response:
        action, cat = call.action, call.category
        handlers = {
            ("add", "domain"): self._add_domain,
            ("add", "mailbox"): self._add_mailbox,
            ("add", "dkim"): self._add_dkim,
            ("add", "relayhost"): self._add_relayhost,
            ("add", "mta-sts"): self._add_mta_sts,
            ("edit", "mta-sts"): self._edit_mta_sts,
            ("edit", "domain"): self._edit_domain,
            ("edit", "mailbox"): self._edit_mailbox,
            ("edit", "rl-mbox"): self._edit_rl_mbox,
            ("edit", "rl-domain"): self._edit_rl_domain,
            ("delete", "domain"): self._delete_domain,
            ("delete", "mailbox"): self._delete_mailbox,
            ("delete", "dkim"): self._delete_dkim,
            ("delete", "relayhost"): self._delete_relayhost,
        }
        handler = handlers.get((action, cat))
        if handler is None:
            return _Response(404, {"type": "error", "msg": "route not found"})
        incomplete = _Response(200, {"type": "error", "msg": "Cannot find attributes in post data"})

        payload: Any
        if method == "POST" and "application/json" in content_type.lower():
            try:
                decoded = json.loads(raw.decode("utf-8")) if raw.strip() else None
            except (ValueError, UnicodeDecodeError):
                return _Response(400, {"type": "error", "msg": "Request body doesn't contain valid json!"})
            if decoded is None and raw.strip() != b"null":
                return _Response(400, {"type": "error", "msg": "Request body doesn't contain valid json!"})
            if action == "add":
                payload = decoded
            elif action == "edit":
                if not isinstance(decoded, dict) or decoded.get("items") is None or decoded.get("attr") is None:
                    return incomplete
                payload = (decoded["items"], decoded["attr"])
            else:
                payload = decoded
        elif method == "POST":
            form = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))
            try:
                if action == "add":
                    if "attr" not in form:
                        return incomplete
                    payload = json.loads(form["attr"])
                elif action == "edit":
                    if "attr" not in form or "items" not in form:
                        return incomplete
                    payload = (json.loads(form["items"]), json.loads(form["attr"]))
                else:
                    if "items" not in form:
                        return incomplete
                    payload = json.loads(form["items"])
            except ValueError:
                return incomplete
        else:
            return incomplete

        ret: list[dict[str, Any]] = []
        if action == "add":
            attr = payload if isinstance(payload, dict) else {}
            ok = handler(attr, ret, payload)
            fail_msg = "Cannot add item"
        elif action == "edit":
            items, attr = payload
            ok = handler(items, attr if isinstance(attr, dict) else {}, ret)
            fail_msg = "Cannot edit item"
        else:
            ok = handler(payload, ret)
            fail_msg = "Cannot delete item"
        if ret:
            return _Response(200, ret)
        if ok is False:
            return _Response(200, {"type": "error", "msg": fail_msg})
        return _Response(200, {"type": "success", "msg": "Task completed"})

    def _write_pause(self) -> None:
        if self.write_latency:
            with self.lock:
                self.latency_charged["write"] += 1
            time.sleep(self.write_latency)

    @staticmethod
    def _entry(kind: str, log: list[Any], msg: Any) -> dict[str, Any]:
        return {"type": kind, "log": log, "msg": msg}

    def _new_domain_row(self, name: str, description: str) -> dict[str, Any]:
        return {
            "description": description, "aliases": 400, "mailboxes": 10, "defquota": 3072, "maxquota": 10240,
            "quota": 10240, "relayhost": "0", "active": 1, "gal": 1, "backupmx": 0, "relay_all_recipients": 0,
            "relay_unknown_only": 0, "tags": [], "rl": False, "created": _now(), "modified": None,
        }

    def _new_mailbox_row(
        self, local: str, domain: str, name: str, quota_b: int, active: int, password_hash: str,
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        now = _now()
        attributes = {
            "force_pw_update": "0", "force_tfa": "0", "tls_enforce_in": "0", "tls_enforce_out": "0",
            "sogo_access": "1", "imap_access": "1", "pop3_access": "1", "smtp_access": "1", "sieve_access": "1",
            "eas_access": "1", "dav_access": "1", "relayhost": "0", "passwd_update": now,
            "mailbox_format": "maildir:", "quarantine_notification": "hourly", "quarantine_category": "reject",
            "attribute_hash": "",
        }
        attributes.update(attrs)
        return {
            "username": f"{local}@{domain}", "local_part": local, "domain": domain, "name": name, "quota": quota_b,
            "active": active, "attributes": attributes, "password_hash": password_hash, "authsource": "mailcow",
            "tags": [], "created": now, "modified": now,
        }

    # add/domain ----------------------------------------------------------
    def _add_domain(self, attr: dict[str, Any], ret: list, payload: Any) -> bool:
        log = ["mailbox", "add", "domain", _mask(attr) if isinstance(payload, dict) else payload, None]

        def fail(msg: Any) -> bool:
            ret.append(self._entry("danger", log, msg))
            return False

        raw_domain = attr.get("domain")
        domain = to_ascii(raw_domain)
        description = attr.get("description")
        if _php_empty(description):
            description = domain
        aliases = _intval(attr["aliases"]) if "aliases" in attr else 400
        mailboxes = _intval(attr["mailboxes"]) if "mailboxes" in attr else 10
        defquota = _intval(attr["defquota"]) if "defquota" in attr else 3072
        maxquota = _intval(attr["maxquota"]) if "maxquota" in attr else 10240
        quota = _intval(attr["quota"]) if "quota" in attr else 10240
        if defquota > maxquota:
            return fail("mailbox_defquota_exceeds_mailbox_maxquota")
        if maxquota > quota:
            return fail("mailbox_quota_exceeds_domain_quota")
        if defquota == 0:
            return fail("defquota_empty")
        if maxquota == 0:
            return fail("maxquota_empty")
        active = _intval(attr["active"]) if "active" in attr else 1
        relay_all = _intval(attr.get("relay_all_recipients", 0))
        relay_unknown = _intval(attr.get("relay_unknown_only", 0))
        backupmx = _intval(attr.get("backupmx", 0))
        gal = _intval(attr["gal"]) if "gal" in attr else 1
        if relay_all == 1:
            backupmx = 1
        if relay_unknown == 1:
            backupmx, relay_all = 1, 1
        if domain is None or not is_valid_domain_name(domain):
            return fail("domain_invalid")
        with self.lock:
            if domain in self.domains:
                return fail(["domain_exists", domain])
        if domain == self.hostname:
            return fail("domain_cannot_match_hostname")
        self._write_pause()
        tags = attr.get("tags") or []
        row = self._new_domain_row(domain, description)
        row.update(aliases=aliases, mailboxes=mailboxes, defquota=defquota, maxquota=maxquota, quota=quota,
                   active=active, gal=gal, backupmx=backupmx, relay_all_recipients=relay_all,
                   relay_unknown_only=relay_unknown,
                   tags=[t for t in (tags if isinstance(tags, list) else [tags]) if t])
        with self.lock:
            if domain in self.domains:
                # The row insert of a racing duplicate hits the primary key: an uncaught PDOException.
                raise _Crash()
            self.domains[domain] = row
            key_size = _intval(attr["key_size"]) if "key_size" in attr else 2048
            selector = attr.get("dkim_selector", "dkim")
            if key_size and not _php_empty(selector):
                if domain in self.dkim:
                    ret.append(self._entry("success", log, "domain_add_dkim_available"))
                else:
                    self._add_dkim({"key_size": key_size, "dkim_selector": selector, "domains": domain}, ret, None)
        ret.append(self._entry("success", log, ["domain_added", domain]))
        return True

    # add/mailbox ---------------------------------------------------------
    def _add_mailbox(self, attr: dict[str, Any], ret: list, payload: Any) -> bool:
        log = ["mailbox", "add", "mailbox", _mask(attr) if isinstance(payload, dict) else payload, None]

        def fail(msg: Any) -> bool:
            ret.append(self._entry("danger", log, msg))
            return False

        local_raw = attr.get("local_part")
        local = (local_raw if isinstance(local_raw, str) else "").strip().lower()
        domain = to_ascii(attr.get("domain")) if isinstance(attr.get("domain"), str) else ""
        username = f"{local}@{domain or ''}"
        if not is_valid_email(username) or _php_empty(local_raw):
            return fail("mailbox_invalid")
        # The template default is applied to $name, then overwritten from the request (Mailcow bug): no default.
        name = _stored_name(attr.get("name") or "")
        quota_m = _intval(attr["quota"]) if "quota" in attr else 0
        category = str(attr.get("quarantine_category", "reject"))
        if category not in ("add_header", "reject", "all"):
            return fail("quarantine_category_invalid")
        if not is_valid_domain_name(domain):
            return fail("domain_invalid")
        with self.lock:
            d = self.domains.get(domain)
            if d is None:
                return fail("access_denied")
            boxes = [mb for mb in self.mailboxes.values() if mb["domain"] == domain]
            count = len(boxes)
            used_m = round(sum(mb["quota"] for mb in boxes) / _MIB)
            limits = (d["mailboxes"], d["maxquota"], d["quota"])
            if username in self.mailboxes:
                return fail(["object_exists", username])
        password, password2 = attr.get("password"), attr.get("password2")
        if not self._password_check(password, password2, ret):
            return False
        # Counts were read before the password hash; they are compared and the row inserted afterwards without a
        # lock, which is why parallel adds overshoot the limits on a real Mailcow.
        self._write_pause()
        max_boxes, maxquota, domain_quota = limits
        if count >= max_boxes:
            return fail(["max_mailbox_exceeded", count, max_boxes])
        if quota_m > maxquota:
            return fail(["mailbox_quota_exceeded", maxquota])
        if used_m + quota_m > domain_quota:
            return fail(["mailbox_quota_left_exceeded", domain_quota - used_m])
        attrs = {k: str(_intval(attr[k])) for k in (
            "force_pw_update", "force_tfa", "tls_enforce_in", "tls_enforce_out", "sogo_access", "imap_access",
            "pop3_access", "smtp_access", "sieve_access", "eas_access", "dav_access") if k in attr}
        if isinstance(attr.get("protocol_access"), list):
            for proto in ("imap", "pop3", "smtp", "sieve"):
                attrs[f"{proto}_access"] = "1" if proto in attr["protocol_access"] else "0"
        attrs["relayhost"] = str(_intval(attr.get("relayhost", 0)))
        attrs["quarantine_category"] = category
        if "quarantine_notification" in attr:
            attrs["quarantine_notification"] = str(attr["quarantine_notification"])
        active = _intval(attr["active"]) if "active" in attr else 1
        row = self._new_mailbox_row(local, domain, name, quota_m * _MIB, active, _hash_password(str(password)), attrs)
        tags = attr.get("tags") or []
        row["tags"] = [t for t in (tags if isinstance(tags, list) else [tags]) if t]
        with self.lock:
            if username in self.mailboxes:
                raise _Crash()
            self.mailboxes[username] = row
            # add/mailbox saves the template's empty limit, which deletes a stale RL_VALUE entry.
            self.ratelimits.pop(username, None)
        ret.append(self._entry("success", ["ratelimit", "edit", "mailbox",
                                           {"object": username, "rl_frame": "s", "rl_value": ""}],
                               ["rl_saved", username]))
        ret.append(self._entry("success", log, ["mailbox_added", username]))
        return True

    def _password_check(self, password: Any, password2: Any, ret: list) -> bool:
        log = ["password_check", None, None]
        if _php_empty(password) or _php_empty(password2):
            ret.append(self._entry("danger", log, "password_complexity"))
            return False
        if password != password2:
            ret.append(self._entry("danger", log, "password_mismatch"))
            return False
        if len(str(password)) < self.password_min_length:
            ret.append(self._entry("danger", log, "password_complexity"))
            return False
        return True

    # add/dkim ------------------------------------------------------------
    def _add_dkim(self, attr: dict[str, Any], ret: list, payload: Any) -> bool:
        log = ["dkim", "add", attr]
        if payload is not None:
            # An explicit add/dkim runs an RSA keygen on the real server: as slow as any other write.
            self._write_pause()
        domains = attr.get("domains")
        if domains is not None and not isinstance(domains, (str, int, float)):
            # preg_split() on an array: TypeError, uncaught.
            raise _Crash()
        selector = str(attr.get("dkim_selector", ""))
        key_size = attr.get("key_size")
        ok = True
        for d in _SPLIT_RE.split(str(domains or "")):
            if d == "" and domains:
                continue
            d = d.strip()
            name = to_ascii(d) or d
            valid_selector = selector != "" and re.sub(r"[-_.]", "", selector).isalnum()
            if (not is_valid_domain_name(name) or not _is_numeric(key_size) or not valid_selector
                    or _intval(key_size) < 384):
                ret.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", d]))
                ok = False
                continue
            with self.lock:
                if name in self.dkim:
                    ret.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", d]))
                    ok = False
                    continue
                if name not in self.domains:
                    ret.append(self._entry("danger", log, ["access_denied", d]))
                    ok = False
                    continue
                self.dkim[name] = {"selector": selector, "pubkey": fake_rsa_pubkey(_intval(key_size)),
                                   "key_size": _intval(key_size)}
            ret.append(self._entry("success", log, ["dkim_added", d]))
        return ok

    # add/relayhost -------------------------------------------------------
    def _add_relayhost(self, attr: dict[str, Any], ret: list, payload: Any) -> bool:
        log = ["relayhost", "add", _mask(attr)]
        hostname = str(attr.get("hostname") or "").strip()
        if not hostname:
            ret.append(self._entry("danger", log, "invalid_host"))
            return False
        self._write_pause()
        self.seed_relayhost(hostname, str(attr.get("username") or ""), str(attr.get("password") or ""),
                            _intval(attr["active"]) if "active" in attr else 1)
        ret.append(self._entry("success", log, ["relayhost_added", ""]))
        return True

    # MTA-STS -------------------------------------------------------------
    # add/mta-sts answers one object {"type":"success","msg":"Task completed"} (nothing pushed to `ret`), edit the
    # usual list with object_modified; there is no get/mta-sts and no delete/mta-sts route (HTTP 404 "route not
    # found", the dispatcher's answer for every route it lacks). Refusals are this emulator's choice where the
    # sources are silent: access_denied for a domain that does not exist or has no policy, like other edits.
    _MTA_STS_ATTRS = ("version", "mode", "mx", "max_age", "active")

    def _mta_sts_problem(self, attr: dict[str, Any]) -> str | None:
        if str(attr.get("version", "STSv1")) != "STSv1":
            return "version_invalid"
        if "mode" in attr and attr["mode"] not in ("enforce", "testing", "none"):
            return "policy_mode_invalid"
        if "max_age" in attr and (not _is_numeric(attr["max_age"]) or _intval(attr["max_age"]) < 0):
            return "max_age_invalid"
        if "mx" in attr and not all(is_valid_domain_name(h.strip()) for h in str(attr["mx"]).split(",")):
            return "mx_invalid"
        return None

    def _add_mta_sts(self, attr: dict[str, Any], ret: list, payload: Any) -> bool:
        log = ["mta_sts", "add", attr]
        domain = to_ascii(attr.get("domain"))
        problem = self._mta_sts_problem(attr)
        self._write_pause()
        with self.lock:
            if not domain or domain not in self.domains:
                ret.append(self._entry("danger", log, ["access_denied", attr.get("domain")]))
                return False
            if problem or not all(k in attr for k in ("mode", "mx", "max_age")):
                ret.append(self._entry("danger", log, [problem or "policy_incomplete", domain]))
                return False
            if domain in self.mta_sts:
                ret.append(self._entry("danger", log, ["mta_sts_exists", domain]))
                return False
            self.mta_sts[domain] = {k: str(attr.get(k, "1" if k == "active" else "STSv1"))
                                    for k in self._MTA_STS_ATTRS}
        return True

    def _edit_mta_sts(self, items: Any, attr: dict[str, Any], ret: list) -> bool:
        def edit(item: Any) -> Any:
            domain = to_ascii(item) if isinstance(item, str) else None
            if not domain or domain not in self.mta_sts:
                return "danger", ["access_denied", item]
            problem = self._mta_sts_problem(attr)
            if problem:
                return "danger", [problem, domain]
            self.mta_sts[domain].update({k: str(attr[k]) for k in self._MTA_STS_ATTRS if k in attr})
            return "success", ["object_modified", domain]

        return self._each_item(items, ["mta_sts", "edit", {"domain": items}, attr], ret, edit)

    def _serve_mta_sts(self, host: str) -> _Response:
        name = host.split(":", 1)[0].lower()
        domain = name.removeprefix("mta-sts.") if name.startswith("mta-sts.") else None
        with self.lock:
            policy = self.mta_sts.get(domain or "")
            if policy is None or policy["active"] != "1":
                return _text(404, "404 Not Found\n")
            lines = [f"version: {policy['version']}", f"mode: {policy['mode']}", f"max_age: {policy['max_age']}"]
            lines += [f"mx: {h.strip()}" for h in policy["mx"].split(",") if h.strip()]
        return _text(200, "\n".join(lines) + "\n")

    def seed_mta_sts(self, domain: str, mode: str, mx: str, max_age: int = 604800, active: int = 1) -> None:
        self.mta_sts[domain] = {"version": "STSv1", "mode": mode, "mx": mx, "max_age": str(max_age),
                                "active": str(active)}

    # edit/* and delete/* -------------------------------------------------
    def _each_item(self, items: Any, log: list[Any], ret: list, apply: Callable[[Any], Any]) -> bool:
        """Mailcow's loop over the items of an edit or delete: one answer entry per item, in order.

        ``apply(item)`` runs under the lock and returns ``(type, msg)`` for the item's entry, or ``None`` when
        it pushed its own entry (a password check does).
        """
        self._write_pause()
        for item in items if isinstance(items, list) else [items]:
            with self.lock:
                entry = apply(item)
            if entry is not None:
                ret.append(self._entry(entry[0], log, entry[1]))
        return True

    def _edit_domain(self, items: Any, attr: dict[str, Any], ret: list) -> bool:
        def edit(item: Any) -> Any:
            domain = to_ascii(item) if isinstance(item, str) else None
            d = self.domains.get(domain) if domain and is_valid_domain_name(domain) else None
            if d is None:
                return "danger", "domain_invalid"
            active = _intval(attr["active"]) if "active" in attr else d["active"]
            backupmx = _intval(attr["backupmx"]) if "backupmx" in attr else d["backupmx"]
            relay_all = (_intval(attr["relay_all_recipients"]) if "relay_all_recipients" in attr
                         else d["relay_all_recipients"])
            relayhost = str(_intval(attr["relayhost"])) if "relayhost" in attr else str(d["relayhost"])
            # mailboxes and defquota are taken when set and not "" (so 0 is accepted); aliases, maxquota,
            # quota and description use !empty(), so 0 and "" keep the current value.
            mailboxes = _intval(attr["mailboxes"]) if attr.get("mailboxes") not in (None, "") else d["mailboxes"]
            defquota = _intval(attr["defquota"]) if attr.get("defquota") not in (None, "") else d["defquota"]
            aliases = _intval(attr["aliases"]) if not _php_empty(attr.get("aliases")) else d["aliases"]
            maxquota = _intval(attr["maxquota"]) if not _php_empty(attr.get("maxquota")) else d["maxquota"]
            quota = _intval(attr["quota"]) if not _php_empty(attr.get("quota")) else d["quota"]
            description = attr["description"] if not _php_empty(attr.get("description")) else d["description"]
            gal = _intval(attr["gal"]) if "gal" in attr else d["gal"]
            if relay_all == 1:
                backupmx = 1
            boxes = [mb for mb in self.mailboxes.values() if mb["domain"] == domain]
            # MAX(ROUND(quota/1048576)) and ROUND(SUM(quota)/1048576) are DECIMALs, which PDO hands over as
            # strings; COUNT(*) is an integer. The messages carry them as they are.
            biggest = max((round(mb["quota"] / _MIB) for mb in boxes), default=0)
            quota_all = round(sum(mb["quota"] for mb in boxes) / _MIB)
            refusal = (
                "mailbox_defquota_exceeds_mailbox_maxquota" if defquota > maxquota else
                "defquota_empty" if defquota == 0 else
                "mailbox_quota_exceeds_domain_quota" if maxquota > quota else
                ["max_quota_in_use", str(biggest)] if biggest > maxquota else
                ["domain_quota_m_in_use", str(quota_all)] if quota_all > quota else
                ["mailboxes_in_use", len(boxes)] if len(boxes) > mailboxes else None)
            if refusal is not None:
                return "danger", refusal
            d.update(active=active, backupmx=backupmx, relay_all_recipients=relay_all, relayhost=relayhost,
                     aliases=aliases, mailboxes=mailboxes, maxquota=maxquota, quota=quota, gal=gal,
                     defquota=defquota, description=description, modified=_now())
            new_tags = attr.get("tags") or []
            for tag in new_tags if isinstance(new_tags, list) else [new_tags]:
                if not tag:
                    continue
                if tag in d["tags"]:
                    # Unique (tag_name, domain): the UPDATE above already ran, then the INSERT throws.
                    raise _Crash()
                d["tags"].append(tag)
            return "success", ["domain_modified", domain]

        return self._each_item(items, ["mailbox", "edit", "domain", {"domain": items, **_mask(attr)}, None], ret,
                               edit)

    def _edit_mailbox(self, items: Any, attr: dict[str, Any], ret: list) -> bool:
        def edit(item: Any) -> Any:
            if not is_valid_email(item):
                return "danger", ["username_invalid", item]
            user = item.lower()
            mb = self.mailboxes.get(user)
            d = self.domains.get(mb["domain"]) if mb else None
            if mb is None or d is None:
                return "danger", "access_denied"
            quota_m = _intval(attr["quota"]) if not _php_empty(attr.get("quota")) else mb["quota"] // _MIB
            if quota_m == 0:
                # An unlimited mailbox cannot be edited without sending a quota (Mailcow's !empty() check).
                return "danger", ["quota_not_0_not_numeric", str(quota_m)]
            used = sum(other["quota"] for other in self.mailboxes.values() if other["domain"] == mb["domain"])
            max_new_m = min(d["quota"] * _MIB - used + mb["quota"], d["maxquota"] * _MIB) // _MIB
            if quota_m > max_new_m:
                return "danger", ["mailbox_quota_left_exceeded", max_new_m]
            password = attr.get("password") if not _php_empty(attr.get("password")) else None
            password2 = attr.get("password2") if not _php_empty(attr.get("password2")) else None
            if password is not None or password2 is not None:
                if not self._password_check(password, password2, ret):
                    return None
                mb["password_hash"] = _hash_password(str(password))
                mb["attributes"]["passwd_update"] = _now()
            if "active" in attr:
                mb["active"] = _intval(attr["active"])
            if not _php_empty(attr.get("name")):
                mb["name"] = _stored_name(attr["name"])
            mb["quota"] = quota_m * _MIB
            for k in ("force_pw_update", "force_tfa", "tls_enforce_in", "tls_enforce_out", "sogo_access",
                      "imap_access", "pop3_access", "smtp_access", "sieve_access", "eas_access", "dav_access"):
                if k in attr:
                    mb["attributes"][k] = str(_intval(attr[k]))
            if "relayhost" in attr:
                mb["attributes"]["relayhost"] = str(_intval(attr["relayhost"]))
            new_tags = attr.get("tags") or []
            for tag in new_tags if isinstance(new_tags, list) else [new_tags]:
                if tag and tag not in mb["tags"]:
                    mb["tags"].append(tag)
            mb["modified"] = _now()
            return "success", ["mailbox_modified", user]

        return self._each_item(items, ["mailbox", "edit", "mailbox", {"username": items, **_mask(attr)}, None], ret,
                               edit)

    # edit/rl-mbox, edit/rl-domain ---------------------------------------
    def _edit_ratelimits(self, scope: str, items: Any, attr: dict[str, Any], ret: list,
                         allowed: Callable[[Any], bool]) -> bool:
        # ratelimit('edit', scope, array_merge(['object' => items], attr)): the log carries that merged array.
        data = {"object": items, **attr}
        log = ["ratelimit", "edit", scope, data]
        self._write_pause()
        for obj in items if isinstance(items, list) else [items]:
            value = _intval(attr.get("rl_value"))
            frame = attr.get("rl_frame")
            if frame not in ("s", "m", "h", "d"):
                ret.append(self._entry("danger", log, "rl_timeframe"))
                continue
            with self.lock:
                if not allowed(obj):
                    ret.append(self._entry("danger", log, "access_denied"))
                    continue
                if value == 0:
                    self.ratelimits.pop(obj, None)
                else:
                    self.ratelimits[obj] = f"{value} / 1{frame}"
            ret.append(self._entry("success", log, ["rl_saved", obj]))
        return True

    def _edit_rl_mbox(self, items: Any, attr: dict[str, Any], ret: list) -> bool:
        def allowed(obj: Any) -> bool:
            mb = self.mailboxes.get(obj) if isinstance(obj, str) else None
            return mb is not None and mb["domain"] in self.domains

        return self._edit_ratelimits("mailbox", items, attr, ret, allowed)

    def _edit_rl_domain(self, items: Any, attr: dict[str, Any], ret: list) -> bool:
        def allowed(obj: Any) -> bool:
            return isinstance(obj, str) and is_valid_domain_name(obj) and obj in self.domains

        return self._edit_ratelimits("domain", items, attr, ret, allowed)

    # delete/* ------------------------------------------------------------
    def _delete_domain(self, items: Any, ret: list) -> bool:
        def delete(item: Any) -> Any:
            domain = to_ascii(item) if isinstance(item, str) else None
            if not domain or not is_valid_domain_name(domain):
                return "danger", "domain_invalid"
            if any(mb["domain"] == domain for mb in self.mailboxes.values()):
                return "danger", ["domain_not_empty", domain]
            # DKIM lives in Redis and is deliberately left behind, as Mailcow does.
            self.domains.pop(domain, None)
            return "success", ["domain_removed", domain]

        return self._each_item(items, ["mailbox", "delete", "domain", {"domain": items}, None], ret, delete)

    def _delete_mailbox(self, items: Any, ret: list) -> bool:
        def delete(item: Any) -> Any:
            user = item.lower() if isinstance(item, str) else ""
            if not is_valid_email(user) or user not in self.mailboxes:
                return "danger", "access_denied"
            del self.mailboxes[user]
            return "success", ["mailbox_removed", user]

        return self._each_item(items, ["mailbox", "delete", "mailbox", {"username": items}, None], ret, delete)

    def _delete_dkim(self, items: Any, ret: list) -> bool:
        def delete(item: Any) -> Any:
            name = to_ascii(item) if isinstance(item, str) else None
            if not name or not is_valid_domain_name(name):
                return "danger", ["dkim_domain_or_sel_invalid", item]
            self.dkim.pop(name, None)
            return "success", ["dkim_removed", item]

        return self._each_item(items, ["dkim", "delete", {"domains": items}], ret, delete)

    def _delete_relayhost(self, items: Any, ret: list) -> bool:
        def delete(item: Any) -> Any:
            rid = str(_intval(item))
            self.relayhosts.pop(int(rid), None)
            # Mailcow moves every domain and mailbox that used it to relayhost 0, whoever made them.
            for d in self.domains.values():
                if str(d["relayhost"]) == rid:
                    d["relayhost"] = "0"
            for mb in self.mailboxes.values():
                if mb["attributes"].get("relayhost") == rid:
                    mb["attributes"]["relayhost"] = "0"
            return "success", ["relayhost_removed", str(item)]

        return self._each_item(items, ["relayhost", "delete", {"id": items}], ret, delete)
