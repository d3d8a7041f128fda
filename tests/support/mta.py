"""Debian's real Postfix and Dovecot on loopback for the tests: private instances, ports from the OS.

A missing Postfix or Dovecot is a broken test machine, never a reason to skip (`make system-deps`
installs them). Postfix runs as a child ``master -s`` (no daemon to reap); Dovecot runs in the foreground.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import smtplib
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from components.relay import RelayConfig, render_files

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
MASTER = "/usr/lib/postfix/sbin/master"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
#: The uid Dovecot's mail processes run as; it needs no /etc/passwd entry.
MAIL_UID = 60001


def free_port(host: str = "127.0.0.1", *also: str) -> int:
    """A port the OS gives for ``host`` that is also free on each of ``also`` (IPv6 addresses allowed)."""
    while True:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        try:
            for other in also:
                with socket.socket(socket.AF_INET6 if ":" in other else socket.AF_INET) as s:
                    s.bind((other, port))
            return port
        except OSError:
            continue


def require_postfix() -> None:
    assert os.path.exists(POSTFIX) and os.path.exists(MASTER), (
        "Debian's postfix is not installed: run `make system-deps` (preseed 'No configuration', then "
        "apt-get install postfix)")


def make_traversable(path: Path) -> None:
    """Let Postfix's and Dovecot's unprivileged users walk down to ``path`` (pytest's dirs are 0700)."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(p, mode | stat.S_IXOTH)


def wait_for_port(host: str, port: int, alive, what: str, log=lambda: "") -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            assert alive(), f"{what} exited: {log()}"
            time.sleep(0.02)
    raise AssertionError(f"{what} never listened on {host}:{port}: {log()}")


class PostfixInstance:
    """One Postfix instance with the configuration ``components.relay`` renders, as a child process."""

    def __init__(self, base: Path, cfg: RelayConfig, extra_main_cf: str = "") -> None:
        self.base, self.cfg, self.extra, self.proc = base, cfg, extra_main_cf, None

    def start(self) -> None:
        etc = Path(self.cfg.config_directory)
        etc.mkdir(parents=True)
        Path(self.cfg.queue_directory).mkdir(parents=True)
        old = time.time() - 60
        for fname, text in render_files(self.cfg).items():
            (etc / fname).write_text(text + (self.extra if fname == "main.cf" else ""))
            # A main.cf younger than a second makes postfix pause ~2 s "to let the file settle".
            os.utime(etc / fname, (old, old))
        check = subprocess.run([POSTFIX, "-c", str(etc), "check"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"postfix check failed: {check.stdout}{check.stderr}{self.log()}"
        assert check.stdout + check.stderr == "", f"postfix check warned: {check.stdout}{check.stderr}"
        # Other suites on this machine open connections from 127.x addresses too; one may hold the chosen
        # port for a moment between free_port and master's bind, and master then exits silently (its
        # fatal errors reach only a tty). A master that fails three times in a row is a real failure.
        for _attempt in range(3):
            self.proc = subprocess.Popen([MASTER, "-c", str(etc), "-s"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if self._listening():
                return
            time.sleep(0.3)
        raise AssertionError(f"postfix {self.cfg.name} never listened: {self.log()}")

    def _listening(self) -> bool:
        """True once every listener accepts; False when master exited first."""
        deadline = time.monotonic() + 10
        addresses = [a.strip("[]") for a in (self.cfg.listen_address, *self.cfg.extra_listen_addresses)]
        while addresses and time.monotonic() < deadline:
            try:
                # A bare socket: nothing is said, so smtpd neither serves nor refuses it.
                socket.create_connection((addresses[0], self.cfg.port), timeout=0.5).close()
                addresses.pop(0)
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(0.02)
        assert not addresses, f"postfix {self.cfg.name} never listened on {addresses}: {self.log()}"
        return True

    def log(self) -> str:
        p = Path(self.cfg.maillog_file or "")
        return p.read_text(errors="replace") if p.is_file() else "(no maillog)"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def self_signed(directory: Path, name: str = "imap.test") -> tuple[Path, Path]:
    """A certificate for ``name`` and 127.0.0.1 with its key, as PEM files (the certificate is its own CA)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


class Dovecot:
    """A private Dovecot: IMAP (plain and implicit TLS) and LMTP on 127.0.0.1, users ``login:password``.

    One configuration for every suite (relays, reports, hygiene, warmup); mail lives in maildirs under
    ``base/mail``. ``folders`` are created in every mailbox (``Junk`` with its special use, as a spam
    filter's target); ``sasl`` opens the auth socket a Postfix submission service authenticates against.
    """

    def __init__(self, users: dict[str, str], folders: tuple[str, ...] = ("Junk",), sasl: bool = False) -> None:
        assert os.path.exists(DOVECOT), "Debian's dovecot-imapd/lmtpd is not installed: run `make system-deps`"
        # Not under pytest's temporary root: it is 0700, and Dovecot's auth and mail processes run as other users.
        self.base = Path(tempfile.mkdtemp(prefix="coldmail-dovecot-"))
        os.chmod(self.base, 0o755)
        self.users = {u.lower(): p for u, p in users.items()}
        self.imap_port, self.imaps_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.cert, key = self_signed(self.base)
        self.ca_file = str(self.cert)
        os.chmod(key, 0o644)  # read by Dovecot's login processes, which run as dovenull
        mail = self.base / "mail"
        mail.mkdir()
        os.chown(mail, MAIL_UID, MAIL_UID)
        self._write_users()
        self.auth_socket = self.base / "run" / "auth-postfix"
        b = self.base
        mailboxes = "".join(
            f"  mailbox {f} {{\n" + ("    special_use = \\Junk\n" if f == "Junk" else "") + "    auto = create\n  }\n"
            for f in folders)
        auth = "service auth {\n  unix_listener auth-postfix {\n    mode = 0666\n  }\n}\n" if sasl else ""
        self.conf = b / "dovecot.conf"
        self.conf.write_text(f"""instance_name = coldmail-test-{self.imap_port}
base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
hostname = imap.test
postmaster_address = postmaster@imap.test
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
# Tests log in with wrong passwords on purpose: no 2 s reply delay.
auth_failure_delay = 0
# anna+Junk@… is delivered into anna's Junk folder, as a spam filter would file it.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {b}/users
}}
userdb {{
  driver = passwd-file
  args = {b}/users
  default_fields = uid={MAIL_UID} gid={MAIL_UID} home={b}/mail/%d/%n
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
{auth}# Every client here is 127.0.0.1: the per-IP login penalty after one wrong password (2 to 15 s) would slow
# every later login of every test. The auth process cannot open this socket, so it counts no penalty.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for port in (self.imap_port, self.imaps_port, self.lmtp_port):
            wait_for_port("127.0.0.1", port, lambda: self.proc.poll() is None, "dovecot", self.log)

    def _write_users(self) -> None:
        (self.base / "users").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))

    def add_users(self, users: dict[str, str]) -> None:
        """Logins Dovecot knows from the next second on.

        Dovecot looks at its passwd file at most once a second (when it last did in this very second, a
        new user is unknown until the next one), so this waits for the next second to begin.
        """
        self.users.update({u.lower(): p for u, p in users.items()})
        self._write_users()
        time.sleep(1.01 - time.time() % 1)

    def log(self) -> str:
        p = self.base / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else "(no log)"

    def deliver(self, recipient: str, raw: bytes, sender: str = "") -> None:
        """Deliver one message over LMTP (one recipient per transaction: smtplib.LMTP mishandles several)."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port, local_hostname="mx.test", timeout=10) as lmtp:
            refused = lmtp.sendmail(sender, [recipient], raw)
        assert refused == {}, refused

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.base, ignore_errors=True)
