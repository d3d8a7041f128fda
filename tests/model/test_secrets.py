"""Which credentials of a stack config are in clear, and the line that stores each one encrypted."""

import json

from coldmail.model.secrets import is_secret_name, plaintext_secrets, secret_paths, set_secret_command

ENCRYPTED = {"secure": "v1:AAAAencryptedblob"}


def test_credential_names_are_recognised_and_others_are_not():
    for key in ("api_key", "apiKey", "mailcowApiKey", "password", "hcloud_token", "client_secret", "privateKey"):
        assert is_secret_name(key), key
    for key in ("domain", "hostname", "keySize", "sshPublicKey", "adminCidrs"):
        assert not is_secret_name(key), key


def test_secret_paths_are_the_tokens_the_ssh_key_and_one_api_key_per_server():
    assert secret_paths([{"name": "mx1"}, {"name": "mx2"}]) == [
        "hcloud:token", "cloudflare:apiToken", "coldmail:sshPrivateKey",
        "coldmail:servers[0].mailcowApiKey", "coldmail:servers[1].mailcowApiKey"]
    assert secret_paths(None) == ["hcloud:token", "cloudflare:apiToken", "coldmail:sshPrivateKey"]


def test_set_secret_command_is_the_exact_line_per_credential():
    assert set_secret_command("coldmail:sshPrivateKey", "prod") == \
        "pulumi config set --stack prod --secret coldmail:sshPrivateKey < ~/.ssh/coldmail_ed25519"
    assert set_secret_command("coldmail:servers[0].mailcowApiKey") == \
        "openssl rand -hex 24 | pulumi config set --secret --path 'coldmail:servers[0].mailcowApiKey'"
    assert set_secret_command("cloudflare:apiToken", "prod") == \
        "pulumi config set --stack prod --secret cloudflare:apiToken   # paste a Cloudflare token with Zone.DNS " \
        "edit + Zone read"


def test_in_a_stack_file_every_credential_not_encrypted_is_in_clear():
    config = {"coldmail:sshPrivateKey": "FAKE-ssh-key", "hcloud:token": ENCRYPTED,
              "coldmail:servers": [{"name": "mx1", "mailcowApiKey": ENCRYPTED},
                                   {"name": "mx2", "mailcowApiKey": "FAKE-api-key-0000"}, {"name": "mx3"}]}
    assert plaintext_secrets(config.get) == ("coldmail:sshPrivateKey", "coldmail:servers[1].mailcowApiKey")
    assert plaintext_secrets({"hcloud:token": ENCRYPTED, "coldmail:sshPrivateKey": ""}.get) == ()


def test_in_the_program_a_credential_is_in_clear_when_its_key_was_not_given_with_secret():
    config = {"coldmail:sshPrivateKey": "FAKE-ssh-key", "cloudflare:apiToken": "FAKE-cf-token",
              "coldmail:servers": json.dumps([{"name": "mx1", "mailcowApiKey": "FAKE-api-key-0000"}])}
    secret = {"coldmail:sshPrivateKey"}
    assert plaintext_secrets(config.get, secret.__contains__) == (
        "cloudflare:apiToken", "coldmail:servers[0].mailcowApiKey")
    secret |= {"coldmail:servers", "cloudflare:apiToken"}
    assert plaintext_secrets(config.get, secret.__contains__) == ()
