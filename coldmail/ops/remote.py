"""Commands on a stack's servers over SSH, with the OpenSSH client and the server's pinned host key.

The stack pins each server's SSH host key (cloud-init installs a key Pulumi generated) and exports its
public half as ``ssh_host_keys``; every connection is checked against it, strictly, and never against a
key learnt on first use. When a stack has no pinned key (deployed before it was exported), the known
hosts file named by ``COLDMAIL_SSH_KNOWN_HOSTS`` or the user's own is used, still strictly. The private
key comes from ``COLDMAIL_SSH_KEY_FILE`` (a path), ``COLDMAIL_SSH_PRIVATE_KEY`` (the key itself) or the
stack's secret ``coldmail:sshPrivateKey``, in that order; key text is written to a 0600 file in a 0700
directory for the one call and removed after it. Nothing secret is ever on a command line: commands
that need a secret get it on stdin.

On the server, ``ROOT`` (empty on a real server) prefixes the paths of the commands built here, as it
does in the remote scripts; the tests' sshd sets it to a scratch root.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

from coldmail.errors import EXIT_BAD_INPUT, ColdmailError
from coldmail.ops import automation

ENV_KEY_FILE = "COLDMAIL_SSH_KEY_FILE"
ENV_KEY = "COLDMAIL_SSH_PRIVATE_KEY"
ENV_PORT = "COLDMAIL_SSH_PORT"
ENV_KNOWN_HOSTS = "COLDMAIL_SSH_KNOWN_HOSTS"
ENV_CONFIG = "COLDMAIL_SSH_CONFIG"
#: The stack config key of the private half of every server's ``sshPublicKey``.
PRIVATE_KEY_CONFIG = "coldmail:sshPrivateKey"
_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")


class RemoteError(ColdmailError):
    """SSH failed, or the command on the server did; ``fix`` says what to do."""

    kind = "ssh"


@dataclass(frozen=True)
class Target:
    """One server as SSH reaches it."""

    server: str
    """The server's name in the stack config (``mx1``)."""
    host: str
    port: int = 22
    user: str = "root"
    host_keys: tuple[str, ...] = ()
    """Pinned public host keys (``ssh-ed25519 AAAA…``); when empty, ``known_hosts_file`` or the user's file."""
    known_hosts_file: Optional[str] = None
    identity_file: Optional[str] = None
    identity: Optional[str] = field(default=None, repr=False, compare=False)
    """Private key text, a secret: written to a 0600 file for each call, never logged."""
    ssh_config: Optional[str] = None
    """An ssh_config file to use instead of the user's (``COLDMAIL_SSH_CONFIG``)."""
    connect_timeout: int = 15

    def __post_init__(self) -> None:
        if not _HOST.match(self.host) or self.host.startswith("-"):
            raise RemoteError(f"{self.host!r} is not a host name or address", "check the stack outputs",
                              exit_code=EXIT_BAD_INPUT)

    @property
    def known_hosts_name(self) -> str:
        """The host as a known_hosts line names it: ``[host]:port`` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class Result:
    """What one remote command did."""

    exit_code: int
    stdout: str
    stderr: str


def ssh_argv(target: Target, command: str, known_hosts: Optional[str], identity_file: Optional[str]) -> list[str]:
    """The OpenSSH client's arguments: strict host-key checking, batch mode, the command last."""
    argv = ["ssh"]
    if target.ssh_config:
        argv += ["-F", target.ssh_config]
    argv += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={target.connect_timeout}",
             "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
    if known_hosts:
        argv += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
    if identity_file:
        argv += ["-o", "IdentitiesOnly=yes", "-i", identity_file]
    return argv + ["-p", str(target.port), "-l", target.user, "--", target.host, command]


