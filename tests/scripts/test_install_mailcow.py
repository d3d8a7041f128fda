"""install-mailcow.sh against a scratch root with stand-in docker, git, curl, apt-get and systemctl."""

from __future__ import annotations

import stat

import pytest

API_KEY = "FAKE-TEST-KEY-0000-not-a-real-key"
ADMIN_PASSWORD = "fake-admin-password-for-tests"
STDIN = f"API_KEY={API_KEY}\nADMIN_PASSWORD={ADMIN_PASSWORD}\n"
SETTINGS = {"MAILCOW_HOSTNAME": "mx1.example.test", "MAILCOW_TZ": "Europe/Berlin", "MAILCOW_VERSION": "2026-07a",
            "SKIP_CLAMD": "n", "ENABLE_IPV6": "y", "API_ALLOW_FROM": "172.22.1.1,127.0.0.1,203.0.113.0/28",
            "WAIT_TRIES": "3", "WAIT_SLEEP": "0"}


@pytest.fixture
def box(sandbox):
    (sandbox.fake / "expected-key").write_text(API_KEY)
    return sandbox


def install(box, check=True, **overrides):
    return box.run("install-mailcow.sh", env=dict(SETTINGS, **overrides), stdin=STDIN, check=check)


def conf(box) -> dict[str, str]:
    text = (box.root / "opt/mailcow-dockerized/mailcow.conf").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def called(box, prefix: str) -> list[str]:
    return [c for c in box.calls if c.startswith(prefix)]


def test_first_run_installs_docker_clones_the_pinned_tag_generates_and_starts(box):
    install(box)
    assert called(box, "apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker-ce")
    assert called(box, "git clone --quiet --branch 2026-07a https://github.com/mailcow/mailcow-dockerized")
    gen = called(box, "generate_config.sh")
    assert gen == ["generate_config.sh MAILCOW_HOSTNAME=mx1.example.test MAILCOW_TZ=Europe/Berlin "
                   "MAILCOW_BRANCH=master SKIP_CLAMD=n FORCE=y"]
    assert called(box, "docker compose pull")
    assert called(box, "docker compose up -d")
    assert (box.root / "opt/mailcow-dockerized/.git").is_dir()
    # Seeded before Docker starts, so generate_config.sh never restarts Docker for IPv6.
    daemon = (box.root / "etc/docker/daemon.json").read_text()
    assert '"ipv6": true' in daemon and "fixed-cidr-v6" in daemon


def test_mailcow_conf_gets_api_key_allow_from_and_native_compose(box):
    install(box)
    c = conf(box)
    assert c["API_KEY"] == API_KEY
    assert c["API_ALLOW_FROM"] == "172.22.1.1,127.0.0.1,203.0.113.0/28"
    assert c["DOCKER_COMPOSE_VERSION"] == "native"
    assert c["MAILCOW_HOSTNAME"] == "mx1.example.test"
    text = (box.root / "opt/mailcow-dockerized/mailcow.conf").read_text()
    assert text.count("\nAPI_KEY=") == 1 and text.count("DOCKER_COMPOSE_VERSION=") == 1


def test_files_holding_secrets_are_mode_0600(box):
    install(box)
    for rel in ("opt/mailcow-dockerized/mailcow.conf", "opt/coldmail/state/admin-password.sha256"):
        mode = stat.S_IMODE((box.root / rel).stat().st_mode)
        assert mode == 0o600, f"{rel} is {oct(mode)}"
    assert stat.S_IMODE((box.root / "opt/coldmail/state").stat().st_mode) == 0o700


def test_secrets_travel_only_on_stdin_never_in_a_command_line(box):
    install(box)
    everything = "\n".join(box.calls)
    assert API_KEY not in everything
    assert ADMIN_PASSWORD not in everything
    assert f"X-API-Key: {API_KEY}" in (box.fake / "curl-config").read_text()
    assert (box.fake / "php-stdin").read_text() == ADMIN_PASSWORD + "\n"


