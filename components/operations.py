"""Operations: the on-server agent of one mail server, a container deployed with pulumi-docker over SSH.

The agent (``coldmail agent run``, see ``coldmail/cli/commands/agent.py``) runs the health checks on
their schedule (DNS, authentication and TLS hourly, blacklists daily) and alerts through apprise; other
capabilities add their jobs to the same agent. It runs on the server because only there can it bind
each floating IP for the outbound-25 probe, read each relay's greeting on the Mailcow bridge, and ask
Mailcow's own unbound, the resolver Spamhaus answers.

The image is built on the server's Docker daemon from ``components/agent/Dockerfile`` and the repository
(the coldmail package); the container uses the host network, keeps its history on a named volume and
gets its config file (rendered here, a secret) uploaded before it starts. Docker is reached as
``ssh://root@<server>`` with the user's SSH agent (``ssh-add`` the key whose public half the server has).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
import pulumi_docker as docker

from coldmail.model import Server
from coldmail.model import agentfile

from . import relay as relay_cfg
from .mail_server import MailServer

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
        host = server.ip_addresses[0].apply(lambda ip: f"ssh://root@{ip}")
        # The remote commands verified the pinned host key before Docker ever connects; the Docker
        # client's ssh only reads known_hosts, so it accepts the then-known key on first use.
        self.provider = docker.Provider(f"{name}-docker", host=host, ssh_opts=[
            "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"],
            opts=pulumi.ResourceOptions(parent=self))
        on_server = pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[server.ready])
        self.image = docker.Image(
            f"{name}-image", image_name=f"coldmail-agent:{image_digest()[:16]}", skip_push=True,
            build=docker.DockerBuildArgs(context=str(ROOT), dockerfile=str(DOCKERFILE), platform="linux/amd64"),
            opts=on_server)
        self.volume = docker.Volume(f"{name}-data", name=VOLUME_NAME, opts=on_server)

        n_ips = len(server.ip_addresses)
        relays = {n: f"{relay_cfg.MAILCOW_GATEWAY}:{relay_cfg.relay_port(n)}" for n in range(1, n_ips)}
        self.agent_file = pulumi.Output.secret(pulumi.Output.all(*server.ip_addresses).apply(
            lambda ips: agentfile.render(
                stack=args.stack_name, server=server_name, raw=args.raw_config,
                outputs={"servers": {server_name: {
                    "ipv4_address": ips[0],
                    "floating_ips": [{"index": n, "ip": ips[n], "ptr": server.ptr_names[n]} for n in range(1, n_ips)],
                }}},
                relays=relays, mailcow_url=server.api_url)))
        after = [server.relay_setup] if server.relay_setup is not None else [server.ready]
        self.container = docker.Container(
            f"{name}-agent", name=CONTAINER_NAME, image=self.image.image_name, command=agent_command(args.stack_name),
            network_mode="host", restart="unless-stopped",
            # Mailcow's API by its name, over loopback: the certificate matches and the source address
            # is one API_ALLOW_FROM lets in.
            hosts=[docker.ContainerHostArgs(host=server.hostname, ip="127.0.0.1")],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=agentfile.DATA_DIR)],
            uploads=[docker.ContainerUploadArgs(file=agentfile.CONFIG_PATH, content=self.agent_file,
                                                permissions="0600")],
            log_opts={"max-size": "10m", "max-file": "3"},
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[*after, self.image]))
        self.register_outputs({"container": self.container.name, "image": self.image.image_name,
                               "volume": self.volume.name})
