"""relays.sh against a scratch root: Postfix installed without a default instance, relays started once."""

from components.relay import RelayConfig, render_files


def _stage(sandbox, relays):
    for n, ip in relays.items():
        files = render_files(RelayConfig.for_server(n, ip, f"mx1-ip{n}.example.test"))
        d = sandbox.root / "opt/coldmail/relays" / f"relay{n}"
        d.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (d / name).write_text(text)


def test_first_run_installs_postfix_unconfigured_masks_the_default_and_starts_each_relay(sandbox):
    _stage(sandbox, {1: "198.51.100.10", 2: "198.51.100.11"})
    sandbox.run("relays.sh", env={"RELAYS": "1 2"})
    assert "postfix postfix/main_mailer_type select No configuration" in (sandbox.fake / "debconf").read_text()
    installs = [c for c in sandbox.calls if " install " in c and c.startswith("apt-get")]
    assert installs and "postfix" in installs[0].split()
    assert "systemctl mask postfix.service postfix@-.service" in sandbox.calls
    for n in (1, 2):
        main = (sandbox.root / f"etc/postfix-relay{n}/main.cf").read_text()
        assert f"smtp_helo_name = mx1-ip{n}.example.test" in main
        assert (sandbox.root / f"var/spool/postfix-relay{n}").is_dir()
        assert f"systemctl restart coldmail-relay@{n}.service" in sandbox.calls
        assert f"postfix -c {sandbox.root}/etc/postfix-relay{n} check" in sandbox.calls
    unit = (sandbox.root / "etc/systemd/system/coldmail-relay@.service").read_text()
    assert "postfix -c /etc/postfix-relay%i start-fg" in unit


def test_second_run_changes_nothing_and_restarts_nothing(sandbox):
    _stage(sandbox, {1: "198.51.100.10"})
    sandbox.run("relays.sh", env={"RELAYS": "1"})
    before = sandbox.snapshot()
    sandbox.reset_calls()
    sandbox.run("relays.sh", env={"RELAYS": "1"})
    assert sandbox.snapshot() == before
    assert sandbox.calls == ["systemctl is-active --quiet coldmail-relay@1.service"]


def test_changed_config_restarts_only_that_relay_and_removed_relays_go_away(sandbox):
    _stage(sandbox, {1: "198.51.100.10", 2: "198.51.100.11"})
    sandbox.run("relays.sh", env={"RELAYS": "1 2"})
    _stage(sandbox, {1: "198.51.100.99"})
    sandbox.reset_calls()
    sandbox.run("relays.sh", env={"RELAYS": "1"})
    assert "systemctl restart coldmail-relay@1.service" in sandbox.calls
    assert "systemctl disable --now coldmail-relay@2.service" in sandbox.calls
    assert not (sandbox.root / "etc/postfix-relay2").exists()
    assert "smtp_bind_address = 198.51.100.99" in (sandbox.root / "etc/postfix-relay1/main.cf").read_text()


def test_missing_rendered_config_fails_before_touching_the_system(sandbox):
    proc = sandbox.run("relays.sh", env={"RELAYS": "1"}, check=False)
    assert proc.returncode != 0 and "relay1/main.cf is missing" in proc.stderr
    assert sandbox.calls == []
