"""MailServer: one Hetzner server running Mailcow, its sending IPs, their PTRs and the per-IP relays.

Sending IP 0 is the server's primary IPv4 (Mailcow sends itself); 1..N are floating IPs, each with a
host Postfix relay (see :mod:`components.relay` for why host Postfix rather than containers) that
Mailcow knows as a relayhost. Every IP has a PTR at Hetzner and an A record in Cloudflare that agree.

Everything that may change later (scripts, relay configs, API key, Mailcow version) goes over SSH with
``CopyToRemote`` + ``Command``: ``user_data`` changes replace the server, so cloud-init carries only the
pinned SSH host key and a swap file.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command
import pulumi_hcloud as hcloud
import pulumi_random as random
import pulumi_tls as tls
import yaml

from coldmail.model import Server, StackConfig
from coldmail.model.mailcow import PINNED_IMAGES
from coldmail.model.ports import MAILCOW_CONF_KEYS, inbound_ports
from coldmail.model.secrets import set_secret_command
from dynamic_providers.relayhost import MailcowRelayhost, MailcowRelayhostArgs

from . import relay as relay_cfg
from .zones import zone_id_output

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
REMOTE_DIR = "/opt/coldmail"
ANYWHERE = ["0.0.0.0/0", "::/0"]
#: About 8 minutes of "connection refused" while a fresh server boots (docs/platform-notes.md §4).
DIAL_ERROR_LIMIT = 100
#: The addresses Mailcow's PHP sees for API calls from the host itself (docs/mailcow-api.md §1).
HOST_API_SOURCES = ("172.22.1.1", "127.0.0.1")


def script_sha256(script: str) -> str:
    """sha256 of a script in components/scripts; put into a command so a changed script re-runs."""
    return hashlib.sha256((SCRIPTS_DIR / script).read_bytes()).hexdigest()


def api_allow_from(server: Server) -> str:
    """API_ALLOW_FROM: the host's own addresses plus ``apiCidrs``, where `pulumi up` runs."""
    return ",".join([*HOST_API_SOURCES, *server.api_cidrs])


def admin_ui_allow(server: Server) -> str:
    """Who may open Mailcow's /admin: the host itself plus ``adminUiCidrs``; empty when there is no allow-list."""
    return ",".join([*HOST_API_SOURCES, *server.admin_ui_cidrs]) if server.admin_ui_cidrs else ""


def mailcow_binds(server: Server) -> str:
    """The public port bindings for mailcow.conf, ``KEY=[host-ip:]port`` separated by spaces.

    Without IPv6 every port is bound to 0.0.0.0 only, so nothing listens on the host's IPv6 side. Ports the
    stack leaves closed (POP3, Sieve) are bound to loopback, which Docker never publishes. HTTP_BIND and
    HTTPS_BIND are the host IP alone; the install holds them on loopback until the admin password is set.
    """
    public = "" if server.ipv6 else "0.0.0.0"
    served = inbound_ports(server.pop3, server.sieve)

    def bind(port: int) -> str:
        host = public if port in served else "127.0.0.1"
        return f"{host}:{port}" if host else str(port)

    binds = [f"{key}={bind(port)}" for port, key in MAILCOW_CONF_KEYS.items()]
    return " ".join([*binds, f"HTTP_BIND={public}", f"HTTPS_BIND={public}"])


def pinned_images(server: Server) -> str:
    """``service=image[@digest]`` for each image Mailcow leaves on a moving tag."""
    digests = dict(server.image_digests)
    return " ".join(f"{service}={image}{'@' + digests[service] if service in digests else ''}"
                    for service, image in PINNED_IMAGES.items())


def remote_command(settings: dict[str, str], script: str, runner: str = "") -> str:
    """``K=V … [runner] bash <script>``, every value shell-quoted: nothing in the config becomes shell syntax."""
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in settings.items())
    return f"{assignments} {runner + ' ' if runner else ''}bash {REMOTE_DIR}/{script}"


