"""`coldmail server restart | logs | queue` over a real SSH connection, against a stand-in docker."""

import json

MAILCOW = "opt/mailcow-dockerized"
LOGS = """\
postfix-mailcow-1  | 2026-08-05T10:00:00.123456789Z Aug  5 10:00:00 mx1 postfix/smtpd[301]: connect from unknown[198.51.100.7]
postfix-mailcow-1  | 2026-08-05T10:00:01.000000000Z Aug  5 10:00:01 mx1 postfix/smtp[302]: 4A1B2C3D4E: to=<bob@dest.test>, relay=none, delay=30, dsn=4.4.1, status=deferred (connect to mx.dest.test[203.0.113.50]:25: Connection timed out)
postfix-mailcow-1  | 2026-08-05T10:00:02.000000000Z warning: a line
  that goes on
"""
QUEUE = [
    {"queue_name": "deferred", "queue_id": "4A1B2C3D4E", "arrival_time": 1785924000, "message_size": 2048,
     "forced_expire": False, "sender": "anna@acme-growth.com",
     "recipients": [{"address": "bob@dest.test", "delay_reason": "connect to mx.dest.test[203.0.113.50]:25: Connection timed out"},
                    {"address": "carl@dest.test", "delay_reason": "connect to mx.dest.test[203.0.113.50]:25: Connection timed out"}]},
    {"queue_name": "deferred", "queue_id": "5B2C3D4E5F", "arrival_time": 1785925000, "message_size": 1024,
     "forced_expire": False, "sender": "ben@acme-growth.com",
     "recipients": [{"address": "dan@other.test", "delay_reason": "host mx.other.test[198.51.100.9] said: 421 4.7.0 Try again later (in reply to end of DATA command)"}]},
    {"queue_name": "active", "queue_id": "6C3D4E5F6A", "arrival_time": 1785926000, "message_size": 900,
     "forced_expire": False, "sender": "anna@acme-growth.com", "recipients": [{"address": "eve@dest.test"}]},
]


def test_restart_one_service_runs_compose_restart_in_mailcow_s_directory(cli, ssh_server):
    r = cli(["server", "restart", "mx1", "--service", "postfix", "--json"])
    assert r.code == 0, r.stderr
    assert r.doc["result"] == {"server": "mx1", "services": ["postfix-mailcow"]}
    assert ssh_server.calls == ["docker compose restart postfix-mailcow"]
    assert (ssh_server.fake / "cwd").read_text() == f"{ssh_server.root}/{MAILCOW}\n"


def test_restart_without_a_service_restarts_them_all(cli, ssh_server):
    assert cli(["server", "restart", "mx1", "--json"]).doc["result"]["services"] == ["all"]
    assert ssh_server.calls == ["docker compose restart"]


def test_an_unknown_service_or_server_is_bad_input_and_nothing_runs(cli, ssh_server):
    r = cli(["server", "restart", "mx1", "--service", "posfix", "--json"])
    assert r.code == 2 and r.doc["errors"][0]["message"] == "'posfix' is not a Mailcow service"
    assert r.doc["errors"][0]["fix"] == (
        "use one of: unbound, mysql, redis, clamd, rspamd, php-fpm, sogo, dovecot, postfix, postfix-tlspol, "
        "memcached, nginx, acme, netfilter, watchdog, dockerapi, olefy, ofelia")
    r = cli(["server", "logs", "mx9", "--service", "postfix", "--json"])
    assert r.code == 2 and "no server named 'mx9' (servers: mx1)" in r.doc["errors"][0]["message"]
    assert ssh_server.calls == []


def test_logs_come_back_as_lines_with_container_and_time(cli, ssh_server):
    (ssh_server.fake / "compose-logs").write_text(LOGS)
    r = cli(["server", "logs", "mx1", "--service", "postfix", "--since", "2d", "--json"])
    assert r.code == 0, r.stderr
    assert ssh_server.calls == [
        "docker compose logs --no-color --timestamps --tail 1000 --since 48h postfix-mailcow"]
    res = r.doc["result"]
    assert (res["server"], res["service"], res["since"], res["count"]) == ("mx1", "postfix-mailcow", "2d", 3)
    assert res["lines"][1] == {
        "container": "postfix-mailcow-1", "time": "2026-08-05T10:00:01.000000000Z",
        "message": "Aug  5 10:00:01 mx1 postfix/smtp[302]: 4A1B2C3D4E: to=<bob@dest.test>, relay=none, delay=30, "
                   "dsn=4.4.1, status=deferred (connect to mx.dest.test[203.0.113.50]:25: Connection timed out)"}
    assert res["lines"][2]["message"] == "warning: a line\n  that goes on"


