"""The SSH layer against a real sshd: the pinned host key is checked strictly, the key never reaches argv."""

import os
import stat
import subprocess

import pytest

from coldmail.ops import remote
from tests.ops_ssh.conftest import _keypair


def target(server, **kw):
    args = dict(server="mx1", host="127.0.0.1", port=server.port, host_keys=(server.host_public,),
                identity=server.user_private, ssh_config="/dev/null")
    args.update(kw)
    return remote.Target(**args)


def test_a_command_runs_on_the_server_verified_by_its_pinned_key(ssh_server):
    result = remote.run(target(ssh_server), 'echo "$ROOT"; docker compose version')
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == str(ssh_server.root)
    assert ssh_server.calls == ["docker compose version"]


def test_a_different_host_key_is_refused_and_nothing_runs(ssh_server):
    _, other = _keypair()
    with pytest.raises(remote.RemoteError) as err:
        remote.run(target(ssh_server, host_keys=(other,)), "docker ps")
    assert err.value.kind == "ssh_host_key"
    assert "does not match the pinned one" in err.value.message and "never turned off" in err.value.fix
    assert ssh_server.calls == []


def test_without_a_pinned_key_an_unknown_server_is_refused_never_learnt(ssh_server, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    with pytest.raises(remote.RemoteError) as err:
        remote.run(target(ssh_server, host_keys=(), known_hosts_file=str(known)), "docker ps")
    assert err.value.kind == "ssh_host_key"
    assert known.read_text() == "" and ssh_server.calls == []


def test_a_key_the_server_does_not_know_is_refused(ssh_server):
    stranger, _ = _keypair()
    with pytest.raises(remote.RemoteError) as err:
        remote.run(target(ssh_server, identity=stranger), "docker ps")
    assert err.value.kind == "ssh_auth" and ssh_server.calls == []


def test_the_private_key_goes_to_a_0600_file_never_onto_the_command_line(ssh_server, monkeypatch):
    seen = []
    real = subprocess.run

    def spy(argv, **kw):
        key_file = argv[argv.index("-i") + 1]
        seen.append((argv, stat.S_IMODE(os.stat(key_file).st_mode), key_file))
        return real(argv, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    remote.run(target(ssh_server), "true")
    (argv, mode, key_file), = seen
    assert mode == 0o600
    assert not any("PRIVATE KEY" in a or ssh_server.user_private.splitlines()[1] in a for a in argv)
    assert not os.path.exists(key_file)
    assert argv[argv.index("StrictHostKeyChecking=yes") - 1] == "-o"


def test_a_failing_command_raises_with_its_last_line_unless_unchecked(ssh_server):
    with pytest.raises(remote.RemoteError, match=r"failed \(exit 3\): it broke"):
        remote.run(target(ssh_server), "echo it broke >&2; exit 3")
    assert remote.run(target(ssh_server), "exit 3", check=False).exit_code == 3


def test_a_directory_downloads_through_tar(ssh_server, tmp_path):
    point = ssh_server.root / "var/backups/mailcow/mailcow-2026-08-05-03-30-00"
    point.mkdir(parents=True)
    (point / "backup_vmail.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 64)
    got = remote.download(target(ssh_server), "/var/backups/mailcow", point.name, str(tmp_path / "kept"))
    assert got == str(tmp_path / "kept" / point.name)
    assert (tmp_path / "kept" / point.name / "backup_vmail.tar.zst").read_bytes() == \
        (point / "backup_vmail.tar.zst").read_bytes()
    with pytest.raises(remote.RemoteError, match="copying /var/backups/mailcow/missing from mx1 failed"):
        remote.download(target(ssh_server), "/var/backups/mailcow", "missing", str(tmp_path / "kept"))
