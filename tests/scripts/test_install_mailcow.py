"""install-mailcow.sh against a scratch root with stand-in docker, git, curl, apt-get and systemctl."""

from __future__ import annotations

import hashlib
import json
import shlex
import stat
import subprocess

import pytest

API_KEY = "FAKE-TEST-KEY-0000-not-a-real-key"
ADMIN_PASSWORD = "fake-admin-password-for-tests"
STDIN = f"API_KEY={API_KEY}\nADMIN_PASSWORD={ADMIN_PASSWORD}\n"
COMMIT = "489db905122d20487e29c9a8438b311c403442ab"
BINDS = ("SMTP_PORT=25 SMTPS_PORT=465 SUBMISSION_PORT=587 IMAP_PORT=143 IMAPS_PORT=993 POP_PORT=127.0.0.1:110 "
         "POPS_PORT=127.0.0.1:995 SIEVE_PORT=127.0.0.1:4190 HTTP_BIND= HTTPS_BIND=")
SETTINGS = {"MAILCOW_HOSTNAME": "mx1.example.test", "MAILCOW_TZ": "Europe/Berlin", "MAILCOW_VERSION": "2026-07a",
            "MAILCOW_COMMIT": COMMIT, "SKIP_CLAMD": "n", "ENABLE_IPV6": "y",
            "API_ALLOW_FROM": "172.22.1.1,127.0.0.1,203.0.113.0/28", "MAILCOW_BINDS": BINDS,
            "PINNED_IMAGES": "ofelia-mailcow=mcuadros/ofelia:0.3.21 memcached-mailcow=memcached:1.6.45-alpine",
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


def test_tag_change_checks_out_the_pinned_commit_and_pulls_itself_never_update_sh(box):
    install(box)
    box.reset_calls()
    new = "0000000000000000000000000000000000002609"
    install(box, MAILCOW_VERSION="2026-09", MAILCOW_COMMIT=new)
    mailcow = box.root / "opt/mailcow-dockerized"
    assert called(box, "git -C") and f"git -C {mailcow} fetch --quiet origin refs/tags/2026-09:refs/tags/2026-09" in box.calls
    assert f"git -C {mailcow} rev-parse --verify --quiet refs/tags/2026-09^{{commit}}" in box.calls
    assert f"git -C {mailcow} checkout --quiet -B master {new}" in box.calls
    assert called(box, "docker compose pull") and called(box, "docker compose up -d")
    assert not called(box, "update.sh"), "update.sh runs itself and its modules from origin/master"
    assert (box.root / "opt/coldmail/state/version").read_text().strip() == f"2026-09 {new}"
    box.reset_calls()
    install(box, MAILCOW_VERSION="2026-09", MAILCOW_COMMIT=new)
    assert not called(box, "git") and not called(box, "docker compose pull")


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


# --- No window with the default admin password ------------------------------------------------------

LOOPBACK = "127.0.0.1"


def exposures(box) -> list[dict[str, str]]:
    """What each `compose up` published: the web port bindings and what the admin row held."""
    lines = (box.fake / "exposure").read_text().splitlines() if (box.fake / "exposure").exists() else []
    return [dict(part.split("=", 1) for part in line.split(" ")) for line in lines]


def assert_default_password_never_public(box):
    for seen in exposures(box):
        public = seen["HTTPS_BIND"] != LOOPBACK or seen["HTTP_BIND"] != LOOPBACK
        assert not (public and seen["admin"] in ("DEFAULT", "none")), f"default admin reachable: {exposures(box)}"


def admin_row(box) -> str:
    return (box.fake / "admin-row").read_text().strip()


def test_web_ports_open_only_after_the_admin_password_replaced_the_default(box):
    install(box)
    seen = exposures(box)
    assert seen[0] == {"HTTPS_BIND": LOOPBACK, "HTTP_BIND": LOOPBACK, "admin": "DEFAULT"}
    assert seen[-1]["HTTPS_BIND"] == "" and seen[-1]["HTTP_BIND"] == ""
    assert seen[-1]["admin"].startswith("{BLF-CRYPT}$2y$10$")
    assert (conf(box)["HTTPS_BIND"], conf(box)["HTTP_BIND"]) == ("", "")
    assert called(box, "docker compose restart acme-mailcow"), "ACME must retry at once once port 80 is public"
    assert_default_password_never_public(box)


def test_stuck_container_fails_the_install_but_the_password_is_already_replaced(box):
    (box.fake / "stuck").write_text("sogo-mailcow")
    proc = install(box, check=False)
    assert proc.returncode == 1 and "get/status/containers" in proc.stderr
    assert admin_row(box).startswith("{BLF-CRYPT}$2y$10$")
    assert_default_password_never_public(box)
    assert not (box.root / "opt/coldmail/state/installed").exists()


def test_stuck_php_fpm_leaves_the_web_ports_on_loopback(box):
    (box.fake / "stuck-php-fpm").touch()
    proc = install(box, check=False)
    assert proc.returncode == 1 and "stay on 127.0.0.1" in proc.stderr
    assert admin_row(box) == "DEFAULT"
    assert (conf(box)["HTTPS_BIND"], conf(box)["HTTP_BIND"]) == (LOOPBACK, LOOPBACK)
    assert exposures(box) and all(e["HTTPS_BIND"] == LOOPBACK for e in exposures(box))
    assert_default_password_never_public(box)
    (box.fake / "stuck-php-fpm").unlink()
    install(box)
    assert (conf(box)["HTTPS_BIND"], conf(box)["HTTP_BIND"]) == ("", "")
    assert_default_password_never_public(box)


def test_update_before_init_db_inserted_the_admin_is_retried_until_it_lands(box):
    (box.fake / "late-init-db").touch()
    install(box)
    sql = (box.fake / "mysql-stdin").read_text()
    assert sql.count("UPDATE admin SET password=") == 2
    assert "SELECT COUNT(*) FROM admin WHERE username='admin' AND password='{BLF-CRYPT}$2y$10$" in sql
    assert admin_row(box).startswith("{BLF-CRYPT}")
    assert_default_password_never_public(box)


def test_script_killed_while_setting_the_password_leaves_nothing_reachable_and_a_rerun_finishes(box):
    (box.fake / "kill-during-mysql").touch()
    proc = install(box, check=False)
    assert proc.returncode != 0
    assert (conf(box)["HTTPS_BIND"], conf(box)["HTTP_BIND"]) == (LOOPBACK, LOOPBACK)
    assert not (box.root / "opt/coldmail/state/admin-password.sha256").exists()
    assert_default_password_never_public(box)
    install(box)
    assert admin_row(box).startswith("{BLF-CRYPT}") and conf(box)["HTTPS_BIND"] == ""
    assert_default_password_never_public(box)


def test_no_secret_reaches_any_command_line(box):
    box.record_argv()
    install(box)
    new_key = "FAKE-TEST-KEY-1111-not-a-real-key"
    (box.fake / "expected-key").write_text(new_key)
    box.run("install-mailcow.sh", env=SETTINGS, stdin=f"API_KEY={new_key}\nADMIN_PASSWORD=another-fake-password\n")
    assert box.argv, "the plain tools record their argv"
    for secret in (API_KEY, new_key, ADMIN_PASSWORD, "another-fake-password"):
        assert not [a for a in box.argv + box.calls if secret in a], secret


# --- Pinned means pinned ----------------------------------------------------------------------------

def test_clone_checks_the_tag_resolves_to_the_pinned_commit(box):
    install(box)
    mailcow = box.root / "opt/mailcow-dockerized"
    partial = f"{mailcow}.partial"
    assert f"git -C {partial} rev-parse --verify --quiet refs/tags/2026-07a^{{commit}}" in box.calls
    assert f"git -C {partial} checkout --quiet -B master {COMMIT}" in box.calls
    assert (mailcow / ".git/HEAD-commit").read_text().strip() == COMMIT
    assert (box.root / "opt/coldmail/state/version").read_text().strip() == f"2026-07a {COMMIT}"


def test_tag_moved_upstream_is_refused_before_anything_runs(box):
    (box.fake / "tags").write_text("2026-07a 1111111111111111111111111111111111111111\n")
    proc = install(box, check=False)
    assert proc.returncode == 1
    assert f"resolves to 1111111111111111111111111111111111111111, not the pinned {COMMIT}" in proc.stderr
    assert not (box.root / "opt/mailcow-dockerized").exists()
    assert not called(box, "generate_config.sh") and not called(box, "docker compose pull")
    assert not called(box, "docker compose up")


def test_update_to_a_tag_that_does_not_match_its_commit_changes_nothing(box):
    install(box)
    box.reset_calls()
    proc = install(box, check=False, MAILCOW_VERSION="2026-09", MAILCOW_COMMIT="2" * 40)
    assert proc.returncode == 1 and "refusing to run it" in proc.stderr
    assert (box.root / "opt/coldmail/state/version").read_text().strip() == f"2026-07a {COMMIT}"
    assert (box.root / "opt/mailcow-dockerized/.git/HEAD-commit").read_text().strip() == COMMIT
    assert not called(box, "docker compose pull") and not called(box, "docker compose up")


def test_unpinned_upstream_images_are_pinned_by_digest_in_the_override(box):
    digest = "sha256:" + "ab" * 32
    install(box, PINNED_IMAGES=f"ofelia-mailcow=mcuadros/ofelia:0.3.21@{digest} memcached-mailcow=memcached:1.6.45-alpine")
    override = (box.root / "opt/mailcow-dockerized/docker-compose.override.yml").read_text()
    pulled = hashlib.sha256(b"memcached:1.6.45-alpine").hexdigest()  # what the stand-in registry serves
    assert f"  ofelia-mailcow:\n    image: mcuadros/ofelia:0.3.21@{digest}\n" in override
    assert f"  memcached-mailcow:\n    image: memcached:1.6.45-alpine@sha256:{pulled}\n" in override
    assert called(box, "docker image inspect") == [
        "docker image inspect --format {{range .RepoDigests}}{{println .}}{{end}} memcached:1.6.45-alpine"]
    box.reset_calls()
    install(box, PINNED_IMAGES=f"ofelia-mailcow=mcuadros/ofelia:0.3.21@{digest} memcached-mailcow=memcached:1.6.45-alpine")
    assert not called(box, "docker compose pull") and not called(box, "docker image inspect")


def test_docker_apt_key_with_another_fingerprint_is_never_trusted(box):
    (box.fake / "evil-docker-key").touch()
    proc = install(box, check=False)
    assert proc.returncode == 1 and "not Docker's 9DC858229FC7DD38854AE2D88D81803C0EBFCD88" in proc.stderr
    assert not (box.root / "etc/apt/keyrings/docker.asc").exists()
    assert not (box.root / "etc/apt/sources.list.d/docker.list").exists()
    assert not called(box, "apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker-ce")


def test_docker_apt_key_is_installed_after_its_fingerprint_matched(box):
    install(box)
    gpg = called(box, "gpg")
    assert len(gpg) == 1 and "--show-keys" in gpg[0]
    assert (box.root / "etc/apt/keyrings/docker.asc").read_text() == "fake key\n"


# --- No relay by any path ---------------------------------------------------------------------------

def daemon_json(box) -> dict:
    return json.loads((box.root / "etc/docker/daemon.json").read_text())


def test_docker_runs_without_userland_proxy_and_with_ip6tables_when_ipv6_is_on(box):
    install(box)
    assert daemon_json(box) == {"userland-proxy": False, "ipv6": True, "fixed-cidr-v6": "fd00:dead:beef:c0::/80",
                                "ip6tables": True, "experimental": True}
    assert conf(box)["ENABLE_IPV6"] == "true"


def test_ipv4_only_server_binds_every_mail_port_to_ipv4(box):
    (box.fake / "host-ipv6").write_text("false")
    binds = BINDS.replace("=25", "=0.0.0.0:25").replace("HTTP_BIND=", "HTTP_BIND=0.0.0.0").replace(
        "HTTPS_BIND=", "HTTPS_BIND=0.0.0.0")
    install(box, ENABLE_IPV6="n", MAILCOW_BINDS=binds)
    assert daemon_json(box) == {"userland-proxy": False, "ipv6": False}
    c = conf(box)
    assert c["ENABLE_IPV6"] == "false"
    assert (c["SMTP_PORT"], c["HTTPS_BIND"], c["HTTP_BIND"], c["POP_PORT"]) == (
        "0.0.0.0:25", "0.0.0.0", "0.0.0.0", "127.0.0.1:110")


def test_existing_daemon_json_keeps_its_keys_and_docker_restarts_for_the_change(box):
    install(box)
    (box.root / "etc/docker/daemon.json").write_text('{"log-driver": "journald", "userland-proxy": true}')
    box.reset_calls()
    install(box)
    assert daemon_json(box)["log-driver"] == "journald" and daemon_json(box)["userland-proxy"] is False
    assert "systemctl restart docker" in box.calls


def test_daemon_json_that_is_not_json_stops_the_install_untouched(box):
    (box.root / "etc/docker").mkdir(parents=True)
    (box.root / "etc/docker/daemon.json").write_text("{not json")
    proc = install(box, check=False)
    assert proc.returncode == 1 and "daemon.json is not a JSON object" in proc.stderr
    assert (box.root / "etc/docker/daemon.json").read_text() == "{not json"


@pytest.mark.parametrize("wanted, detected", [("y", "false"), ("n", "true")])
def test_install_fails_when_mailcow_disagrees_about_ipv6(box, wanted, detected):
    (box.fake / "host-ipv6").write_text(detected)
    proc = install(box, check=False, ENABLE_IPV6=wanted)
    assert proc.returncode == 1
    assert f"Mailcow found ENABLE_IPV6={detected} on this host" in proc.stderr
    assert not (box.root / "opt/coldmail/state/generated").exists()
    assert not called(box, "docker compose up")


def test_mail_port_bindings_come_from_the_stack(box):
    install(box)
    c = conf(box)
    assert (c["SMTP_PORT"], c["IMAPS_PORT"], c["POP_PORT"], c["POPS_PORT"], c["SIEVE_PORT"]) == (
        "25", "993", "127.0.0.1:110", "127.0.0.1:995", "127.0.0.1:4190")
    assert c["HTTP_REDIRECT"] == "y"


# --- Host hardening ---------------------------------------------------------------------------------

RULE = "DOCKER-USER -d 169.254.169.254/32 -j DROP"


def test_containers_are_blocked_from_the_metadata_service_once_and_after_every_docker_start(box):
    install(box)
    assert (box.fake / "iptables").read_text().splitlines() == [RULE]
    unit = (box.root / "etc/systemd/system/coldmail-block-metadata.service").read_text()
    for line in ("After=docker.service", "PartOf=docker.service", "WantedBy=docker.service", "Type=oneshot"):
        assert f"\n{line}\n" in unit
    assert "systemctl enable coldmail-block-metadata.service" in box.calls
    install(box)
    assert (box.fake / "iptables").read_text().splitlines() == [RULE]
    # A reboot loses the rule; the unit's command (run when Docker starts) puts it back, once.
    (box.fake / "iptables").write_text("")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))[len("ExecStart="):]
    for _ in range(2):
        subprocess.run(shlex.split(exec_start), env=box.env, check=True, timeout=30)
    assert (box.fake / "iptables").read_text().splitlines() == [RULE]


