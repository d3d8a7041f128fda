"""coldmail: read the stack config, wire the components. Nothing else lives here."""

import pulumi

from coldmail import model as cm
from coldmail.model.names import component_name
from coldmail.model.stackfile import raw_from_pulumi
from components import MailDomain, MailDomainArgs, MailServer, MailServerArgs, Operations, OperationsArgs

# Validates the whole config first: a bad config raises ConfigError listing every issue before
# a single resource is registered.
raw = raw_from_pulumi()
stack = cm.load(raw)
ssh_private_key = pulumi.Config("coldmail").require_secret("sshPrivateKey")

servers = {
    s.name: MailServer(s.name, MailServerArgs(server=s, settings=stack, ssh_private_key=ssh_private_key))
    for s in stack.servers
}
# The on-server agent (health checks and alerts), unless coldmail:checks.agent is false.
operations = [Operations(f"{s.name}-ops", OperationsArgs(server=s, mail_server=servers[s.name], raw_config=raw,
                                                         stack_name=pulumi.get_stack()))
              for s in stack.servers if stack.checks.agent]
domains = [
    MailDomain(component_name(d.name), MailDomainArgs(domain=d, settings=stack, server=servers[d.server]))
    for d in stack.rollout.deployed(stack.domains)
]

pulumi.export("servers", {name: srv.summary for name, srv in servers.items()})
pulumi.export("server_secrets", pulumi.Output.secret({name: srv.secrets for name, srv in servers.items()}))
pulumi.export("domains", {d.domain_name: d.summary for d in domains})
pulumi.export("credentials", pulumi.Output.secret(pulumi.Output.all(*[d.credentials for d in domains]).apply(
    lambda per_domain: [c for creds in per_domain for c in creds])))
