"""Google Postmaster Tools against a loopback HTTP server answering in the API's documented shapes
(the token endpoint, ``GET /v1/domains`` and ``GET /v1/domains/{domain}/trafficStats``)."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coldmail import model as cm
from coldmail.checks import postmaster
from tests.checks.conftest import make_ctx, stack_raw, verdicts

CLIENT_SECRET = "TEST-FAKE-CLIENT-SECRET"
REFRESH_TOKEN = "TEST-FAKE-REFRESH-TOKEN"
ACCESS_TOKEN = "TEST-FAKE-ACCESS-TOKEN"


def stats(domain: str, day: str, spam=None, reputation="HIGH", spf=1.0, dkim=1.0, dmarc=1.0) -> dict:
    out = {"name": f"domains/{domain}/trafficStats/{day}", "domainReputation": reputation,
           "spfSuccessRatio": spf, "dkimSuccessRatio": dkim, "dmarcSuccessRatio": dmarc,
           "ipReputations": [{"reputation": "HIGH", "ipCount": "1", "sampleIps": ["203.0.113.11"]}]}
    if spam is not None:
        out["userReportedSpamRatio"] = spam
    return out


class FakeGoogle:
    """Token endpoint and Postmaster API on 127.0.0.1; ``requests`` records every call."""

    def __init__(self, traffic: dict[str, list[dict]], registered: list[str], page_size: int = 1) -> None:
        self.requests: list[dict] = []
        google = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):  # noqa: N802
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                google.requests.append({"path": self.path, "form": form})
                if form.get("refresh_token") != [REFRESH_TOKEN] or form.get("client_secret") != [CLIENT_SECRET]:
                    return self._send(400, {"error": "invalid_grant"})
                self._send(200, {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer",
                                 "scope": postmaster.SCOPE})

            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                google.requests.append({"path": url.path, "query": query, "auth": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                    return self._send(401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}})
                if url.path == "/v1/domains":
                    return self._send(200, {"domains": [{"name": f"domains/{d}", "permission": "OWNER",
                                                         "createTime": "2026-10-01T00:00:00Z"} for d in registered]})
                parts = url.path.split("/")
                if len(parts) == 5 and parts[4] == "trafficStats":
                    days = traffic.get(parts[3], [])
                    start = int(query.get("pageToken", ["0"])[0])
                    body = {"trafficStats": days[start:start + page_size]}
                    if start + page_size < len(days):
                        body["nextPageToken"] = str(start + page_size)
                    return self._send(200, body)
                self._send(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no such path"}})

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def google():
    servers = []

    def start(traffic, registered, **kw):
        g = FakeGoogle(traffic, registered, **kw)
        servers.append(g)
        return g

    yield start
    for g in servers:
        g.close()


def pm_stack(url: str, secrets: bool = True) -> cm.StackConfig:
    pm = {"clientId": "1234-test.apps.googleusercontent.com", "tokenUrl": f"{url}/token", "apiUrl": url,
          "clientSecret": CLIENT_SECRET if secrets else {"secure": "v1:AAAA"},
          "refreshToken": REFRESH_TOKEN if secrets else {"secure": "v1:BBBB"}}
    return cm.load(stack_raw(checks={"timeout": 1.0, "postmaster": pm}))


def test_reputation_spam_rate_and_pass_rates_of_the_newest_day_with_the_written_thresholds(zone, google):
    g = google({
        "acme-alpha.com": [stats("acme-alpha.com", "20261128", spam=0.0005),
                           stats("acme-alpha.com", "20261129", spam=0.0004, dkim=0.97)],
        "acme-beta.io": [stats("acme-beta.io", "20261129", spam=0.0015, reputation="MEDIUM")],
        "acme-gamma.co": [stats("acme-gamma.co", "20261129", spam=0.004, reputation="BAD")],
    }, registered=["acme-alpha.com", "acme-beta.io", "acme-gamma.co"])
    obs = postmaster.check_postmaster(make_ctx(zone, pm_stack(g.url)))
    assert verdicts(obs) == {
        ("postmaster.spam_rate", "domain:acme-alpha.com"): "ok",
        ("postmaster.reputation", "domain:acme-alpha.com"): "ok",
        ("postmaster.auth_rates", "domain:acme-alpha.com"): "info",
        ("postmaster.spam_rate", "domain:acme-beta.io"): "warn",       # 0.15% >= 0.1%
        ("postmaster.reputation", "domain:acme-beta.io"): "warn",
        ("postmaster.auth_rates", "domain:acme-beta.io"): "info",
        ("postmaster.spam_rate", "domain:acme-gamma.co"): "fail",      # 0.4% >= 0.3%
        ("postmaster.reputation", "domain:acme-gamma.co"): "fail",
        ("postmaster.auth_rates", "domain:acme-gamma.co"): "info",
        ("postmaster.spam_rate", "domain:acme-delta.net"): "info",     # not verified in Postmaster Tools
    }
    by = {(o.check, o.subject): o for o in obs}
    alpha = by[("postmaster.spam_rate", "domain:acme-alpha.com")]
    assert (alpha.value, alpha.data["day"]) == (0.0004, "20261129")
    assert by[("postmaster.auth_rates", "domain:acme-alpha.com")].value == 0.97
    assert by[("postmaster.spam_rate", "domain:acme-gamma.co")].summary == (
        "Gmail spam rate 0.40% on 20261129 (at or above Gmail's 0.3% limit)")
    # Paging followed, the date window sent as the API's Date fields, the token used as a bearer token.
    alpha_calls = [r for r in g.requests if r["path"] == "/v1/domains/acme-alpha.com/trafficStats"]
    assert len(alpha_calls) == 2 and alpha_calls[1]["query"]["pageToken"] == ["1"]
    assert alpha_calls[0]["query"]["endDate.year"] == ["2026"] and alpha_calls[0]["query"]["startDate.day"] == ["24"]
    [token_call] = [r for r in g.requests if r["path"] == "/token"]
    assert token_call["form"]["grant_type"] == ["refresh_token"]


def test_a_registered_domain_without_statistics_is_unknown(zone, google):
    g = google({}, registered=["acme-alpha.com"])
    obs = {(o.check, o.subject): o for o in postmaster.check_postmaster(make_ctx(zone, pm_stack(g.url)))}
    o = obs[("postmaster.spam_rate", "domain:acme-alpha.com")]
    assert o.status == "unknown" and "volume threshold" in o.summary


def test_a_refused_refresh_token_is_unknown_and_names_the_fix_not_the_token(zone, google):
    g = google({}, registered=[])
    stack = pm_stack(g.url)
    bad = dataclasses.replace(stack, checks=dataclasses.replace(
        stack.checks, postmaster=dataclasses.replace(stack.checks.postmaster, refresh_token="TEST-FAKE-REVOKED")))
    obs = postmaster.check_postmaster(make_ctx(zone, bad))
    assert {o.status for o in obs} == {"unknown"} and len(obs) == 4
    assert "the refresh token was refused (HTTP 400 invalid_grant)" in obs[0].summary
    assert "TEST-FAKE" not in json.dumps([o.to_dict() for o in obs])


def test_encrypted_secrets_come_from_the_environment(zone, google):
    g = google({"acme-alpha.com": [stats("acme-alpha.com", "20261129", spam=0.0)]}, registered=["acme-alpha.com"])
    stack = pm_stack(g.url, secrets=False)
    missing = postmaster.check_postmaster(make_ctx(zone, stack))
    assert {o.status for o in missing} == {"unknown"}
    env = {"COLDMAIL_POSTMASTER_CLIENT_SECRET": CLIENT_SECRET, "COLDMAIL_POSTMASTER_REFRESH_TOKEN": REFRESH_TOKEN}
    found = {(o.check, o.subject): o.status for o in postmaster.check_postmaster(make_ctx(zone, stack, env=env))}
    assert found[("postmaster.spam_rate", "domain:acme-alpha.com")] == "ok"


def test_without_postmaster_config_nothing_is_asked(zone, stack):
    assert postmaster.check_postmaster(make_ctx(zone, stack)) == []