def pinned_host_key(key: Optional[str]) -> str:
    """The host key every SSH connection must match; an empty key is an error, never "accept any"."""
    key = (key or "").strip()
    if not key:
        raise ValueError("the server's pinned SSH host key is empty, and an empty host_key would let the SSH "
                         "connection accept any server: refusing to connect. Replace the host key resource "
                         "(pulumi up --replace <urn of the -host-key resource>) and the server with it.")
    return key


def firewall_rules(server: Server) -> list[hcloud.FirewallRuleArgs]:
    """Mail ports from anywhere, SSH only from the admin networks, nothing else."""
    rules = [hcloud.FirewallRuleArgs(direction="in", protocol="tcp", port=str(p), source_ips=ANYWHERE,
                                     description=f"mail {p}")
             for p in inbound_ports(server.pop3, server.sieve)]
    rules.append(hcloud.FirewallRuleArgs(direction="in", protocol="tcp", port="22",
                                         source_ips=list(server.admin_cidrs), description="ssh from admins"))
    return rules


def render_user_data(hostname: str, host_private_key: str, host_public_key: str) -> str:
    """cloud-init user data: the pinned ed25519 host key and swap; nothing that ever changes."""
    doc = {
        "fqdn": hostname,
        "preserve_hostname": False,
        # The host key is ours, so the first SSH connection can already verify it.
        "ssh_deletekeys": True,
        "ssh_genkeytypes": [],
        "ssh_keys": {"ed25519_private": host_private_key, "ed25519_public": host_public_key.strip()},
        # Mailcow needs 6 GiB plus swap (docs/mailcow-api.md §8).
        "swap": {"filename": "/swapfile", "size": 2 * 1024 ** 3},
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=True)


@dataclass(frozen=True, kw_only=True)
class MailServerArgs:
    """Inputs of :class:`MailServer`."""

    server: Server
    settings: StackConfig
    ssh_private_key: pulumi.Input[str]
    """The private half of ``server.ssh_public_key``, a secret (``coldmail:sshPrivateKey``)."""
    plaintext_secrets: tuple[str, ...] = ()
    """Config paths of credentials the stack config holds in clear (names, never values); the component
    carries them as its ``plaintextSecrets`` input for the policy pack's ``stack-config-secrets-encrypted``."""