def test_admin_allow_list_goes_into_nginx_and_away_again(box):
    install(box, ADMIN_UI_ALLOW="172.22.1.1,127.0.0.1,203.0.113.0/28,2001:db8::/48")
    nginx = box.root / "opt/mailcow-dockerized/data/conf/nginx"
    geo = (nginx / "coldmail-admin-allow.conf").read_text()
    for net in ("172.22.1.1", "127.0.0.1", "203.0.113.0/28", "2001:db8::/48"):
        assert f"\n    {net} 1;\n" in geo
    assert "\n    default 0;\n" in geo and '"~^0:/admin" 1;' in geo
    assert "if ($coldmail_admin_denied) {\n    return 403;\n}" in (nginx / "site.coldmail-admin.custom").read_text()
    box.reset_calls()
    install(box, ADMIN_UI_ALLOW="")
    assert not (nginx / "coldmail-admin-allow.conf").exists() and not (nginx / "site.coldmail-admin.custom").exists()
    assert "docker compose restart nginx-mailcow" in box.calls


@pytest.mark.parametrize("key, value", [
    ("MAILCOW_TZ", "Europe/Berlin;id>/tmp/pwned;"), ("MAILCOW_HOSTNAME", "mx1.example.test;reboot"),
    ("API_ALLOW_FROM", "0.0.0.0/0 $(id)"), ("MAILCOW_BINDS", "SMTP_PORT=25;id"), ("MAILCOW_COMMIT", "HEAD"),
    ("PINNED_IMAGES", "ofelia-mailcow=evil;id"), ("ADMIN_UI_ALLOW", "any"),
])
def test_settings_that_are_not_plain_values_stop_the_script_before_it_acts(box, key, value):
    proc = install(box, check=False, **{key: value})
    assert proc.returncode == 1 and key in proc.stderr
    assert box.calls == []


