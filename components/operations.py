"""Operations: the on-server agent of one mail server, a container deployed with pulumi-docker over SSH.

The agent (``coldmail agent run``, see ``coldmail/cli/commands/agent.py``) runs the health checks on
their schedule (DNS, authentication and TLS hourly, blacklists daily), the warmup worker every ten minutes
for this server's mailboxes, and a daily look at this server's backups, and alerts through apprise. It
runs on the server because only there can it bind each floating IP for the outbound-25 probe, read each
relay's greeting on the Mailcow bridge, ask Mailcow's own unbound (the resolver Spamhaus answers), reach
Mailcow's API, submission and IMAP over loopback, and read the backups where they are.

The image is built on the server's Docker daemon from ``components/agent/Dockerfile`` and the repository
(the coldmail package); the container uses the host network, keeps its history on a named volume, sees
the host's ``/opt/coldmail`` and backup location read-only under ``/host``, and gets its config file
(rendered here, a secret: it holds this server's mailbox logins) uploaded before it starts. Docker is
reached as ``ssh://root@<server>`` with the caller's SSH agent (``ssh-add`` the key whose public half the
server has), verifying the server's pinned host key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_docker as docker

from coldmail.model import Server
from coldmail.model import agentfile
from coldmail.model.host import COLDMAIL_DIR

from . import relay as relay_cfg
from .backups import Backups
from .mail_domain import MailDomain
from .mail_server import MailServer, pinned_host_key

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = Path(__file__).resolve().parent / "agent" / "Dockerfile"
#: What the image is built from: a change to any of these builds a new image and replaces the container.
IMAGE_SOURCES = ("coldmail", "components", "dynamic_providers", "policy", "pyproject.toml", "requirements.txt",
                 "README.md")
CONTAINER_NAME = "coldmail-agent"
VOLUME_NAME = "coldmail-agent-data"


def image_digest(root: Path = ROOT) -> str:
    """sha256 of every file the image is built from, for its tag."""
    h = hashlib.sha256()
    for source in IMAGE_SOURCES:
        path = root / source
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def docker_ssh_opts(host_key: str) -> list[str]:
    """The Docker client's ssh options: the server's pinned host key, checked strictly, and no known_hosts file.

    ``KnownHostsCommand`` prints the pinned key as the one known_hosts line of the host being checked
    (``%H``), so the first connection is verified like every later one, and nothing is read from or left in
    a file on the machine running ``pulumi up`` (the key is public; it is kept in the provider's state).
    """
    key = " ".join(pinned_host_key(host_key).split()[:2])
    return ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"KnownHostsCommand=/bin/echo %H {key}",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"]


def backup_mounts(location: str) -> list[docker.ContainerMountArgs]:
    """The host's ``/opt/coldmail`` (``backup.sh``, its settings and state) and the backup location, read-only
    under :data:`~coldmail.model.agentfile.HOST_ROOT`: what ``ROOT=/host backup.sh list`` reads."""
    return [docker.ContainerMountArgs(type="bind", source=path, target=f"{agentfile.HOST_ROOT}{path}", read_only=True)
            for path in (COLDMAIL_DIR, location)]


def agent_command(stack: str) -> list[str]:
    """The container's command: the agent with its uploaded config file and its data volume."""
    return ["coldmail", "agent", "run", "--config", agentfile.CONFIG_PATH, "--stack", stack,
            "--project-dir", agentfile.DATA_DIR]


@dataclass(frozen=True, kw_only=True)
class OperationsArgs:
    """Inputs of :class:`Operations`."""

    server: Server
    mail_server: MailServer
    """The server's component: its addresses, PTR names and the resources the agent must wait for."""
    stack_name: str
    raw_config: Mapping[str, Any]
    """The stack's ``coldmail:*`` config as the program read it (secrets in clear): rendered into the
    agent file, which is a secret; the SSH private key and other servers' API keys are left out."""
    domains: Sequence[MailDomain] = ()
    """This server's domains: their summaries and mailbox logins go into the agent file (the warmup job's)."""
    backups: Optional[Backups] = None
    """This server's daily backup, when it is on: its tree is mounted for the backup job, after its install."""


class Operations(pulumi.ComponentResource):
    """The agent container of one server, its image, its data volume and the Docker provider reaching it."""

    provider: docker.Provider
    image: docker.Image
    volume: docker.Volume
    container: docker.Container
    agent_file: pulumi.Output[str]
    """The rendered agent file (secret)."""

    def __init__(self, name: str, args: OperationsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("coldmail:index:Operations", name, None, opts)
        server, server_name = args.mail_server, args.server.name
        strangers = [d.domain_name for d in args.domains if d.summary["server"] != server_name]
        if strangers:
            raise ValueError(f"OperationsArgs.domains of server {server_name!r} holds other servers' domains: "
                             f"{', '.join(strangers)}")
        host = server.ip_addresses[0].apply(lambda ip: f"ssh://root@{ip}")
        self.provider = docker.Provider(f"{name}-docker", host=host,
                                        ssh_opts=server.host_key.public_key_openssh.apply(docker_ssh_opts),
                                        opts=pulumi.ResourceOptions(parent=self))
        on_server = pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[server.ready])
        self.image = docker.Image(
            f"{name}-image", image_name=f"coldmail-agent:{image_digest()[:16]}", skip_push=True,
            build=docker.DockerBuildArgs(context=str(ROOT), dockerfile=str(DOCKERFILE), platform="linux/amd64"),
            opts=on_server)
        self.volume = docker.Volume(f"{name}-data", name=VOLUME_NAME, opts=on_server)

        n_ips = len(server.ip_addresses)
        relays = {n: f"{relay_cfg.MAILCOW_GATEWAY}:{relay_cfg.relay_port(n)}" for n in range(1, n_ips)}
        # The stack outputs as far as they concern this server (credentials as one list per domain).
        outputs = {"servers": {server_name: server.summary},
                   "domains": {d.domain_name: d.summary for d in args.domains},
                   "credentials": [d.credentials for d in args.domains]}
        self.agent_file = pulumi.Output.secret(pulumi.Output.from_input(outputs).apply(
            lambda resolved: agentfile.render(
                stack=args.stack_name, server=server_name, raw=args.raw_config, outputs=resolved, relays=relays,
                mailcow_url=server.api_url, host_root=agentfile.HOST_ROOT if args.backups is not None else None)))
        after = [server.relay_setup] if server.relay_setup is not None else [server.ready]
        if args.backups is not None:
            after.append(args.backups.install)
        self.container = docker.Container(
            f"{name}-agent", name=CONTAINER_NAME, image=self.image.image_name, command=agent_command(args.stack_name),
            network_mode="host", restart="unless-stopped",
            # Mailcow's API, submission and IMAP by its name, over loopback: the certificate matches and the
            # source address is one API_ALLOW_FROM lets in.
            hosts=[docker.ContainerHostArgs(host=server.hostname, ip="127.0.0.1")],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=agentfile.DATA_DIR)],
            mounts=backup_mounts(args.backups.location) if args.backups is not None else None,
            uploads=[docker.ContainerUploadArgs(file=agentfile.CONFIG_PATH, content=self.agent_file,
                                                permissions="0600")],
            log_opts={"max-size": "10m", "max-file": "3"},
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[*after, self.image]))
        self.register_outputs({"container": self.container.name, "image": self.image.image_name,
                               "volume": self.volume.name})