class MailServer(pulumi.ComponentResource):
    """A Hetzner server with Mailcow, N floating sending IPs with PTRs, A records and relays."""

    hostname: str
    api_url: str
    """``https://<hostname>``: what the Mailcow dynamic resources talk to."""
    mailcow_url: str
    ptr_names: list[str]
    """Index 0 is the hostname (primary IP), 1..N the floating IPs' PTR names."""
    ip_addresses: list[pulumi.Output[str]]
    """Index 0 is the primary IPv4, 1..N the floating IPv4s."""
    ipv6_address: Optional[pulumi.Output[str]]
    relayhost_ids: dict[int, pulumi.Output[str]]
    """Mailcow relayhost id per floating IP index (1..N); index 0 needs none (relayhost "0")."""
    relayhosts: dict[int, MailcowRelayhost]
    ready: pulumi.Resource
    """After this resource Mailcow's API answers with the configured key."""
    api_key: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    server_id: pulumi.Output[str]
    summary: dict[str, Any]
    """The server's public outputs, for the stack export; holds no secret."""
    secrets: dict[str, pulumi.Output[str]]
    """The Mailcow API key and admin password, both secret Outputs."""

    host_key: tls.PrivateKey
    """The pinned SSH host key: the first SSH connection already verifies the server."""
    connection: command.remote.ConnectionArgs
    """SSH to the server as root, verifying the pinned host key; for components that run commands there."""
    ssh_key: hcloud.SshKey
    firewall: hcloud.Firewall
    server: hcloud.Server
    rdns: list[hcloud.Rdns]
    """PTR of every IPv4, index as in ``ip_addresses``."""
    rdns_v6: Optional[hcloud.Rdns]
    floating_ips: list[hcloud.FloatingIp]
    floating_ip_assignments: list[hcloud.FloatingIpAssignment]
    dns_records: dict[str, cloudflare.DnsRecord]
    """Forward records of the hostname and every PTR name, by key (``a-ip0``, ``aaaa-ip0``…)."""
    cloud_init: command.remote.Command
    floating_ip_setup: command.remote.Command
    install: command.remote.Command
    relay_setup: Optional[command.remote.Command]

    def __init__(self, name: str, args: MailServerArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        server = args.server
        if server.api_key is None:
            raise ValueError(f"server {server.name!r} has no Mailcow API key. Set one with: "
                             f"{set_secret_command(f'coldmail:{server.api_key_config_path}')}")
        super().__init__("coldmail:index:MailServer", name, {"plaintextSecrets": list(args.plaintext_secrets)}, opts)
        self._name, self._srv_cfg, self._stack = name, server, args.settings
        self.hostname = server.hostname
        self.api_url = server.api_url
        self.mailcow_url = server.api_url
        self.ptr_names = [server.hostname, *server.ptr_names]
        self.api_key = pulumi.Output.secret(server.api_key)

        self._create_server()
        self._create_floating_ips()
        self._create_dns()
        self._ssh = command.remote.ConnectionArgs(
            host=self.ip_addresses[0], user="root", private_key=args.ssh_private_key,
            host_key=self.host_key.public_key_openssh.apply(pinned_host_key),
            dial_error_limit=DIAL_ERROR_LIMIT, per_dial_timeout=15)
        self.connection = self._ssh
        self._install_mailcow()
        self._create_relays()

        self.summary = {
            "server_id": self.server_id,
            "hostname": self.hostname,
            "ipv4_address": self.ip_addresses[0],
            "ipv6_address": self.ipv6_address,
            "floating_ips": [{"index": n, "ip": ip, "ptr": self.ptr_names[n]}
                             for n, ip in enumerate(self.ip_addresses) if n],
            "mailcow_url": self.mailcow_url,
            "relayhost_ids": {str(n): rid for n, rid in self.relayhost_ids.items()},
        }
        self.secrets = {"api_key": self.api_key, "admin_password": pulumi.Output.secret(self.admin_password)}
        self.register_outputs({**self.summary, **self.secrets})

    def _child(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _create_server(self) -> None:
        name, server = self._name, self._srv_cfg
        self.host_key = tls.PrivateKey(f"{name}-host-key", algorithm="ED25519", opts=self._child())
        self.ssh_key = hcloud.SshKey(f"{name}-ssh-key", name=f"coldmail-{server.name}",
                                     public_key=server.ssh_public_key, opts=self._child())
        self.firewall = hcloud.Firewall(f"{name}-firewall", name=f"coldmail-{server.name}",
                                        rules=firewall_rules(server), labels={"managed-by": "coldmail"},
                                        opts=self._child())
        user_data = pulumi.Output.secret(pulumi.Output.all(
            self.host_key.private_key_openssh, self.host_key.public_key_openssh,
        ).apply(lambda keys: render_user_data(server.hostname, keys[0] or "", keys[1] or "")))
        self.server = hcloud.Server(
            f"{name}-server", name=server.hostname, server_type=server.server_type, image=server.image,
            location=server.location, ssh_keys=[self.ssh_key.id], firewall_ids=[self.firewall.id.apply(int)],
            user_data=user_data,
            public_nets=[hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv6_enabled=server.ipv6)],
            labels={"managed-by": "coldmail", "coldmail-server": server.name}, opts=self._child())
        self.server_id = self.server.id
        self.ip_addresses = [self.server.ipv4_address]
        self.ipv6_address = self.server.ipv6_address if server.ipv6 else None
        self.rdns_v6 = None
        self.rdns = [hcloud.Rdns(f"{name}-rdns0", server_id=self.server.id.apply(int),
                                 ip_address=self.server.ipv4_address, dns_ptr=server.hostname, opts=self._child())]
        if server.ipv6:
            self.rdns_v6 = hcloud.Rdns(f"{name}-rdns0-v6", server_id=self.server.id.apply(int),
                                       ip_address=self.server.ipv6_address, dns_ptr=server.hostname,
                                       opts=self._child())

    def _create_floating_ips(self) -> None:
        name, server = self._name, self._srv_cfg
        self.floating_ips = []
        self.floating_ip_assignments = []
        for n, ptr in enumerate(server.ptr_names, start=1):
            fip = hcloud.FloatingIp(f"{name}-fip{n}", type="ipv4", home_location=server.location,
                                    name=f"{server.name}-ip{n}", description=ptr,
                                    labels={"managed-by": "coldmail", "coldmail-server": server.name},
                                    opts=self._child())
            self.floating_ips.append(fip)
            self.floating_ip_assignments.append(hcloud.FloatingIpAssignment(
                f"{name}-fip{n}-assignment", floating_ip_id=fip.id.apply(int),
                server_id=self.server.id.apply(int), opts=self._child()))
            self.rdns.append(hcloud.Rdns(f"{name}-rdns{n}", floating_ip_id=fip.id.apply(int),
                                         ip_address=fip.ip_address, dns_ptr=ptr, opts=self._child()))
            self.ip_addresses.append(fip.ip_address)

    def _create_dns(self) -> None:
        name, server, ttl = self._name, self._srv_cfg, self._stack.dns.ttl
        zone_id = zone_id_output(server.zone, server.zone_id)
        self.dns_records = {}

        def record(key: str, fqdn: str, rtype: str, content: pulumi.Input[str]) -> None:
            self.dns_records[key] = cloudflare.DnsRecord(
                f"{name}-{key}", zone_id=zone_id, name=fqdn, type=rtype, content=content, ttl=ttl,
                proxied=False, comment="managed by coldmail", opts=self._child())

        # Forward records for every PTR name, so reverse and forward DNS agree (FCrDNS).
        for n, (ptr, ip) in enumerate(zip(self.ptr_names, self.ip_addresses)):
            record(f"a-ip{n}", ptr, "A", ip)
        if self.ipv6_address is not None:
            record("aaaa-ip0", server.hostname, "AAAA", self.ipv6_address)

    def _run_remote(self, key: str, create: pulumi.Input[str], depends_on: list[pulumi.Resource],
                stdin: Optional[pulumi.Input[str]] = None) -> command.remote.Command:
        return command.remote.Command(
            f"{self._name}-{key}", connection=self._ssh, create=create, stdin=stdin,
            add_previous_output_in_env=False, logging=command.remote.Logging.STDERR,
            opts=self._child(depends_on=depends_on))

    def _copy_script(self, script: str, after: pulumi.Resource) -> command.remote.CopyToRemote:
        return command.remote.CopyToRemote(
            f"{self._name}-copy-{script.removesuffix('.sh')}", connection=self._ssh,
            source=pulumi.FileAsset(str(SCRIPTS_DIR / script)), remote_path=f"{REMOTE_DIR}/{script}",
            opts=self._child(depends_on=[after]))

    def _install_mailcow(self) -> None:
        server = self._srv_cfg
        # cloud-init exits 2 for "done with recoverable errors" (e.g. a deprecation warning): still done.
        self.cloud_init = self._run_remote(
            "cloud-init", "cloud-init status --wait >/dev/null || [ $? -eq 2 ]", [self.server])

        copy_fips = self._copy_script("floating-ips.sh", self.cloud_init)
        method = "netplan" if server.image.startswith("ubuntu") else "ifupdown"
        fip_cmd = pulumi.Output.all(*self.ip_addresses[1:]).apply(lambda ips: remote_command({
            "SCRIPT_SHA256": script_sha256("floating-ips.sh"), "METHOD": method, "IFACE": "eth0",
            "FLOATING_IPS": " ".join(ips)}, "floating-ips.sh"))
        self.floating_ip_setup = self._run_remote("floating-ips", fip_cmd, [copy_fips, *self.floating_ip_assignments])

        copy_install = self._copy_script("install-mailcow.sh", self.cloud_init)
        admin_password = random.RandomPassword(
            f"{self._name}-admin-password", length=32, special=False, opts=self._child())
        self.admin_password = pulumi.Output.secret(admin_password.result)
        settings = {
            "SCRIPT_SHA256": script_sha256("install-mailcow.sh"), "MAILCOW_HOSTNAME": server.hostname,
            "MAILCOW_TZ": server.timezone, "MAILCOW_VERSION": server.mailcow_version,
            "MAILCOW_COMMIT": server.mailcow_commit, "SKIP_CLAMD": "y" if server.skip_clamd else "n",
            "ENABLE_IPV6": "y" if server.ipv6 else "n", "API_ALLOW_FROM": api_allow_from(server),
            "MAILCOW_BINDS": mailcow_binds(server), "PINNED_IMAGES": pinned_images(server),
            "ADMIN_UI_ALLOW": admin_ui_allow(server)}
        # Secrets go on stdin only: never on the command line, which lands in state and `ps`.
        stdin = pulumi.Output.secret(pulumi.Output.all(self.api_key, admin_password.result).apply(
            lambda s: f"API_KEY={s[0]}\nADMIN_PASSWORD={s[1]}\n"))
        self.install = self._run_remote("install-mailcow", remote_command(settings, "install-mailcow.sh", "timeout 3600"),
                                    [copy_install, self.floating_ip_setup], stdin=stdin)
        self.ready = self.install

    def _create_relays(self) -> None:
        name, server = self._name, self._srv_cfg
        self.relayhost_ids = {}
        self.relayhosts = {}
        self.relay_setup = None
        if not server.ptr_names:
            return
        copies: list[pulumi.Resource] = [self._copy_script("relays.sh", self.cloud_init)]
        digests: list[pulumi.Output[str]] = []
        for n, ptr in enumerate(server.ptr_names, start=1):
            files = self.ip_addresses[n].apply(
                lambda ip, n=n, ptr=ptr: relay_cfg.render_files(relay_cfg.RelayConfig.for_server(n, ip, ptr)))
            digests.append(files.apply(lambda f: hashlib.sha256(
                "".join(f"{k}\0{v}\0" for k, v in sorted(f.items())).encode()).hexdigest()))
            for fname in ("main.cf", "master.cf"):
                copies.append(command.remote.CopyToRemote(
                    f"{name}-copy-relay{n}-{fname.replace('.', '-')}", connection=self._ssh,
                    source=files.apply(lambda f, fname=fname: pulumi.StringAsset(f[fname])),
                    remote_path=f"{REMOTE_DIR}/relays/relay{n}/{fname}",
                    opts=self._child(depends_on=[self.cloud_init])))
        indexes = " ".join(str(n) for n in range(1, len(server.ptr_names) + 1))
        relay_cmd = pulumi.Output.all(*digests).apply(lambda d: remote_command({
            "SCRIPT_SHA256": script_sha256("relays.sh"),
            "CONFIG_SHA256": hashlib.sha256(" ".join(d).encode()).hexdigest(), "RELAYS": indexes}, "relays.sh"))
        # After Mailcow: the relays listen on its bridge gateway, which exists once Mailcow runs.
        self.relay_setup = self._run_remote("relays", relay_cmd, [*copies, self.install, self.floating_ip_setup])
        for n, ptr in enumerate(server.ptr_names, start=1):
            rh = MailcowRelayhost(f"{name}-relayhost{n}", MailcowRelayhostArgs(
                api_url=self.api_url, server=server.name, hostname=relay_cfg.relayhost_address(n),
                source_ip=self.ip_addresses[n], helo_name=ptr, adopt=server.adopt_relayhosts,
                verify_tls=server.mailcow_tls_verify,
                ca_bundle=server.mailcow_ca_bundle), opts=self._child(depends_on=[self.ready, self.relay_setup]))
            self.relayhosts[n] = rh
            self.relayhost_ids[n] = rh.relayhost_id