def test_a_since_that_is_not_a_time_is_refused_before_ssh(cli, ssh_server):
    r = cli(["server", "logs", "mx1", "--service", "postfix", "--since", "1h; reboot", "--json"])
    assert r.code == 2 and "neither a duration nor a time" in r.doc["errors"][0]["message"]
    assert ssh_server.calls == []


def test_the_queue_is_summarised_by_reason_and_destination(cli, ssh_server):
    (ssh_server.fake / "postqueue").write_text("".join(json.dumps(m) + "\n" for m in QUEUE))
    r = cli(["server", "queue", "mx1", "--json"])
    assert r.code == 0, r.stderr
    assert ssh_server.calls == ["docker compose exec -T postfix-mailcow postqueue -j"]
    res = r.doc["result"]
    assert res["summary"] == {
        "total": 3, "by_queue": {"active": 1, "deferred": 2},
        "deferred_by_reason": [
            {"reason": "connect to mx.dest.test[203.0.113.50]:25: Connection timed out", "recipients": 2},
            {"reason": "host mx.other.test[198.51.100.9] said: 421 4.7.0 Try again later (in reply to end of DATA "
                       "command)", "recipients": 1}],
        "deferred_by_destination": [{"domain": "dest.test", "recipients": 2}, {"domain": "other.test", "recipients": 1}]}
    assert res["messages"][0]["arrival_time"] == "2026-08-05T10:00:00+00:00"
    assert res["messages"][2]["recipients"] == [{"address": "eve@dest.test", "delay_reason": None}]
    assert res["action"] == {"flushed": None, "deleted": None, "found": None}


def test_flush_all_or_one_and_delete_one_with_confirmation(cli, ssh_server):
    (ssh_server.fake / "postqueue").write_text("".join(json.dumps(m) + "\n" for m in QUEUE))
    assert cli(["server", "queue", "mx1", "--flush", "--json"]).doc["result"]["action"]["flushed"] == "all"
    assert cli(["server", "queue", "mx1", "--flush", "4A1B2C3D4E", "--json"]).code == 0
    refused = cli(["server", "queue", "mx1", "--delete", "5B2C3D4E5F", "--json"])
    assert refused.code == 2 and refused.doc["errors"][0]["kind"] == "confirmation_required"
    deleted = cli(["server", "queue", "mx1", "--delete", "5B2C3D4E5F", "--yes", "--json"])
    assert deleted.code == 0 and deleted.doc["result"]["action"] == {"flushed": None, "deleted": "5B2C3D4E5F",
                                                                      "found": True}
    gone = cli(["server", "queue", "mx1", "--delete", "7D4E5F6A7B", "--yes", "--json"])
    assert gone.doc["result"]["action"]["found"] is False and "was not in the queue" in gone.doc["warnings"][0]
    assert [c for c in ssh_server.calls if "postqueue -j" not in c] == [
        "docker compose exec -T postfix-mailcow postqueue -f",
        "docker compose exec -T postfix-mailcow postqueue -i 4A1B2C3D4E",
        "docker compose exec -T postfix-mailcow postsuper -d 5B2C3D4E5F",
        "docker compose exec -T postfix-mailcow postsuper -d 7D4E5F6A7B"]


def test_a_queue_id_that_is_not_postfix_s_is_refused(cli, ssh_server):
    r = cli(["server", "queue", "mx1", "--delete", "ALL", "--yes", "--json"])
    assert r.code == 2 and "not a Postfix queue id" in r.doc["errors"][0]["message"]
    assert ssh_server.calls == []


def test_the_ssh_key_can_come_from_a_file_named_in_the_environment(cli, ssh_server, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text(ssh_server.user_private)
    key.chmod(0o600)
    r = cli(["server", "restart", "mx1", "--service", "dovecot", "--json"], env={"COLDMAIL_SSH_KEY_FILE": str(key)})
    assert r.code == 0 and ssh_server.calls == ["docker compose restart dovecot-mailcow"]
    # The stack config was not read for a key: no `config` call to pulumi.
    assert not any(c[:1] == ["config"] for c in r.fake.calls)