def _ssh_failure(target: Target, stderr: str) -> Optional[RemoteError]:
    """The error for a failure of SSH itself (exit 255), or None when the remote command failed."""
    where = f"{target.server} ({target.host}:{target.port})"
    if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        return RemoteError(
            f"the SSH host key of {where} does not match the pinned one", kind="ssh_host_key",
            fix="if the server was rebuilt, run `coldmail refresh` so the stack holds its new key; "
                "host-key checking is never turned off")
    if "Permission denied" in stderr:
        return RemoteError(
            f"{where} refused the SSH key", kind="ssh_auth",
            fix=f"use the private half of the server's sshPublicKey: {ENV_KEY_FILE}=<path> or "
                f"`pulumi config set --secret {PRIVATE_KEY_CONFIG} < key`")
    if re.search(r"Connection (refused|timed out)|No route to host|Could not resolve|Network is unreachable", stderr):
        return RemoteError(f"cannot reach {where} over SSH: {_last_line(stderr)}", kind="ssh_unreachable",
                           fix="port 22 is open only to the server's adminCidrs: run from one of those networks")
    if stderr.startswith("ssh:") or "kex_exchange_identification" in stderr:
        return RemoteError(f"SSH to {where} failed: {_last_line(stderr)}", fix="check the server is up")
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


