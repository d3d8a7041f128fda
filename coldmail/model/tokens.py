"""Type tokens of every resource the program registers, as the engine and the policy pack see them.

Python policies have no ``isType``, so rules, the plan and the tests compare these strings.
"""

from __future__ import annotations

MAIL_SERVER = "coldmail:index:MailServer"
MAIL_DOMAIN = "coldmail:index:MailDomain"
MAILBOX_SET = "coldmail:index:MailboxSet"
REPORT_MAILBOXES = "coldmail:index:ReportMailboxes"

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
GET_ZONE = "cloudflare:index/getZone:getZone"

HCLOUD_SERVER = "hcloud:index/server:Server"
FLOATING_IP = "hcloud:index/floatingIp:FloatingIp"
FLOATING_IP_ASSIGNMENT = "hcloud:index/floatingIpAssignment:FloatingIpAssignment"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
RDNS = "hcloud:index/rdns:Rdns"
FIREWALL = "hcloud:index/firewall:Firewall"
SSH_KEY = "hcloud:index/sshKey:SshKey"

REMOTE_COMMAND = "command:remote:Command"
COPY_TO_REMOTE = "command:remote:CopyToRemote"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey"

DOCKER_PROVIDER = "pulumi:providers:docker"
DOCKER_IMAGE = "docker:index/image:Image"
DOCKER_VOLUME = "docker:index/volume:Volume"
DOCKER_CONTAINER = "docker:index/container:Container"

DYNAMIC_PREFIX = "pulumi-python:dynamic"
ANONYMOUS_DYNAMIC = "pulumi-python:dynamic:Resource"
MAILCOW_DOMAIN = "pulumi-python:dynamic/coldmail:MailcowDomain"
MAILCOW_DKIM = "pulumi-python:dynamic/coldmail:MailcowDkim"
MAILCOW_MAILBOX_SET = "pulumi-python:dynamic/coldmail:MailcowMailboxSet"
MAILCOW_RELAYHOST = "pulumi-python:dynamic/coldmail:MailcowRelayhost"
MAILCOW_MTA_STS = "pulumi-python:dynamic/coldmail:MailcowMtaSts"


def dynamic(name: str) -> str:
    """The token of a dynamic resource class declared with ``module="coldmail", name=name``."""
    return f"{DYNAMIC_PREFIX}/coldmail:{name}"
