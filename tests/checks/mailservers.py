"""Mail endpoints on 127.0.0.1 for the SMTP/TLS checks: aiosmtpd for SMTP (STARTTLS and implicit TLS),
a small TLS greeter for IMAPS, and an SMTP sink that records who connected and what HELO it heard."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Optional

from aiosmtpd.controller import Controller

from tests.checks.certs import server_context


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Sink:
    """Records ``(peer address, HELO)`` of every session that says EHLO."""

    def __init__(self) -> None:
        self.sessions: list[tuple[str, str]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 (aiosmtpd hook)
        session.host_name = hostname
        self.sessions.append((session.peer[0], hostname))
        return responses


class _ImapsGreeter:
    def __init__(self, context: ssl.SSLContext) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.context = context
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"* OK [CAPABILITY IMAP4rev1] coldmail test IMAP ready\r\n")
            except (ssl.SSLError, OSError):
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


class MailEndpoints:
    """25 and 587 with STARTTLS, 465 with implicit TLS (aiosmtpd), 993 with implicit TLS; ``closed`` ports
    get a port number where nothing listens. ``ports`` maps the standard numbers to the real ones."""

    def __init__(self, certfile: str, keyfile: str, hostname: str = "mx1.ops-test.com",
                 closed: tuple[int, ...] = (), starttls: bool = True) -> None:
        self.controllers: list[Controller] = []
        self.imaps: Optional[_ImapsGreeter] = None
        self.ports: dict[int, int] = {}
        ctx = server_context(certfile, keyfile)
        for standard in (25, 587, 465):
            if standard in closed:
                self.ports[standard] = free_port()
                continue
            port = free_port()
            kwargs = {"ssl_context": ctx} if standard == 465 else ({"tls_context": ctx} if starttls else {})
            c = Controller(Sink(), hostname="127.0.0.1", port=port, server_hostname=hostname, **kwargs)
            c.start()
            self.controllers.append(c)
            self.ports[standard] = port
        if 993 in closed:
            self.ports[993] = free_port()
        else:
            self.imaps = _ImapsGreeter(ctx)
            self.ports[993] = self.imaps.port

    def close(self) -> None:
        for c in self.controllers:
            c.stop()
        if self.imaps:
            self.imaps.close()


class Greeter:
    """An SMTP server whose greeting names ``hostname``, like a relay's ``myhostname``; also the outbound sink."""

    def __init__(self, hostname: str, host: str = "127.0.0.1") -> None:
        self.sink = Sink()
        self.port = free_port(host)
        self.controller = Controller(self.sink, hostname=host, port=self.port, server_hostname=hostname)
        self.controller.start()
        self.endpoint = (host, self.port)

    def close(self) -> None:
        self.controller.stop()
