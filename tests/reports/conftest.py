"""A real Dovecot on 127.0.0.1 holding report mailboxes, shared by the whole session (each stop costs ~1 s).

The instance is private: its own config, base, state and log directories under a temporary directory,
nothing from /etc/dovecot, ports taken from the OS. It serves IMAP in clear (loopback only), IMAPS and
STARTTLS with a certificate made here, and LMTP on a unix socket for delivery. Each test gets mailboxes
of its own, so tests never see each other's mail: the users are written up front, because Dovecot
re-reads a passwd-file at most once a second.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from coldmail.ops.history import History
from coldmail.reports import ImapMailbox, Parser, ReportStore

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_UID = 60001
#: Test-only IMAP password, for mailboxes that exist only inside the test Dovecot.
PASSWORD = "test-only-imap-password"
#: Mailboxes available to the session's tests.
USERS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``imap.test`` and 127.0.0.1; it is also the CA file clients trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imap.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("imap.test"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Dovecot:
    base: Path
    imap_port: int
    imaps_port: int
    ca_file: str
    users_file: Path
    lmtp_socket: str
    proc: subprocess.Popen
    _users: Iterator[str]

    def add_user(self) -> str:
        """A mailbox no other test uses; its login is the returned name, its password :data:`PASSWORD`."""
        return next(self._users)

    def deliver(self, user: str, message: bytes) -> None:
        """Deliver through LMTP, one recipient per transaction (smtplib.LMTP reads one reply per DATA)."""
        with smtplib.LMTP(self.lmtp_socket, local_hostname="lmtp-client.test") as lmtp:
            refused = lmtp.sendmail("reporter@receiver.test", [f"{user}@reports.test"], message)
        assert refused == {}, refused

    def mailbox(self, user: str, **kw) -> ImapMailbox:
        """The mailbox over plain IMAP (loopback); pass ``tls``/``port``/``ca_file`` for the TLS listeners."""
        kw.setdefault("port", self.imap_port)
        kw.setdefault("tls", "plain")
        return ImapMailbox(host="127.0.0.1", user=user, password=PASSWORD, **kw)


def _config(base: Path, imap_port: int, imaps_port: int, cert: Path, key: Path) -> str:
    return f"""instance_name = coldmail-reports-test
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
hostname = imap.test
postmaster_address = postmaster@reports.test
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
# One test logs in with a wrong password on purpose: no 2 s reply delay, and (anvil below) no penalty
# that would delay every later login from 127.0.0.1.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = passwd-file
  args = {base}/users
  default_fields = uid={MAIL_UID} gid={MAIL_UID} home={base}/mail/%n
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _wait_for(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.02)
    text = log.read_text() if log.exists() else ""
    raise AssertionError(f"dovecot did not start listening on {port}: {text[-2000:]}")


@pytest.fixture(scope="session")
def dovecot() -> Dovecot:
    # A missing Dovecot is a broken test machine, never a reason to skip (`make system-deps` installs it).
    assert os.path.exists(DOVECOT), "Debian's dovecot-imapd/dovecot-lmtpd are not installed: run `make system-deps`"
    # Not under pytest's temporary root: it is 0700, and Dovecot's auth and mail processes run as other users.
    base = Path(tempfile.mkdtemp(prefix="coldmail-reports-dovecot-"))
    base.chmod(0o755)
    (base / "mail").mkdir()
    os.chown(base / "mail", MAIL_UID, MAIL_UID)
    users = base / "users"
    names = [f"reports{n}" for n in range(1, USERS + 1)]
    users.write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in names))
    cert, key = _certificate(base)
    imap_port, imaps_port = _free_port(), _free_port()
    conf = base / "dovecot.conf"
    conf.write_text(_config(base, imap_port, imaps_port, cert, key))
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(imap_port, proc, base / "dovecot.log")
        yield Dovecot(base, imap_port, imaps_port, str(cert), users, str(base / "run" / "lmtp"), proc, iter(names))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def store(tmp_path) -> ReportStore:
    return ReportStore(History(str(tmp_path / ".coldmail" / "history.sqlite")))


@pytest.fixture(scope="session")
def parser() -> Parser:
    return Parser()
