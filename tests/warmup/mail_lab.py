"""A mail system on loopback for the warmup tests: Debian's Postfix for submission, Dovecot for IMAP.

Postfix listens on 127.0.0.1 (a port from the OS) as a submission server: every client must
authenticate (SASL through Dovecot's auth socket), and every accepted message goes to Dovecot over
LMTP, whatever its domain, so "gmail" seeds and stack mailboxes live in the same Dovecot. Dovecot serves
IMAP with INBOX, Junk (``\\Junk``) and Promotions folders, users from a passwd file that tests extend
while it runs. Nothing resolves a name and nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from imapclient import IMAPClient

from tests.support.mta import MASTER, POSTFIX, Dovecot, free_port, make_traversable, wait_for_port

#: Recipients Postfix answers with a temporary refusal, as Mailcow's rspamd does past a rate limit.
RATE_LIMITED = "limited@refused-example.com"

_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {base}/postfix/queue
data_directory = {base}/postfix/data
syslog_name = postfix-warmup-lab
maillog_file = {base}/postfix/maillog
maillog_file_prefixes = {base}
myhostname = submit.lab.test
mydomain = lab.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_peername_lookup = no
relayhost =
default_transport = lmtp:inet:[127.0.0.1]:{lmtp_port}
lmtp_lhlo_name = submit.lab.test
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth_socket}
smtpd_client_restrictions = permit_sasl_authenticated, reject
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = check_recipient_access texthash:{base}/postfix/etc/refused
biff = no
"""

class MailLab:
    """Postfix (submission with AUTH) in front of Dovecot (LMTP + IMAP), started and stopped by the tests."""

    def __init__(self) -> None:
        for binary in (POSTFIX, MASTER):
            # A missing server is a broken test machine, never a reason to skip (`make system-deps`).
            assert os.path.exists(binary), f"{binary} is missing: run `make system-deps` (postfix)"
        self.base = Path(tempfile.mkdtemp(prefix="coldmail-warmup-lab-"))
        make_traversable(self.base)
        self.smtp_port = free_port()
        self.dovecot: Optional[Dovecot] = None
        self._postfix: Optional[subprocess.Popen] = None

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def lmtp_port(self) -> int:
        return self.dovecot.lmtp_port

    @property
    def users(self) -> dict[str, str]:
        return self.dovecot.users

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "MailLab":
        self.dovecot = Dovecot({}, folders=("Junk", "Promotions"), sasl=True)
        self._start_postfix()
        return self

    def stop(self) -> None:
        if self._postfix is not None and self._postfix.poll() is None:
            self._postfix.terminate()
            self._postfix.wait(timeout=15)
        if self.dovecot is not None:
            self.dovecot.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def _start_postfix(self) -> None:
        etc = self.base / "postfix" / "etc"
        etc.mkdir(parents=True)
        (self.base / "postfix" / "queue").mkdir()
        (etc / "main.cf").write_text(_MAIN_CF.format(base=self.base, lmtp_port=self.lmtp_port,
                                                     auth_socket=self.dovecot.auth_socket))
        (etc / "master.cf").write_text(_MASTER_CF.format(port=self.smtp_port))
        (etc / "refused").write_text(f"{RATE_LIMITED} 451 4.7.1 Ratelimit exceeded, try again later\n")
        old = time.time() - 60
        for f in etc.iterdir():
            # A main.cf younger than a second makes postfix pause ~2 s "to let the file settle".
            os.utime(f, (old, old))
        check = subprocess.run([POSTFIX, "-c", str(etc), "check"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"postfix check failed: {check.stdout}{check.stderr}{self.postfix_log()}"
        self._postfix = subprocess.Popen([MASTER, "-c", str(etc), "-s"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.smtp_port, lambda: self._postfix.poll() is None, "postfix", self.postfix_log)

    def dovecot_log(self) -> str:
        return self.dovecot.log()

    def postfix_log(self) -> str:
        p = self.base / "postfix" / "maillog"
        return p.read_text(errors="replace") if p.is_file() else "(no maillog)"

    # ------------------------------------------------------------------ users and mailboxes
    def add_users(self, users: dict[str, str]) -> None:
        """Mailboxes (address → password) Dovecot knows from the next second on."""
        self.dovecot.add_users(users)

    def imap(self, address: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.imap_port, ssl=False, timeout=10)
        client.login(address, self.users[address.lower()])
        return client

    def folder_headers(self, address: str, folder: str, header: str) -> list[str]:
        """The value of ``header`` of every message in ``folder`` (oldest first)."""
        with self.imap(address) as c:
            c.select_folder(folder, readonly=True)
            uids = c.search(["ALL"])
            key = f"BODY[HEADER.FIELDS ({header.upper()})]".encode()
            out = []
            for uid, data in sorted(c.fetch(uids, [f"BODY.PEEK[HEADER.FIELDS ({header.upper()})]"]).items()):
                raw = data.get(key, b"").decode(errors="replace").strip()
                out.append(raw.split(":", 1)[1].strip() if ":" in raw else "")
            return out

    def flags(self, address: str, folder: str) -> list[tuple]:
        """The flags of every message in ``folder`` (oldest first), without the session's ``\\Recent``."""
        with self.imap(address) as c:
            c.select_folder(folder, readonly=True)
            uids = c.search(["ALL"])
            return [tuple(sorted(f.decode() for f in d[b"FLAGS"] if f != b"\\Recent"))
                    for _, d in sorted(c.fetch(uids, ["FLAGS"]).items())]

    def count(self, address: str, folder: str) -> int:
        with self.imap(address) as c:
            return int(c.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])

    def move_all(self, address: str, source: str, target: str, sender_domain: Optional[str] = None) -> int:
        """Move messages (from ``sender_domain`` only, when given) as a provider's filter would; returns how many."""
        with self.imap(address) as c:
            c.select_folder(source)
            criteria = ["FROM", sender_domain] if sender_domain else ["ALL"]
            uids = c.search(criteria)
            if uids:
                c.move(uids, target)
            return len(uids)

    def wait_for(self, address: str, folder: str, count: int, timeout: float = 20) -> int:
        """Wait until ``folder`` holds at least ``count`` messages; returns how many it holds."""
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            n = self.count(address, folder)
            if n >= count:
                return n
            time.sleep(0.05)
        raise AssertionError(f"{address} {folder}: {n} message(s), expected {count}\n"
                             f"maillog:\n{self.postfix_log()[-3000:]}\ndovecot:\n{self.dovecot_log()[-3000:]}")

    def queue_empty(self, timeout: float = 20) -> None:
        """Wait until Postfix has handed every accepted message to Dovecot."""
        queue = self.base / "postfix" / "queue"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = [f for sub in ("incoming", "active", "deferred", "maildrop") if (queue / sub).is_dir()
                       for _, _, files in os.walk(queue / sub) for f in files]
            if not pending:
                return
            time.sleep(0.05)
        raise AssertionError(f"postfix queue never drained:\n{self.postfix_log()[-3000:]}")
