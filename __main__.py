"""coldmail: read the stack config, wire the components. Nothing else lives here."""

import pulumi

from coldmail import model as cm
from coldmail.model.names import component_name
from coldmail.model.secrets import plaintext_secrets
from coldmail.model.stackfile import public_config, raw_from_pulumi
from components import (Backups, BackupsArgs, MailDomain, MailDomainArgs, MailServer, MailServerArgs, Operations,
                        OperationsArgs, ReportMailboxes, ReportMailboxesArgs)

# Validates the whole config first: a bad config raises ConfigError listing every issue before
# a single resource is registered.
raw = raw_from_pulumi()
stack = cm.load(raw)
ssh_private_key = pulumi.Config("coldmail").require_secret("sshPrivateKey")
# Names of the credentials given without --secret, for the policy pack to refuse; never their values.
in_clear = plaintext_secrets(pulumi.runtime.get_config, pulumi.runtime.is_config_secret)

servers = {
    s.name: MailServer(s.name, MailServerArgs(server=s, settings=stack, ssh_private_key=ssh_private_key,
                                              plaintext_secrets=in_clear))
    for s in stack.servers
}
config_export = public_config(raw)
backups = {s.name: Backups(f"{s.name}-backups", BackupsArgs(server=servers[s.name], config=stack.backup,
                                                            config_export=config_export))
           for s in stack.servers}
deployed = stack.rollout.deployed(stack.domains)
domains = [MailDomain(component_name(d.name), MailDomainArgs(domain=d, settings=stack, server=servers[d.server]))
           for d in deployed]
# The mailboxes DMARC and TLS reports go to (unless they are external), and the records that let them arrive.
reports = ReportMailboxes("reports", ReportMailboxesArgs(
    settings=stack, servers=servers,
    after=tuple(m.mailcow_domain for d, m in zip(deployed, domains)
                if stack.report_domain is not None and d.name == stack.report_domain.name)))
# The on-server agent (health checks, warmup, backup health), unless coldmail:checks.agent is false. It gets
# its server's domains (their logins, for the warmup) and, when backups are on, reads them from the host.
if stack.checks.agent:
    for s in stack.servers:
        Operations(f"{s.name}-ops", OperationsArgs(
            server=s, mail_server=servers[s.name], raw_config=raw, stack_name=pulumi.get_stack(),
            domains=[m for d, m in zip(deployed, domains) if d.server == s.name],
            backups=backups[s.name] if stack.backup.enabled else None))

pulumi.export("servers", {name: srv.summary for name, srv in servers.items()})
pulumi.export("server_secrets", pulumi.Output.secret({name: srv.secrets for name, srv in servers.items()}))
# Public halves of the pinned host keys: `coldmail server …` and `coldmail backup …` verify the server with them.
pulumi.export("ssh_host_keys", {name: srv.host_key.public_key_openssh.apply(lambda k: (k or "").strip())
                                for name, srv in servers.items()})
pulumi.export("domains", {d.domain_name: d.summary for d in domains})
# Logins of the report mailboxes, for `coldmail reports fetch` (entries shaped like `credentials`).
pulumi.export("report_mailboxes", pulumi.Output.secret(reports.credentials))
pulumi.export("credentials", pulumi.Output.secret(pulumi.Output.all(*[d.credentials for d in domains]).apply(
    lambda per_domain: [c for creds in per_domain for c in creds])))
