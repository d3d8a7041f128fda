"""The shared history: every observation kept, current state with its start, changes only on change."""

import datetime as dt
import os
import stat

import pytest

from coldmail.ops.history import Change, History, Observation, parse_since, worst

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.timezone.utc)


def obs(status, subject="ip:203.0.113.5", check="blacklist.zen", summary=""):
    return Observation(check, subject, status, summary or status, "checks")


@pytest.fixture
def history(tmp_path):
    return History(str(tmp_path / "state" / "history.sqlite"))


def test_file_is_private_to_its_owner(history):
    assert stat.S_IMODE(os.stat(history.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(history.path)).st_mode) == 0o700


def test_a_healthy_first_run_is_no_change_but_a_first_listing_is(history):
    changes = history.record([obs("ok", "ip:203.0.113.5"), obs("fail", "ip:203.0.113.6")], at=T0)
    assert [(c.observation.subject, c.previous, c.observation.status) for c in changes] == [
        ("ip:203.0.113.6", None, "fail")]


def test_changes_fire_on_listing_and_delisting_only(history):
    assert history.record([obs("ok")], at=T0) == []
    listed = history.record([obs("fail")], at=T0 + dt.timedelta(hours=1))
    assert [(c.previous, c.observation.status, c.worse) for c in listed] == [("ok", "fail", True)]
    assert history.record([obs("fail")], at=T0 + dt.timedelta(hours=2)) == []
    delisted = history.record([obs("ok")], at=T0 + dt.timedelta(hours=3))
    assert [(c.previous, c.observation.status, c.worse) for c in delisted] == [("fail", "ok", False)]


def test_current_state_says_since_when_it_holds(history):
    history.record([obs("ok")], at=T0)
    history.record([obs("fail", summary="listed 127.0.0.2")], at=T0 + dt.timedelta(hours=1))
    history.record([obs("fail", summary="listed 127.0.0.2")], at=T0 + dt.timedelta(hours=5))
    [state] = history.current(check_prefix="blacklist.")
    assert state.observation.status == "fail"
    assert state.since == dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
    assert state.observation.at == dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.timezone.utc)


def test_every_observation_is_kept_in_order_and_filtered(history):
    history.record([obs("ok"), obs("ok", check="dns.record", subject="domain:a.test")], at=T0)
    history.record([obs("fail")], at=T0 + dt.timedelta(days=2))
    assert [o.status for o in history.observations(check_prefix="blacklist.")] == ["ok", "fail"]
    assert [o.status for o in history.observations(since=T0 + dt.timedelta(days=1))] == ["fail"]
    assert [o.check for o in history.observations(subject="domain:a.test")] == ["dns.record"]


def test_prefix_filter_treats_underscore_literally(history):
    history.record([obs("fail", check="tls_expiry"), obs("fail", check="tlsXexpiry")], at=T0)
    assert [s.observation.check for s in history.current(check_prefix="tls_")] == ["tls_expiry"]


def test_two_histories_on_one_file_see_each_other(tmp_path):
    path = str(tmp_path / "h.sqlite")
    History(path).record([obs("warn")], at=T0)
    assert [s.observation.status for s in History(path).current()] == ["warn"]


def test_worst_orders_fail_over_warn_over_unknown_over_ok():
    assert worst([obs("ok"), obs("unknown"), obs("warn")]) == "warn"
    assert worst([obs("unknown"), obs("fail")]) == "fail"
    assert worst([]) == "ok"


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status must be one of"):
        obs("listed")


def test_since_accepts_durations_and_dates():
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_since("7d", now) == dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_since("12h", now) == dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_since("2026-11-30", now) == dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.timezone.utc)
    with pytest.raises(ValueError, match="7d"):
        parse_since("last week", now)


def test_change_to_dict_carries_the_previous_status():
    c = Change(obs("fail"), "ok")
    assert c.to_dict()["previous"] == "ok" and c.to_dict()["status"] == "fail"
