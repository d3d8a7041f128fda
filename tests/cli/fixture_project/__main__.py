"""A stand-in for coldmail's program: the same resource types, component tokens and exports.

The plan tests use it so that they check the plan's reading of registrations independently of the
real components; tests/cli/test_plan_prod.py runs the real program.
"""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_hcloud as hcloud

from coldmail import model as cm
from coldmail.model.stackfile import raw_from_pulumi

stack = cm.load(raw_from_pulumi())
cfg = pulumi.Config("coldmail")
ssh_key = cfg.require_secret("sshPrivateKey")


class MailServer(pulumi.ComponentResource):
    def __init__(self, name, server, opts=None):
        super().__init__("coldmail:index:MailServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.host = hcloud.Server(f"{name}-server", server_type=server.server_type, image=server.image,
                                  location=server.location, opts=child)
        zone = cloudflare.get_zone_output(filter={"name": server.zone})
        cloudflare.DnsRecord(f"{name}-a", zone_id=zone.id, name=server.hostname, type="A",
                             content=self.host.ipv4_address, ttl=300, proxied=False, opts=child)
        self.floating = []
        for k, ptr in enumerate(server.ptr_names):
            fip = hcloud.FloatingIp(f"{name}-fip{k + 1}", type="ipv4", home_location=server.location, opts=child)
            hcloud.Rdns(f"{name}-fip{k + 1}-ptr", floating_ip_id=fip.id.apply(int), ip_address=fip.ip_address,
                        dns_ptr=ptr, opts=child)
            cloudflare.DnsRecord(f"{name}-fip{k + 1}-a", zone_id=zone.id, name=ptr, type="A",
                                 content=fip.ip_address, ttl=300, proxied=False, opts=child)
            self.floating.append((fip, ptr))
        self.register_outputs({})


class MailDomain(pulumi.ComponentResource):
    def __init__(self, name, domain, opts=None):
        super().__init__("coldmail:index:MailDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zone = cloudflare.get_zone_output(filter={"name": domain.zone})
        server = stack.server(domain.server)
        dkim = pulumi.CustomResource("pulumi-python:dynamic/coldmail:MailcowDkim", f"{name}-dkim",
                                     {"domain": domain.name, "selector": stack.dkim.selector,
                                      "public_key": None, "txt_value": None}, opts=child)
        cloudflare.DnsRecord(f"{name}-mx", zone_id=zone.id, name=domain.name, type="MX", priority=10,
                             content=server.hostname, ttl=300, proxied=False, opts=child)
        cloudflare.DnsRecord(f"{name}-spf", zone_id=zone.id, name=domain.name, type="TXT",
                             content=f"\"v=spf1 mx a:{stack.sending_ip(domain).ptr_name} -all\"", ttl=300, opts=child)
        chunked = dkim.txt_value.apply(lambda v: " ".join(f'"{v[i:i + 255]}"' for i in range(0, len(v), 255)))
        cloudflare.DnsRecord(f"{name}-dkim-txt", zone_id=zone.id, name=f"{stack.dkim.selector}._domainkey",
                             type="TXT", content=chunked, ttl=300, opts=child)
        cloudflare.DnsRecord(f"{name}-dmarc", zone_id=zone.id, name=f"_dmarc.{domain.name}", type="TXT",
                             content=f"v=DMARC1; p={domain.dmarc_phase}; rua=mailto:{stack.dmarc.rua}", ttl=300,
                             opts=child)
        cloudflare.DnsRecord(f"{name}-autodiscover", zone_id=zone.id, name=f"_autodiscover._tcp.{domain.name}",
                             type="SRV", data={"priority": 0, "weight": 1, "port": 443, "target": server.hostname},
                             ttl=300, opts=child)
        self.register_outputs({})


servers = {s.name: MailServer(s.name, s) for s in stack.servers}
for d in stack.rollout.deployed(stack.domains):
    MailDomain(d.name.replace(".", "-"), d)
# The real program's export shape (components/mail_server.py's summary), without the secrets.
pulumi.export("servers", {name: {"server_id": srv.host.id, "hostname": stack.server(name).hostname,
                                 "ipv4_address": srv.host.ipv4_address, "ipv6_address": srv.host.ipv6_address,
                                 "floating_ips": [{"index": k + 1, "ip": f.ip_address, "ptr": p}
                                                  for k, (f, p) in enumerate(srv.floating)],
                                 "mailcow_url": f"https://{stack.server(name).hostname}", "relayhost_ids": {}}
                          for name, srv in servers.items()})
