"""The on-server agent's ``warmup.run`` job: each server's agent works for its own mailboxes, on its own Mailcow,
and the seeds shared by the servers get no more than their daily cap from all agents together.

Real servers: the loopback Postfix + Dovecot lab and one Mailcow emulator per server. Each agent reads its
own agent file (rendered as the program renders it: the stack config, this server's domains and mailbox
logins) and keeps its own history, as two containers on two servers do.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3

import pytest

from coldmail.cli.commands.agent import AGENT_JOBS, agent_run
from coldmail.cli.session import Session
from coldmail.model import agentfile
from coldmail.ops import signals
from coldmail.ops.history import History
from tests.support.mailcow_emulator import MailcowEmulator

WARMUP_JOB = [j for j in AGENT_JOBS if j.name == "warmup.run"]
#: The sending IPs the stack outputs name: mx1's floating IPs 1 and 2, mx2's floating IP 1.
SENDING_IPS = {("mx1", 1): "203.0.113.11", ("mx1", 2): "203.0.113.12", ("mx2", 1): "203.0.113.21"}


@pytest.fixture
def mailcows():
    with MailcowEmulator(api_key="TEST-ONLY-KEY-MX1-0000") as mx1, MailcowEmulator(api_key="TEST-ONLY-KEY-MX2-0000") as mx2:
        yield {"mx1": mx1, "mx2": mx2}


def _agent_file(tmp_path, stack, server: str, mailcows) -> tuple[str, str]:
    """The agent file of ``server`` (and its data directory), with both servers' API keys in the config as
    in a real stack: the rendering keeps only this server's."""
    raw = {**stack.raw, "servers": [dict(s, mailcowApiKey=mailcows[s["name"]].api_key) for s in stack.raw["servers"]]}
    mine = [d for d in stack.settings.domains if d.server == server]
    outputs = {
        "servers": {server: {"ipv4_address": "203.0.113.1" if server == "mx1" else "203.0.113.2"}},
        "domains": {d.name: {"server": server, "ip_index": d.ip, "sending_ip": SENDING_IPS[(server, d.ip)]}
                    for d in mine},
        # As MailboxSet exports them: one list per domain, the server's hostname as both endpoints.
        "credentials": [[{"email": m.address, "first_name": m.name.split()[0], "last_name": m.name.split()[-1],
                          "password": f"pw-{m.local_part}-test", "smtp_host": f"{server}.ops-example.com",
                          "smtp_port": 587, "imap_host": f"{server}.ops-example.com", "imap_port": 993,
                          "daily_limit": 6} for m in d.mailboxes] for d in mine],
    }
    data = tmp_path / f"{server}-data"
    text = agentfile.render(
        stack="lab", server=server, raw=raw, outputs=outputs, relays={}, mailcow_url=mailcows[server].url,
        data_dir=str(data),
        # The lab speaks plain SMTP and IMAP on its own loopback ports.
        mail_endpoints={"smtp_host": "127.0.0.1", "smtp_port": stack.lab.smtp_port, "imap_host": "127.0.0.1",
                        "imap_port": stack.lab.imap_port, "tls": False})
    assert mailcows[server].api_key in text
    assert all(mailcows[o].api_key not in text for o in mailcows if o != server)
    path = tmp_path / f"{server}-agent.json"
    path.write_text(text)
    return str(path), str(data / "history.sqlite")


def _run(tmp_path, agent_file):
    out = agent_run(Session(project_dir=str(tmp_path), env={"PATH": "/usr/bin:/bin"}), "lab",
                    config_file=agent_file, once=True, jobs=WARMUP_JOB)
    assert out.exit_code == 0, (out.errors, out.result)
    (run,) = out.result["runs"]
    assert run["job"] == "warmup.run" and run["ok"], run
    return run["result"]


def _sends(history: str) -> list[tuple[str, str]]:
    with sqlite3.connect(history) as db:
        return [tuple(r) for r in db.execute("SELECT sender, recipient FROM warmup_sends WHERE status != 'refused'")]


