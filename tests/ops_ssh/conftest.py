"""A real SSH server on loopback standing in for a stack's server.

Debian's sshd runs as root in the foreground (``-D -e``) on 127.0.0.1 with its own host key, its own
config and a port from the OS. Sessions get ``PATH`` with stand-ins first (``docker`` records its
arguments and working directory and answers like Docker, ``systemctl`` starts the backup service,
``journalctl`` prints the relays' log) and ``ROOT``, the scratch root the remote commands and scripts
prefix their paths with. The stack around it is the CLI's fixture project with a recording fake
``pulumi`` whose outputs point at this server and pin its host key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.cli.clikit import PASSPHRASE_ENV, make_project, run_cli
from tests.cli.fake_pulumi import FakePulumiCommand
from tests.support.mta import free_port, wait_for_port

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]
UPSTREAM_STANDIN = REPO / "tests" / "scripts" / "upstream_backup.sh"

_LOG = 'printf "%s" "${0##*/}" >>"$FAKE/calls"; for a in "$@"; do printf " %s" "$a" >>"$FAKE/calls"; done; echo >>"$FAKE/calls"\n'

DOCKER = _LOG + r'''printf '%s\n' "$PWD" >>"$FAKE/cwd"
case "$1 $2" in
  "compose logs")
    [[ -e "$FAKE/compose-logs" ]] && cat "$FAKE/compose-logs" ;;
  "compose exec")
    shift 4
    case "$1 $2" in
      "postqueue -j") [[ -e "$FAKE/postqueue" ]] && cat "$FAKE/postqueue" ;;
      "postsuper -d")
        if grep -q "\"queue_id\": \"$3\"" "$FAKE/postqueue" 2>/dev/null; then
          printf 'postsuper: %s: removed\npostsuper: Deleted: 1 message\n' "$3" >&2
        fi ;;
    esac ;;
  "ps -qf"|"ps -aqf") echo "c0ffee" ;;
  "run --name"|"run -i")
    # `docker run -i` forwards stdin into the container until end-of-file.
    [[ " $* " == *" -i "* ]] && cat >/dev/null ;;
esac
exit 0
'''
SYSTEMCTL = _LOG + r'''case "$1" in
  start) [[ "${@: -1}" == coldmail-backup.service ]] && exec bash "$ROOT/opt/coldmail/backup.sh" run ;;
esac
exit 0
'''
JOURNALCTL = _LOG + '[[ -e "$FAKE/relay-journal" ]] && cat "$FAKE/relay-journal"\nexit 0\n'


def _keypair() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public


@dataclass
class SshServer:
    base: Path
    port: int
    host_public: str
    user_private: str
    proc: subprocess.Popen = field(repr=False)

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def fake(self) -> Path:
        return self.base / "fake"

    @property
    def calls(self) -> list[str]:
        p = self.fake / "calls"
        return p.read_text().splitlines() if p.exists() else []

    def reset(self) -> None:
        """An empty server again: no recorded calls, a scratch root with Mailcow's directory and coldmail's scripts."""
        for d in (self.root, self.fake):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
        helper = self.root / "opt/mailcow-dockerized/helper-scripts/backup_and_restore.sh"
        helper.parent.mkdir(parents=True)
        shutil.copy(UPSTREAM_STANDIN, helper)
        helper.chmod(0o755)
        coldmail = self.root / "opt/coldmail"
        coldmail.mkdir(parents=True)
        shutil.copy(REPO / "components/scripts/backup.sh", coldmail / "backup.sh")
        (coldmail / "coldmail-stack.json").write_text('{"config": {"coldmail:dmarc": {"rua": "dmarc@example.test"}}}\n')


def _start(base: Path) -> SshServer:
    host_private, host_public = _keypair()
    user_private, user_public = _keypair()
    (base / "host_key").write_text(host_private)
    os.chmod(base / "host_key", 0o600)
    (base / "authorized_keys").write_text(user_public + "\n")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for name, body in (("docker", DOCKER), ("systemctl", SYSTEMCTL), ("journalctl", JOURNALCTL)):
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    port = free_port()
    config = base / "sshd_config"
    config.write_text(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {base}/host_key
PidFile none
AuthorizedKeysFile {base}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
SetEnv PATH={bin_dir}:/usr/bin:/bin ROOT={base}/root FAKE={base}/fake
""")
    # sshd's privilege separation directory; a Debian system with a running sshd has it already.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(base / "sshd.log", "w"))
    wait_for_port("127.0.0.1", port, lambda: proc.poll() is None, "sshd", lambda: (base / "sshd.log").read_text())
    server = SshServer(base, port, host_public, user_private, proc)
    server.reset()
    return server


@pytest.fixture(scope="session")
def ssh_server_session():
    assert os.path.exists(SSHD), "Debian's openssh-server is not installed: run `make system-deps`"
    assert os.geteuid() == 0, "the SSH tests start sshd, which needs root"
    base = Path(tempfile.mkdtemp(prefix="coldmail-sshd-"))
    server = _start(base)
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ssh_server(ssh_server_session) -> SshServer:
    ssh_server_session.reset()
    return ssh_server_session


def stack_outputs(server: SshServer, credentials=None) -> dict:
    outputs = {"servers": {"mx1": {"ipv4_address": "127.0.0.1", "hostname": "mx1.acme-mailops.com"}},
               "ssh_host_keys": {"mx1": server.host_public}}
    if credentials is not None:
        outputs["credentials"] = credentials
    return outputs


@pytest.fixture
def project(tmp_path) -> str:
    return make_project(tmp_path)


@pytest.fixture
def cli(ssh_server, project):
    """Run ``coldmail`` against the stand-in stack: the SSH key comes from the stack config, the port from
    ``COLDMAIL_SSH_PORT``, the user's own ssh_config is left out."""
    def run(argv: list[str], credentials=None, env: dict | None = None, fake_class=FakePulumiCommand):
        fake = fake_class(config={"coldmail:sshPrivateKey": ssh_server.user_private},
                                 outputs=stack_outputs(ssh_server, credentials), secret_outputs=("credentials",))
        full_env = dict(PASSPHRASE_ENV, COLDMAIL_SSH_PORT=str(ssh_server.port), COLDMAIL_SSH_CONFIG="/dev/null",
                        HOME=str(Path(project)), **(env or {}))
        result = run_cli(argv + ["--stack", "prod"], project, fake, env=full_env)
        result.fake = fake
        return result
    return run
