"""Fixtures for the Mailcow client and providers: a fresh emulator per test, configured providers, and one
provider gRPC process per test module (the harness and :class:`~tests.support.mail_stack.MailStack` are in
``tests/support``)."""

from __future__ import annotations

import json
from typing import Callable

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from dynamic_providers.base import MailcowProvider
from tests.support.fixtures import mc, provider_session  # noqa: F401 - fixtures for this folder
from tests.support.mail_stack import SERVER


@pytest.fixture
def configured(mc) -> Callable[[type], MailcowProvider]:
    """A provider of the given class, configured as the engine would with the emulator's key, no backoff."""

    def make(cls: type) -> MailcowProvider:
        provider = cls()
        provider.configure(ConfigureRequest(Config(
            {"coldmail:servers": json.dumps([{"name": SERVER, "mailcowApiKey": mc.api_key}])}, "coldmail")))
        provider.client_options = {"backoff": 0}
        return provider

    return make
