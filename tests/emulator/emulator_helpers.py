"""HTTP helpers shared by the emulator tests."""

from __future__ import annotations

import requests

from tests.support.mailcow_emulator import MailcowEmulator

PASSWORD = "Secr3t-Passw0rd"


class Api:
    """Plain HTTP calls against the emulator, the way a client would make them (no cookie reuse)."""

    def __init__(self, mc: MailcowEmulator, key: str | None) -> None:
        self.base = f"{mc.url}/api/v1/"
        self.key = key

    def headers(self, key: str | None = ...) -> dict[str, str]:  # type: ignore[assignment]
        key = self.key if key is ... else key
        return {} if key is None else {"X-API-Key": key}

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("headers", self.headers())
        return requests.get(self.base + path, timeout=10, **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        kw.setdefault("headers", self.headers())
        if body is not None:
            kw["json"] = body
        return requests.post(self.base + path, timeout=10, **kw)

    def add_mailbox(self, local: str, domain: str = "example.test", quota: int = 1024, **extra) -> requests.Response:
        body = {"local_part": local, "domain": domain, "name": f"User {local}", "password": PASSWORD,
                "password2": PASSWORD, "quota": quota, "active": 1, **extra}
        return self.post("add/mailbox", body)


def msgs(response: requests.Response) -> list:
    """The msg values of a write response, in order."""
    body = response.json()
    return [e["msg"] for e in (body if isinstance(body, list) else [body])]