def test_default_admin_password_is_replaced_with_a_bcrypt_hash(box):
    install(box)
    sql = (box.fake / "mysql-stdin").read_text()
    assert sql.startswith("UPDATE admin SET password='{BLF-CRYPT}$2y$10$")
    assert "WHERE username='admin'" in sql
    assert ADMIN_PASSWORD not in sql


def test_second_run_changes_nothing_and_keeps_every_password(box):
    install(box)
    before = box.snapshot()
    box.reset_calls()
    install(box)
    after = box.snapshot()
    assert after == before
    assert not called(box, "apt-get") and not called(box, "git") and not called(box, "generate_config.sh")
    read_only = {"docker version --format {{.Server.Version}}", "docker compose version"}
    assert [c for c in called(box, "docker") if c not in read_only] == [], box.calls
    assert not called(box, "systemctl")


def test_run_after_compose_up_died_completes_the_install(box):
    (box.fake / "fail-up-once").touch()
    assert install(box, check=False).returncode != 0
    assert not (box.root / "opt/coldmail/state/installed").exists()
    passwords = {k: v for k, v in conf(box).items() if k in ("DBPASS", "DBROOT", "REDISPASS")}
    box.reset_calls()
    install(box)
    assert not called(box, "generate_config.sh"), "a finished mailcow.conf must never be regenerated"
    assert called(box, "docker compose up -d")
    assert (box.root / "opt/coldmail/state/installed").exists()
    assert {k: v for k, v in conf(box).items() if k in passwords} == passwords
    assert (box.fake / "mysql-stdin").exists()


def test_run_after_generate_config_died_regenerates_the_partial_conf(box):
    (box.fake / "fail-generate-once").touch()
    assert install(box, check=False).returncode != 0
    assert not (box.root / "opt/coldmail/state/generated").exists()
    install(box)
    c = conf(box)
    assert c["DBPASS"] and c["API_KEY"] == API_KEY
    assert len(called(box, "generate_config.sh")) == 2


def test_new_api_key_is_edited_in_place_and_recreates_containers(box):
    install(box)
    passwords = conf(box)["DBPASS"]
    box.reset_calls()
    new_key = "FAKE-TEST-KEY-1111-not-a-real-key"
    (box.fake / "expected-key").write_text(new_key)
    box.run("install-mailcow.sh", env=SETTINGS, stdin=f"API_KEY={new_key}\nADMIN_PASSWORD={ADMIN_PASSWORD}\n")
    assert conf(box)["API_KEY"] == new_key
    assert conf(box)["DBPASS"] == passwords
    assert called(box, "docker compose up -d") and not called(box, "docker compose pull")
    assert not called(box, "generate_config.sh")


def test_tag_change_runs_update_sh_again_when_it_exits_2(box):
    install(box)
    box.reset_calls()
    (box.fake / "update-exit2-once").touch()
    install(box, MAILCOW_VERSION="2026-09")
    assert called(box, "git -C") and any("fetch --quiet --tags origin" in c for c in box.calls)
    assert called(box, "update.sh") == ["update.sh --force --skip-ping-check"] * 2
    assert (box.root / "opt/coldmail/state/version").read_text().strip() == "2026-09"
    box.reset_calls()
    install(box, MAILCOW_VERSION="2026-09")
    assert not called(box, "update.sh")


def test_api_key_with_characters_mailcow_strips_is_refused(box):
    proc = box.run("install-mailcow.sh", env=SETTINGS, stdin=f"API_KEY=bad key!\nADMIN_PASSWORD=x\n", check=False)
    assert proc.returncode != 0 and "API_KEY" in proc.stderr
    assert box.calls == []


def test_never_ready_mailcow_fails_with_the_endpoint_named(box):
    (box.fake / "expected-key").write_text("some-other-key-entirely")
    proc = install(box, check=False)
    assert proc.returncode != 0
    assert "get/status/containers" in proc.stderr
    assert not (box.root / "opt/coldmail/state/installed").exists()
