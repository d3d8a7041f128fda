"""Run MailServer under the recording mock engine on the example stack's server (3 floating IPs).

Shared by the component tests and the script tests that follow a rendered command onto the server.
Every credential here is an obviously fake value.
"""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Callable, Optional

import pulumi

from coldmail import model as cm
from coldmail.model import Server
from coldmail.model.stackfile import raw_from_pulumi, raw_from_stack_file
from coldmail.ops.mock_engine import ColdmailMocks, ProgramRun, run_program
from components.mail_server import MailServer, MailServerArgs

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "FAKE-TEST-KEY-0000-not-a-real-key"
SSH_KEY = "FAKE-SSH-PRIVATE-KEY-for-tests"
HOST_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK"
HOST_PRIV = "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-HOST-KEY-for-tests\n-----END OPENSSH PRIVATE KEY-----\n"
T_CMD = "command:remote:Command"


class HostKeyMocks(ColdmailMocks):
    """The shared mocks plus a generated host key, as pulumi-tls returns one."""

    def __init__(self, host_pub: str = HOST_PUB) -> None:
        super().__init__()
        self.host_pub = host_pub

    def new_resource(self, args):
        rid, outs = super().new_resource(args)
        if args.typ == "tls:index/privateKey:PrivateKey":
            outs.update(publicKeyOpenssh=self.host_pub + "\n" if self.host_pub else "", privateKeyOpenssh=HOST_PRIV)
        return rid, outs


def prod_raw(**server_overrides) -> dict:
    """``Pulumi.prod.yaml``'s config with a fake API key and ``server_overrides`` on its one server."""
    raw = copy.deepcopy(raw_from_stack_file(str(ROOT / "Pulumi.prod.yaml")))
    raw["servers"][0].update({"mailcowApiKey": API_KEY, **server_overrides})
    return raw


def run_mail_servers(raw: dict, mocks: Optional[ColdmailMocks] = None,
                     server_hook: Callable[[Server], Server] = lambda s: s) -> ProgramRun:
    """One MailServer per configured server; ``server_hook`` may alter a validated server first."""
    def program():
        stack = cm.load(raw_from_pulumi())
        key = pulumi.Config("coldmail").require_secret("sshPrivateKey")
        for s in stack.servers:
            MailServer(s.name, MailServerArgs(server=server_hook(s), settings=stack, ssh_private_key=key))

    config = {f"coldmail:{k}": v for k, v in raw.items()}
    config["coldmail:sshPrivateKey"] = SSH_KEY
    return run_program(program, config, secret_keys=["coldmail:sshPrivateKey"], mocks=mocks or HostKeyMocks())


def install_settings(run: ProgramRun, server: str = "mx1") -> dict[str, str]:
    """The ``VAR=value`` settings of the rendered install command, as the remote shell parses them."""
    words = shlex.split(run.named(f"{server}-install-mailcow").inputs["create"])
    return dict(w.split("=", 1) for w in words if "=" in w and w.split("=", 1)[0].isupper())
