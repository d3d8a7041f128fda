"""The notifier delivers through apprise to a real JSON webhook on loopback, retrying failures."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coldmail.ops.history import Change, Observation
from coldmail.ops.notify import Notifier


class Hook:
    """A JSON webhook on 127.0.0.1 that fails the first ``fail_first`` posts with HTTP 500."""

    def __init__(self, fail_first=0):
        self.posts, self.fail_first = [], fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.posts.append(json.loads(body))
                self.send_response(500 if len(hook.posts) <= hook.fail_first else 200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def no_sleep(_):
    pass


def test_a_notification_arrives_with_title_body_and_level(hook):
    d = Notifier([hook.url], sleep=no_sleep).send("coldmail prod: listed", "203.0.113.5 on zen", "fail")
    assert (d.ok, d.attempts, d.targets) == (True, 1, 1)
    [post] = hook.posts
    assert post["title"] == "coldmail prod: listed" and post["message"] == "203.0.113.5 on zen"
    assert post["type"] == "failure"


def test_a_failing_target_is_retried_until_it_takes_it():
    h = Hook(fail_first=2)
    try:
        sleeps = []
        d = Notifier([h.url], retries=3, backoff=1.0, sleep=sleeps.append).send("t", "b")
        assert (d.ok, d.attempts) == (True, 3) and len(h.posts) == 3 and sleeps == [1.0, 2.0]
    finally:
        h.close()


def test_a_target_that_never_takes_it_is_reported_failed_after_every_retry():
    h = Hook(fail_first=99)
    try:
        d = Notifier([h.url], retries=2, sleep=no_sleep).send("t", "b")
        assert (d.ok, d.attempts) == (False, 3) and len(h.posts) == 3
    finally:
        h.close()


def test_changes_make_one_message_worst_first_and_nothing_when_unchanged(hook):
    n = Notifier([hook.url], sleep=no_sleep)
    assert n.changes([], stack="prod") is None and hook.posts == []
    changes = [Change(Observation("tls.expiry", "server:mx1", "warn", "expires in 6 days", "checks"), "ok"),
               Change(Observation("blacklist.zen", "ip:203.0.113.5", "fail", "listed (127.0.0.2)", "checks"), "ok")]
    n.changes(changes, stack="prod")
    [post] = hook.posts
    assert post["title"] == "coldmail prod: 2 checks change(s)" and post["type"] == "failure"
    assert post["message"].splitlines() == [
        "ip:203.0.113.5: blacklist.zen ok → fail — listed (127.0.0.2)",
        "server:mx1: tls.expiry ok → warn — expires in 6 days"]


def test_urls_come_from_the_environment_and_a_bad_one_names_only_its_scheme():
    n = Notifier.from_env({"COLDMAIL_NOTIFY_URLS": "json://127.0.0.1:9/a json://127.0.0.1:9/b"}, sleep=no_sleep)
    assert len(n.urls) == 2
    with pytest.raises(ValueError) as err:
        Notifier(["nosuchscheme://secret-token@host"])
    assert "secret-token" not in str(err.value) and "nosuchscheme://" in str(err.value)


def test_without_targets_nothing_is_sent():
    assert Notifier([]).send("t", "b").ok is False
