"""What a server's backup listing (the JSON backup.sh prints) says to the history and the notifier."""


import pytest

from coldmail.backup import Listing, check_parts, observations
from coldmail.errors import UsageError
from coldmail.ops.history import History
from coldmail.ops.notify import Notifier, record_and_notify
from coldmail.ops.signals import BACKUP_LATEST, BACKUP_OFFSITE, BACKUP_RUN
from tests.ops.test_notify import Hook

NOW = 1785931200  # 2026-08-05 12:00:00 UTC, the server's clock
HOUR = 3600


def listing(*ages_hours, last=None, offsite=False):
    points = [{"name": f"mailcow-2026-08-0{i + 1}-03-30-00", "parts": ["vmail", "crypt", "redis", "rspamd", "postfix",
                                                                     "mysql"],
               "created_at": NOW - int(a * HOUR), "size_bytes": 1000 + i, "config_export": True}
              for i, a in enumerate(ages_hours)]
    return Listing.from_json("mx1", {"location": "/var/backups/mailcow", "delete_days": 14, "offsite": offsite,
                                     "now": NOW, "points": points, "last_run": last})


def run(status="ok", offsite="off", point="mailcow-2026-08-05-03-30-00", message="backup complete"):
    return {"status": status, "point": point, "message": message, "offsite": offsite,
            "started_at": NOW - 9 * HOUR, "finished_at": NOW - 8 * HOUR}


def states(obs):
    return {o.check: (o.status, o.value) for o in obs}


def test_a_backup_from_this_morning_is_ok_and_its_age_is_the_value():
    obs = observations(listing(80, 8.5, last=run()))
    assert states(obs) == {BACKUP_LATEST: ("ok", 8.5), BACKUP_RUN: ("ok", None)}
    latest = obs[0]
    assert (latest.subject, latest.summary) == (
        "server:mx1", "latest backup mailcow-2026-08-02-03-30-00 is 0.4 days old")


def test_the_latest_backup_past_two_days_fails():
    obs = observations(listing(49, last=run(status="failed", message="no archive for: redis")))
    assert states(obs) == {BACKUP_LATEST: ("fail", 49.0), BACKUP_RUN: ("fail", None)}
    assert obs[0].summary == "latest backup mailcow-2026-08-01-03-30-00 is 2.0 days old (older than 2 days)"
    assert obs[1].summary == "backup mailcow-2026-08-05-03-30-00: no archive for: redis"


def test_no_backup_at_all_fails_and_a_server_that_never_ran_one_says_so():
    obs = observations(listing())
    assert states(obs) == {BACKUP_LATEST: ("fail", None), BACKUP_RUN: ("info", None)}
    assert obs[0].summary == "no backup in /var/backups/mailcow yet"


def test_the_offsite_copy_is_its_own_check_when_configured():
    assert states(observations(listing(8, last=run(offsite="failed"), offsite=True)))[BACKUP_OFFSITE] == ("fail", None)
    assert states(observations(listing(8, last=run(offsite="ok"), offsite=True)))[BACKUP_OFFSITE] == ("ok", None)


def test_failure_and_recovery_each_alert_once(tmp_path):
    history, hook = History(str(tmp_path / "h.sqlite")), Hook()
    try:
        notifier = Notifier([hook.url], retries=0)
        assert record_and_notify(history, observations(listing(8, last=run())), notifier, stack="prod",
                                 what="backup") == ([], None)
        changes, delivery = record_and_notify(history, observations(listing(50, last=run(status="failed"))),
                                              notifier, stack="prod", what="backup")
        assert sorted((c.observation.check, c.previous, c.observation.status) for c in changes) == [
            (BACKUP_LATEST, "ok", "fail"), (BACKUP_RUN, "ok", "fail")]
        assert delivery.ok and hook.posts[-1]["title"] == "coldmail prod: 2 backup change(s)"
        assert "server:mx1: backup.latest ok → fail" in hook.posts[-1]["message"]
        record_and_notify(history, observations(listing(51, last=run(status="failed"))), notifier, stack="prod",
                          what="backup")
        assert len(hook.posts) == 1
        changes, _ = record_and_notify(history, observations(listing(1, last=run())), notifier, stack="prod",
                                       what="backup")
        assert sorted((c.observation.check, c.observation.status) for c in changes) == [
            (BACKUP_LATEST, "ok"), (BACKUP_RUN, "ok")]
        assert len(hook.posts) == 2
        assert history.current(check_prefix=BACKUP_LATEST)[0].observation.value == 1.0
    finally:
        hook.close()


def test_parts_are_checked_and_put_in_mailcow_s_order():
    assert check_parts(["redis", "vmail"]) == ("vmail", "redis")
    assert check_parts(["all"]) == ("vmail", "crypt", "redis", "rspamd", "postfix", "mysql")
    with pytest.raises(UsageError, match="unknown backup part"):
        check_parts(["mail"])