def test_ipv6_changed_on_an_installed_server_recreates_mailcows_network_once(box):
    install(box)
    conf_file = box.root / "opt/mailcow-dockerized/mailcow.conf"
    conf_file.write_text(conf_file.read_text().replace("ENABLE_IPV6=true", "ENABLE_IPV6=false"))
    box.reset_calls()
    install(box)
    compose = [c for c in called(box, "docker compose") if c.split()[2] in ("down", "up")]
    assert compose[:2] == ["docker compose down", "docker compose up -d --quiet-pull --remove-orphans"]
    assert conf(box)["ENABLE_IPV6"] == "true"
    box.reset_calls()
    install(box)
    assert not called(box, "docker compose down")


def test_image_digest_kept_from_the_first_pull_is_never_replaced_by_a_later_pull(box):
    install(box)
    override = box.root / "opt/mailcow-dockerized/docker-compose.override.yml"
    first = override.read_text()
    box.reset_calls()
    # A new Mailcow release pulls again; the kept digests stay what they were.
    install(box, MAILCOW_VERSION="2026-09", MAILCOW_COMMIT="0000000000000000000000000000000000002609")
    assert called(box, "docker compose pull") and not called(box, "docker image inspect")
    assert override.read_text() == first
    assert len((box.root / "opt/coldmail/state/image-digests").read_text().splitlines()) == 2


def test_mailcow_conf_gets_mode_0600_back_on_every_run(box):
    install(box)
    conf_file = box.root / "opt/mailcow-dockerized/mailcow.conf"
    conf_file.chmod(0o644)
    install(box)
    assert stat.S_IMODE(conf_file.stat().st_mode) == 0o600