def _noon_zone() -> str:
    """A fixed-offset zone in which it is about noon now.

    The agent runs on the real clock, and the lab's sending window is 00:00-01:00 local: at noon the whole
    day's sends are due whatever the hour in UTC (in the servers' own UTC they are not, before 01:00), and
    the local date is today's UTC date, the ramp's start date.
    """
    offset = 12 - _dt.datetime.now(_dt.timezone.utc).hour  # -11 .. +12; Etc/GMT zones carry the opposite sign
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def test_each_servers_agent_sends_only_for_its_mailboxes_and_the_seeds_get_their_cap_from_all_agents(
        lab, lab_stack, tmp_path, mailcows):
    stack = lab_stack(replyShare=0, startDate=_dt.datetime.now(_dt.timezone.utc).date().isoformat())
    for server in stack.raw["servers"]:
        server["timezone"] = _noon_zone()
    for seed in stack.raw["warmup"]["seeds"]:
        seed["maxPerDay"] = 3  # mx1's agent may send each seed 2 a day, mx2's 1
    mx1_boxes = {stack.address(p) for p in ("anna", "jonas", "mia", "lena")}
    paul = stack.address("paul")
    for address in mx1_boxes:
        mailcows["mx1"].seed_mailbox(address)
    mailcows["mx2"].seed_mailbox(paul)
    mx1_file, mx1_history = _agent_file(tmp_path, stack, "mx1", mailcows)
    mx2_file, mx2_history = _agent_file(tmp_path, stack, "mx2", mailcows)

    result = _run(tmp_path, mx1_file)
    assert [(i["ip"], i["address"]) for i in result["ips"]] == [("mx1/ip1", "203.0.113.11"),
                                                                ("mx1/ip2", "203.0.113.12")]
    sends = _sends(mx1_history)
    assert result["sent"] == len(sends) >= 4 and result["errors"] == []
    assert {sender for sender, _ in sends} <= mx1_boxes
    assert paul not in {r for _, r in sends}
    assert sorted(r for _, r in sends if r in stack.seeds) == sorted(stack.seeds * 2)
    # The caps are enforced on mx1's Mailcow only, for mx1's mailboxes only (day 1: 20 per IP; alpha's three
    # mailboxes share IP 1, lena has IP 2 to herself).
    assert mailcows["mx1"].ratelimits == {stack.address("anna"): "6 / 1d", stack.address("jonas"): "6 / 1d",
                                          stack.address("mia"): "6 / 1d", stack.address("lena"): "20 / 1d"}
    assert mailcows["mx2"].ratelimits == {}
    recorded = {s.observation.subject for s in History(mx1_history).current(check_prefix=signals.WARMUP_SENT)}
    assert recorded == {"ip:203.0.113.11", "ip:203.0.113.12"}

    result = _run(tmp_path, mx2_file)
    assert [(i["ip"], i["address"]) for i in result["ips"]] == [("mx2/ip1", "203.0.113.21")]
    # Paul's partners off his server are the seeds alone, one each: then he has nobody left to send to.
    assert sorted(_sends(mx2_history)) == sorted((paul, seed) for seed in stack.seeds)
    assert mailcows["mx2"].ratelimits == {paul: "20 / 1d"}
    recorded = {s.observation.subject for s in History(mx2_history).current(check_prefix=signals.WARMUP_SENT)}
    assert recorded == {"ip:203.0.113.21"}

    lab.queue_empty()
    header = stack.settings.warmup_exchange.header
    for seed in stack.seeds:
        senders = lab.folder_headers(seed, "INBOX", "From")
        assert len(lab.folder_headers(seed, "INBOX", header)) == 3 == len(senders)
        assert sum(paul in s for s in senders) == 1


def test_the_job_runs_only_on_a_server_with_mailbox_logins_in_its_agent_file(lab_stack, tmp_path, mailcows):
    stack = lab_stack()
    path, _ = _agent_file(tmp_path, stack, "mx1", mailcows)
    doc = agentfile.read(path)
    empty = tmp_path / "empty.json"
    empty.write_text(agentfile.render(stack="lab", server="mx1", raw=doc.config, outputs={"servers": {}},
                                      relays={}, data_dir=str(tmp_path / "empty-data")))
    out = agent_run(Session(project_dir=str(tmp_path), env={"PATH": "/usr/bin:/bin"}), "lab",
                    config_file=str(empty), once=True, jobs=WARMUP_JOB)
    assert (out.exit_code, out.result["runs"], out.result["jobs"]) == (0, [], [])


HYGIENE_JOB = [j for j in AGENT_JOBS if j.name == "hygiene.scan"]


def test_the_agents_hygiene_job_reads_bounces_in_its_mailboxes_into_the_suppression_list_and_the_rates(
        lab, lab_stack, tmp_path, mailcows):
    import smtplib

    from coldmail.hygiene import HygieneStore
    from tests.hygiene.samples import dsn

    stack = lab_stack(replyShare=0)
    mx1 = next(m.address for d in stack.settings.domains if d.server == "mx1" for m in d.mailboxes)
    mx2 = next(m.address for d in stack.settings.domains if d.server == "mx2" for m in d.mailboxes)
    for owner, gone in ((mx1, "gone-one@dest.test"), (mx2, "gone-two@dest.test")):
        with smtplib.LMTP("127.0.0.1", lab.lmtp_port, local_hostname="lab.test") as lmtp:
            lmtp.sendmail("MAILER-DAEMON@mx.remote.test", [owner], dsn(owner, [
                (gone, "failed", "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist")]))
    agent_file, history_path = _agent_file(tmp_path, stack, "mx1", mailcows)

    out = agent_run(Session(project_dir=str(tmp_path), env={"PATH": "/usr/bin:/bin"}), "lab",
                    config_file=agent_file, once=True, jobs=HYGIENE_JOB)
    assert out.exit_code == 0, (out.errors, out.result)
    (run,) = out.result["runs"]
    assert run["job"] == "hygiene.scan" and run["ok"] and run["result"]["new"]["hard"] == 1, run

    history = History(history_path)
    # Only mx1's mailboxes were read: mx2's bounce waits for mx2's own agent.
    assert [(s.domain, s.address) for s in HygieneStore(history).suppressions()] == [
        (mx1.rpartition("@")[2], "gone-one@dest.test")]
    rates = {s.observation.subject for s in history.current(check_prefix=signals.HYGIENE_BOUNCE_RATE)}
    assert signals.mailbox_subject(mx1) in rates and signals.mailbox_subject(mx2) not in rates