@contextlib.contextmanager
def _client_files(target: Target) -> Iterator[tuple[Optional[str], Optional[str]]]:
    """The known_hosts and identity files for one call: pinned keys and key text in a private temp dir."""
    if shutil.which("ssh") is None:
        raise RemoteError("the OpenSSH client `ssh` is not installed", "install openssh-client")
    with tempfile.TemporaryDirectory(prefix="coldmail-ssh-") as tmp:
        os.chmod(tmp, 0o700)
        known_hosts = target.known_hosts_file
        if target.host_keys:
            known_hosts = os.path.join(tmp, "known_hosts")
            with open(known_hosts, "w", encoding="utf-8") as fh:
                fh.writelines(f"{target.known_hosts_name} {key.strip()}\n" for key in target.host_keys)
        identity_file = target.identity_file
        if target.identity:
            identity_file = os.path.join(tmp, "id")
            fd = os.open(identity_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(target.identity.strip() + "\n")
        yield known_hosts, identity_file


def _raise_for_ssh(target: Target, returncode: int, stderr: str) -> None:
    if returncode == 255:
        failure = _ssh_failure(target, stderr)
        if failure is not None:
            raise failure


def run(target: Target, command: str, *, stdin: Optional[str] = None, timeout: float = 600,
        check: bool = True) -> Result:
    """Run ``command`` (one shell line, arguments already quoted) on the server.

    :param stdin: fed to the command; the only way a secret may reach it.
    :param check: raise :class:`RemoteError` when the command exits non-zero.
    :raises RemoteError: SSH itself failed (host key, key, network), or, with ``check``, the command did.
    """
    with _client_files(target) as (known_hosts, identity_file):
        try:
            proc = subprocess.run(ssh_argv(target, command, known_hosts, identity_file), input=stdin or "",
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RemoteError(f"{command.split(' && ')[-1][:80]!r} on {target.server} took longer than {timeout:.0f} s",
                              "run it again; see the server's logs (`coldmail server logs`)") from None
    _raise_for_ssh(target, proc.returncode, proc.stderr)
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise RemoteError(f"the command on {target.server} failed (exit {proc.returncode}): "
                          f"{_last_line(proc.stderr) or _last_line(proc.stdout) or 'no output'}",
                          "see the message above; the full output is in the log with --verbose")
    return result


def download(target: Target, parent: str, name: str, dest: str) -> str:
    """Copy the server's directory ``parent/name`` to ``dest/name`` (tar streamed over SSH); returns that path.

    :raises RemoteError: SSH or tar failed; what arrived so far stays in ``dest``.
    """
    command = f'tar -C "${{ROOT:-}}"{shlex.quote(parent)} -cf - -- {shlex.quote(name)}'
    os.makedirs(dest, exist_ok=True)
    with _client_files(target) as (known_hosts, identity_file), tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(ssh_argv(target, command, known_hosts, identity_file), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                archive.extractall(dest, filter="data")
        except tarfile.TarError as exc:
            proc.kill()
            proc.wait()
            err.seek(0)
            _raise_for_ssh(target, 255, err.read().decode(errors="replace"))
            raise RemoteError(f"copying {parent}/{name} from {target.server} failed: {exc}",
                              "check the server's disk and run it again") from None
        proc.stdout.close()
        code = proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    _raise_for_ssh(target, code, stderr)
    if code != 0:
        raise RemoteError(f"copying {parent}/{name} from {target.server} failed (exit {code}): {_last_line(stderr)}",
                          "check the server's disk and run it again")
    return os.path.join(dest, name)


def target_from(outputs: Mapping[str, Any], server: str, env: Mapping[str, str],
                private_key: Optional[str] = None) -> Target:
    """The target for ``server`` from the stack outputs (``servers``, ``ssh_host_keys``) and the environment.

    :raises RemoteError: the stack has no such server, or no address for it (exit 2).
    """
    servers = outputs.get("servers")
    servers = servers if isinstance(servers, Mapping) else {}
    if server not in servers:
        known = ", ".join(sorted(servers)) or "none: run `coldmail up` first"
        raise RemoteError(f"the stack has no server named {server!r} (servers: {known})",
                          "name one of the stack's servers", kind="usage", exit_code=EXIT_BAD_INPUT)
    summary = servers[server] if isinstance(servers[server], Mapping) else {}
    host = summary.get("ipv4_address") or summary.get("hostname")
    if not host:
        raise RemoteError(f"the stack outputs hold no address for server {server!r}",
                          "run `coldmail refresh`, then try again", exit_code=EXIT_BAD_INPUT)
    keys = outputs.get("ssh_host_keys")
    pinned = keys.get(server) if isinstance(keys, Mapping) else None
    port = env.get(ENV_PORT) or "22"
    if not port.isdigit():
        raise RemoteError(f"{ENV_PORT}={port!r} is not a port number", f"unset {ENV_PORT} or set a number",
                          kind="usage", exit_code=EXIT_BAD_INPUT)
    key_file = env.get(ENV_KEY_FILE) or None
    return Target(server=server, host=str(host), port=int(port), host_keys=(pinned,) if pinned else (),
                  known_hosts_file=env.get(ENV_KNOWN_HOSTS) or None, identity_file=key_file,
                  identity=None if key_file else (env.get(ENV_KEY) or private_key), ssh_config=env.get(ENV_CONFIG) or None)


def read_stack(opts: automation.StackOptions) -> tuple[dict[str, Any], Optional[str]]:
    """A deployed stack's outputs (secrets in clear: handle with care), and its SSH private key unless the
    environment names one."""
    handle = automation.open_stack(opts, create=False)
    outputs = automation.plain_outputs(automation.stack_outputs(handle))
    private_key = None
    if not (opts.env.get(ENV_KEY_FILE) or opts.env.get(ENV_KEY)):
        value = automation.read_config(handle).get(PRIVATE_KEY_CONFIG)
        private_key = getattr(value, "value", value) or None
    return outputs, private_key


def targets_from(outputs: Mapping[str, Any], env: Mapping[str, str], private_key: Optional[str],
                 servers: Optional[list[str]] = None) -> list[Target]:
    """The targets of the named servers, or of every server in the outputs.

    :raises RemoteError: a named server is not in the stack (exit 2), or it has no server at all.
    """
    names = servers
    if names is None:
        names = sorted(outputs["servers"]) if isinstance(outputs.get("servers"), Mapping) else []
        if not names:
            raise RemoteError("the stack has no deployed server", "run `coldmail up` first")
    return [target_from(outputs, name, env, private_key) for name in names]


def stack_targets(opts: automation.StackOptions, servers: Optional[list[str]] = None) -> list[Target]:
    """The targets of a deployed stack's servers (all of them when ``servers`` is None)."""
    outputs, private_key = read_stack(opts)
    return targets_from(outputs, opts.env, private_key, servers)
