"""The Docker provider's ssh options (``components/operations.py``) against a real sshd on loopback: the pinned
host key is accepted on the very first connection, any other key is refused, and no known_hosts file is used."""

from __future__ import annotations

import os
import pwd
import subprocess

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from components.operations import docker_ssh_opts


def _ssh_dir_state() -> dict[str, tuple[int, int]]:
    # ssh finds ~/.ssh through the password database, not $HOME.
    ssh_dir = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".ssh")
    if not os.path.isdir(ssh_dir):
        return {}
    return {f: (os.stat(os.path.join(ssh_dir, f)).st_mtime_ns, os.stat(os.path.join(ssh_dir, f)).st_size)
            for f in sorted(os.listdir(ssh_dir))}


def _ssh(server, tmp_path, pinned: str) -> subprocess.CompletedProcess:
    identity = tmp_path / "id"
    identity.write_text(server.user_private)
    identity.chmod(0o600)
    # What Docker's ssh connection helper runs: the provider's options, then user, port and host.
    argv = ["ssh", "-F", "/dev/null", *docker_ssh_opts(pinned), "-o", "IdentitiesOnly=yes", "-i", str(identity),
            "-l", "root", "-p", str(server.port), "--", "127.0.0.1", "echo connected"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_the_pinned_host_key_is_verified_on_the_first_connection_and_no_known_hosts_file_changes(ssh_server,
                                                                                                   tmp_path):
    before = _ssh_dir_state()
    ok = _ssh(ssh_server, tmp_path, ssh_server.host_public + "\n")
    assert (ok.returncode, ok.stdout) == (0, "connected\n"), ok.stderr
    assert _ssh_dir_state() == before


def test_a_server_presenting_another_host_key_is_refused(ssh_server, tmp_path):
    someone_else = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    refused = _ssh(ssh_server, tmp_path, someone_else)
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr
    assert refused.stdout == ""
