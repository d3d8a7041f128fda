"""SMTP and TLS: the mail ports answer, offer TLS, and present a valid certificate; outbound port 25 works.

Per server: 25 and 587 must greet with ``220`` and offer STARTTLS, 465 must speak TLS and greet, 993
must speak TLS and greet with ``* OK``. The certificate is verified for the server's hostname against
the system CAs; when verification fails the certificate is fetched again without it, so the report
still says whose it is and when it expires. Days to expiry fall into bands (more than 30, 30, 7, 1,
expired): each crossing is a change, so it alerts once, at 30, 7 and 1 days.

Outbound port 25 is probed from each sending IP (the socket is bound to it) towards a real MX, by
default Gmail's. Hetzner blocks outbound 25 on new projects; this is the check that notices. It can
only run where the IP is configured, i.e. on the server: elsewhere it is ``unknown``.
"""

from __future__ import annotations

import datetime as _dt
import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Optional

from coldmail.model.ports import IMAPS, SMTP, SUBMISSION, SUBMISSIONS
from coldmail.ops.history import FAIL, OK, UNKNOWN, WARN, Observation
from coldmail.ops.signals import SMTP as SMTP_FAMILY
from coldmail.ops.signals import TLS, TLS_EXPIRY

from .context import SOURCE, CheckContext
from .targets import IpTarget, ServerTarget

#: Days-to-expiry bands, widest first; crossing into a narrower one is a change that alerts.
EXPIRY_BANDS = (30, 7, 1)
STARTTLS_PORTS = (SMTP, SUBMISSION)
IMPLICIT_TLS_PORTS = (SUBMISSIONS, IMAPS)
_EHLO_NAME = "coldmail-check.invalid"


class ProtocolError(Exception):
    """The peer answered, but not as a mail server should."""


@dataclass(frozen=True)
class CertInfo:
    subject: str
    names: tuple[str, ...]
    not_after: _dt.datetime
    issuer: str
    verified: bool
    problem: Optional[str]
    """Why verification failed (expired, wrong name, unknown CA), or None."""

    def days_left(self, now: _dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True)
class PortResult:
    port: int
    banner: Optional[str] = None
    starttls: Optional[bool] = None
    cert: Optional[CertInfo] = None
    error: Optional[str] = None


