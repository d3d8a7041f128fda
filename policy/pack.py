"""coldmail's policy pack: every rule with its level, and the defaults ``pulumi policy`` shows.

Resource policies read *inputs*, stack policies read *outputs* plus the resource tree. The rules live by
area in :mod:`.dns`, :mod:`.servers` and :mod:`.mailcow`; ``policy/__main__.py`` serves this list.
"""

from __future__ import annotations

from typing import Any

from coldmail.model.catalogue import MIN_MEMORY_GB
from coldmail.model.mailcow import DKIM_MIN_STRONG_BITS

from . import dns, mailcow, servers

PACK_NAME = "coldmail"
DESCRIPTION = ("Stops changes that silently burn cold-email domains: DNS, SPF/DKIM/DMARC, FCrDNS, sizing, "
               "firewall, mailbox limits and secrets in clear in dynamic inputs or the stack config.")

RESOURCE_POLICIES = [
    dns.mail_dns_not_proxied, dns.spf_record_valid, mailcow.dkim_key_size, dns.dmarc_enforced_after_warmup,
    dns.mta_sts_enforce_after_testing,
    servers.server_type_min_memory, servers.server_type_recommended_memory, servers.firewall_mail_ports_open,
    servers.firewall_no_internal_ports, servers.firewall_ssh_restricted, servers.stack_config_secrets_encrypted,
    mailcow.mailboxes_per_domain,
    mailcow.daily_sends_per_mailbox, mailcow.dynamic_resource_type_token, mailcow.dynamic_inputs_no_clear_secrets,
]
STACK_POLICIES = [
    dns.spf_single_record, dns.spf_includes_sending_ip, dns.dmarc_record_present, servers.fcrdns_complete,
    servers.relay_helo_matches_ptr, mailcow.mailbox_set_has_domain, mailcow.mailbox_addresses_unique,
]
ALL = RESOURCE_POLICIES + STACK_POLICIES

#: The pack's defaults, as ``pulumi policy`` shows them; override per stack with ``--policy-pack-config``.
INITIAL_CONFIG: dict[str, Any] = {
    mailcow.mailboxes_per_domain.name: {"maxMailboxesPerDomain": mailcow.DEFAULT_MAX_MAILBOXES_PER_DOMAIN},
    mailcow.daily_sends_per_mailbox.name: {"maxPerMailboxPerDay": mailcow.DEFAULT_MAX_PER_MAILBOX_PER_DAY},
    mailcow.dkim_key_size.name: {"minKeyBits": DKIM_MIN_STRONG_BITS},
    servers.server_type_min_memory.name: {"minMemoryGb": MIN_MEMORY_GB},
}
