"""floating-ips.sh against a scratch root: persistent files, applied once, idempotent."""

import stat

IPS = "198.51.100.10 198.51.100.11"


def test_debian_gets_one_ifupdown_alias_per_ip_and_brings_them_up(sandbox):
    sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
    cfg = (sandbox.root / "etc/network/interfaces.d/60-floating-ip.cfg").read_text()
    assert "auto eth0:1\niface eth0:1 inet static\n    address 198.51.100.10\n    netmask 32\n" in cfg
    assert "auto eth0:2\niface eth0:2 inet static\n    address 198.51.100.11\n    netmask 32\n" in cfg
    assert "source /etc/network/interfaces.d/*" in (sandbox.root / "etc/network/interfaces").read_text()
    assert [c for c in sandbox.calls if c.startswith("ifup")] == ["ifup eth0:1", "ifup eth0:2"]


def test_ubuntu_gets_a_private_netplan_file_and_one_apply(sandbox):
    (sandbox.root / "etc/os-release").write_text("ID=ubuntu\nVERSION_CODENAME=jammy\n")
    sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
    path = sandbox.root / "etc/netplan/60-floating-ip.yaml"
    text = path.read_text()
    assert "eth0:\n      addresses:\n        - 198.51.100.10/32\n        - 198.51.100.11/32\n" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [c for c in sandbox.calls if c.startswith("netplan")] == ["netplan apply"]


def test_second_run_with_the_same_ips_changes_nothing(sandbox):
    for os_release in ("ID=debian\n", "ID=ubuntu\n"):
        (sandbox.root / "etc/os-release").write_text(os_release)
        sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
        before = sandbox.snapshot()
        sandbox.reset_calls()
        sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
        assert sandbox.snapshot() == before
        assert not [c for c in sandbox.calls if c.split()[0] in ("ifup", "ifdown", "netplan")], sandbox.calls


def test_addresses_lost_from_the_interface_are_brought_back_without_rewriting(sandbox):
    sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
    (sandbox.fake / "live").write_text("")  # e.g. a crash before ifup, or someone ran `ip addr flush`
    sandbox.reset_calls()
    sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
    assert [c for c in sandbox.calls if c.startswith("ifup")] == ["ifup eth0:1", "ifup eth0:2"]


def test_changed_ip_set_cycles_the_aliases(sandbox):
    sandbox.run("floating-ips.sh", env={"FLOATING_IPS": IPS})
    sandbox.reset_calls()
    sandbox.run("floating-ips.sh", env={"FLOATING_IPS": "198.51.100.10"})
    cfg = (sandbox.root / "etc/network/interfaces.d/60-floating-ip.cfg").read_text()
    assert "198.51.100.11" not in cfg and "eth0:2" not in cfg
    assert "ifdown --force eth0:2" in sandbox.calls and "ifup eth0:1" in sandbox.calls


def test_invalid_address_is_refused_before_anything_is_written(sandbox):
    proc = sandbox.run("floating-ips.sh", env={"FLOATING_IPS": "198.51.100.10 not-an-ip"}, check=False)
    assert proc.returncode != 0 and "not-an-ip" in proc.stderr
    assert not (sandbox.root / "etc/network/interfaces.d").exists()