class _Lines:
    """Line reading over a socket, SMTP- and IMAP-style; replies end with CRLF."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def line(self) -> str:
        while b"\r\n" not in self.buf and b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ProtocolError("the connection closed mid-reply")
            self.buf += chunk
            if len(self.buf) > 65536:
                raise ProtocolError("a reply line longer than 64 KiB")
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self) -> tuple[int, list[str]]:
        """An SMTP reply: its code and its lines (multi-line ``250-…`` replies joined)."""
        lines = []
        while True:
            line = self.line()
            if len(line) < 3 or not line[:3].isdigit():
                raise ProtocolError(f"not an SMTP reply: {line[:60]!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines


def _cert_info(der: bytes, verified: bool, problem: Optional[str]) -> CertInfo:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertInfo(cn[0].value if cn else cert.subject.rfc4514_string(), names, cert.not_valid_after_utc,
                    cert.issuer.rfc4514_string(), verified, problem)


def _connect(ctx: CheckContext, address: str, port: int) -> socket.socket:
    return socket.create_connection((address, port), timeout=ctx.timeout)


def _smtp_session(ctx: CheckContext, address: str, port: int, standard: int, hostname: str,
                  verify: bool) -> PortResult:
    """Greeting, EHLO, STARTTLS and the TLS handshake on a plain SMTP port."""
    with _connect(ctx, address, port) as sock:
        io = _Lines(sock)
        code, greeting = io.reply()
        if code != 220:
            return PortResult(standard, banner=" ".join(greeting), error=f"greeted with {code} instead of 220")
        sock.sendall(f"EHLO {_EHLO_NAME}\r\n".encode())
        code, features = io.reply()
        starttls = code == 250 and any(f.split(" ", 1)[0].upper() == "STARTTLS" for f in features[1:])
        if not starttls:
            return PortResult(standard, banner=greeting[0], starttls=False)
        sock.sendall(b"STARTTLS\r\n")
        code, text = io.reply()
        if code != 220:
            return PortResult(standard, banner=greeting[0], starttls=False, error=f"STARTTLS refused: {code} {text[0]}")
        tls = ctx.tls_context(verify).wrap_socket(sock, server_hostname=hostname)
        cert = _cert_info(tls.getpeercert(binary_form=True) or b"", verify, None)
        try:
            tls.sendall(b"QUIT\r\n")
        except OSError:
            pass
        tls.close()
        return PortResult(standard, banner=greeting[0], starttls=True, cert=cert)


def _implicit_session(ctx: CheckContext, address: str, port: int, standard: int, hostname: str,
                      verify: bool) -> PortResult:
    """The TLS handshake, then the greeting (``220`` for SMTP submission, ``* OK`` for IMAP)."""
    with _connect(ctx, address, port) as raw:
        tls = ctx.tls_context(verify).wrap_socket(raw, server_hostname=hostname)
        cert = _cert_info(tls.getpeercert(binary_form=True) or b"", verify, None)
        greeting = _Lines(tls).line()
        tls.close()
    ok = greeting.startswith("* OK") if standard == IMAPS else greeting.startswith("220")
    return PortResult(standard, banner=greeting, starttls=None, cert=cert,
                      error=None if ok else f"unexpected greeting {greeting[:60]!r}")


def probe_port(ctx: CheckContext, address: str, hostname: str, standard: int) -> PortResult:
    """One port of one server: never raises; ``error`` says what failed."""
    port = ctx.port(standard)
    session = _smtp_session if standard in STARTTLS_PORTS else _implicit_session
    try:
        result = session(ctx, address, port, standard, hostname, True)
    except ssl.SSLCertVerificationError as exc:
        problem = exc.verify_message or str(exc)
        try:
            result = session(ctx, address, port, standard, hostname, False)
        except (OSError, ProtocolError) as again:
            return PortResult(standard, error=f"TLS failed: {problem}; then {again}")
        cert = result.cert
        if cert is not None:
            cert = CertInfo(cert.subject, cert.names, cert.not_after, cert.issuer, False, problem)
        return PortResult(standard, result.banner, result.starttls, cert, result.error)
    except ssl.SSLError as exc:
        return PortResult(standard, error=f"TLS handshake failed: {exc.reason or exc}")
    except socket.timeout:
        return PortResult(standard, error=f"no answer within {ctx.timeout:g}s")
    except ConnectionRefusedError:
        return PortResult(standard, error="connection refused (port closed)")
    except (OSError, ProtocolError) as exc:
        return PortResult(standard, error=str(exc) or type(exc).__name__)
    return PortResult(standard, result.banner, result.starttls, result.cert, result.error)


def expiry_band(days: float) -> str:
    """``ok`` (more than 30 days), ``30d``, ``7d``, ``1d`` or ``expired``."""
    if days <= 0:
        return "expired"
    for limit in reversed(EXPIRY_BANDS):
        if days <= limit:
            return f"{limit}d"
    return "ok"


def check_server(ctx: CheckContext, server: ServerTarget) -> list[Observation]:
    """``smtp.port-<n>`` per port, ``tls.certificate`` and ``tls.expiry`` for the server."""
    address = server.address
    source = "stack outputs"
    if address is None:
        a = ctx.dns.lookup(server.hostname, "A")
        address = a.values[0] if a.values else None
        source = "DNS"
        if address is None:
            why = a.error or f"{server.hostname} has no A record"
            return [Observation(f"{SMTP_FAMILY}.port-{p}", server.subject, UNKNOWN, f"port {p}: address unknown: {why}",
                                SOURCE, data={"port": p}) for p in (*STARTTLS_PORTS, *IMPLICIT_TLS_PORTS)]
    out: list[Observation] = []
    certs: list[tuple[int, CertInfo]] = []
    for standard in (SMTP, SUBMISSIONS, SUBMISSION, IMAPS):
        r = probe_port(ctx, address, server.hostname, standard)
        data = {"port": standard, "address": address, "address_from": source, "banner": r.banner,
                "starttls": r.starttls, "error": r.error}
        check = f"{SMTP_FAMILY}.port-{standard}"
        if r.error:
            out.append(Observation(check, server.subject, FAIL, f"port {standard}: {r.error}", SOURCE, data=data))
        elif standard in STARTTLS_PORTS and not r.starttls:
            out.append(Observation(check, server.subject, FAIL, f"port {standard} answers but offers no STARTTLS",
                                   SOURCE, data=data))
        else:
            tls = "STARTTLS" if standard in STARTTLS_PORTS else "TLS"
            out.append(Observation(check, server.subject, OK, f"port {standard} answers with {tls}: {r.banner}",
                                   SOURCE, data=data))
        if r.cert is not None:
            certs.append((standard, r.cert))
    out += _certificate(ctx, server, certs)
    return out


def _certificate(ctx: CheckContext, server: ServerTarget, certs: list[tuple[int, CertInfo]]) -> list[Observation]:
    if not certs:
        why = "no port completed a TLS handshake"
        return [Observation(f"{TLS}.certificate", server.subject, UNKNOWN, why, SOURCE),
                Observation(TLS_EXPIRY, server.subject, UNKNOWN, why, SOURCE)]
    now = ctx.now()
    per_port = {str(p): {"subject": c.subject, "names": list(c.names), "issuer": c.issuer,
                         "not_after": c.not_after.isoformat(), "verified": c.verified, "problem": c.problem}
                for p, c in certs}
    bad = [(p, c) for p, c in certs if c.problem]
    if bad:
        text = "; ".join(f"port {p}: {c.problem}" for p, c in bad)
        cert_obs = Observation(f"{TLS}.certificate", server.subject, FAIL,
                               f"certificate not valid for {server.hostname}: {text}", SOURCE, data={"ports": per_port})
    else:
        cert_obs = Observation(f"{TLS}.certificate", server.subject, OK,
                               f"certificate valid for {server.hostname} on ports {', '.join(str(p) for p, _ in certs)}",
                               SOURCE, data={"ports": per_port})
    port, soonest = min(certs, key=lambda pc: pc[1].not_after)
    days = soonest.days_left(now)
    band = expiry_band(days)
    status = {"ok": OK, "30d": WARN, "7d": WARN, "1d": FAIL, "expired": FAIL}[band]
    when = soonest.not_after.strftime("%Y-%m-%d")
    summary = (f"certificate expired on {when}" if band == "expired"
               else f"certificate expires in {int(days)} days ({when})")
    expiry = Observation(TLS_EXPIRY, server.subject, status, summary, SOURCE, value=round(days, 2),
                         data={"band": band, "not_after": soonest.not_after.isoformat(), "port": port})
    return [cert_obs, expiry]


# --------------------------------------------------------------------------------------------
# Greetings and outbound port 25
# --------------------------------------------------------------------------------------------

def greeting_name(address: str, port: int, timeout: float) -> str:
    """The host name in an SMTP greeting (``220 relay1.example.com ESMTP``).

    :raises OSError, ProtocolError: the server did not greet.
    """
    with socket.create_connection((address, port), timeout=timeout) as sock:
        code, lines = _Lines(sock).reply()
        try:
            sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
    if code != 220 or not lines or not lines[0].split():
        raise ProtocolError(f"greeted with {code} {' '.join(lines)[:60]!r}")
    return lines[0].split()[0].rstrip(".").lower()


def check_outbound(ctx: CheckContext, ip: IpTarget) -> Observation:
    """Connect from ``ip`` to the probe MX on port 25, read its greeting, say EHLO as the IP's PTR name."""
    check = f"{SMTP_FAMILY}.outbound-25"
    probe_host, probe_port = ctx.stack.checks.outbound_probe
    data = {"from": ip.address, "to": f"{probe_host}:{probe_port}"}
    if ip.address is None:
        return Observation(check, ip.subject, UNKNOWN, f"the address of {ip.label} is unknown (no stack outputs)",
                           SOURCE, data=data)
    target = probe_host
    if not _is_address(probe_host):
        a = ctx.dns.lookup(probe_host, "A")
        if not a.values:
            return Observation(check, ip.subject, UNKNOWN, f"{probe_host} did not resolve: {a.error or 'no A record'}",
                               SOURCE, data=data)
        target = a.values[0]
    try:
        sock = socket.create_connection((target, probe_port), timeout=ctx.timeout, source_address=(ip.address, 0))
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            return Observation(check, ip.subject, UNKNOWN, f"{ip.address} is not configured on this machine; "
                               "the on-server agent checks outbound port 25", SOURCE, data=data)
        why = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        return Observation(check, ip.subject, FAIL, f"outbound port 25 from {ip.address} is blocked ({why}); "
                           "on Hetzner, ask support to unblock it", SOURCE, data=data)
    try:
        with sock:
            io = _Lines(sock)
            code, greeting = io.reply()
            sock.sendall(f"EHLO {ip.ptr_name}\r\n".encode())
            ehlo, _ = io.reply()
            sock.sendall(b"QUIT\r\n")
    except (OSError, ProtocolError) as exc:
        return Observation(check, ip.subject, FAIL, f"{probe_host} accepted the connection from {ip.address} but "
                           f"the SMTP dialogue failed: {exc}", SOURCE, data=data)
    data.update(greeting=greeting[0] if greeting else "", ehlo=ehlo)
    if code != 220:
        return Observation(check, ip.subject, WARN, f"{probe_host} greeted {ip.address} with {code}", SOURCE, data=data)
    return Observation(check, ip.subject, OK, f"outbound port 25 from {ip.address} works", SOURCE, data=data)


def _is_address(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except OSError:
        return False
    return True


def check_smtp(ctx: CheckContext) -> list[Observation]:
    out: list[Observation] = []
    for server in ctx.targets.servers:
        out += check_server(ctx, server)
        out += [check_outbound(ctx, ip) for ip in server.ips]
    return out
