"""The exchange keys of ``coldmail:warmup``: seeds (secrets), the marker header, reply share, sending hours."""

from __future__ import annotations

from coldmail import model

from .conftest import stack_raw


def _issues(**warmup):
    return {i.path: i for i in model.validate(stack_raw(**warmup))}


def test_a_gmail_seed_gets_gmails_endpoints_and_keeps_its_password_out_of_repr():
    cfg = model.load(stack_raw(seeds=[{"address": "Me.Seed@gmail.com", "password": "abcd efgh ijkl mnop"}],
                               replyShare=0.25, header="X-Acme-Warmup"))
    ex = cfg.warmup_exchange
    (seed,) = ex.seeds
    assert (seed.address, seed.provider, seed.imap_host, seed.imap_port, seed.smtp_host, seed.smtp_port, seed.tls) == (
        "me.seed@gmail.com", "gmail", "imap.gmail.com", 993, "smtp.gmail.com", 587, True)
    assert (seed.spam_folder, seed.promotions_folder, seed.max_per_day) == (None, None, 20)
    assert seed.password == "abcd efgh ijkl mnop" and "abcd" not in repr(cfg)
    assert (ex.header, ex.reply_share, ex.send_from_hour, ex.send_until_hour) == ("X-Acme-Warmup", 0.25, 8, 18)


def test_outlook_and_yahoo_are_recognised_by_their_domains():
    cfg = model.load(stack_raw(seeds=[{"address": "a@outlook.com", "password": "x-test"},
                                      {"address": "b@yahoo.com", "password": "y-test"}]))
    assert [(s.provider, s.imap_host, s.smtp_host) for s in cfg.warmup_exchange.seeds] == [
        ("outlook", "outlook.office365.com", "smtp-mail.outlook.com"),
        ("yahoo", "imap.mail.yahoo.com", "smtp.mail.yahoo.com")]


def test_an_encrypted_password_in_a_stack_file_counts_as_set_without_being_readable():
    cfg = model.load(stack_raw(seeds=[{"address": "me@gmail.com", "password": {"secure": "v1:AAAA"}}]))
    (seed,) = cfg.warmup_exchange.seeds
    assert seed.password is None and seed.password_is_set
    assert seed.password_config_path == "warmup.seeds[0].password"


def test_every_seed_problem_is_reported_at_once_with_its_path_and_fix():
    found = _issues(seeds=[
        {"address": "me@gmail.com"},
        {"address": "not-an-address", "password": "p-test", "provider": "other"},
        {"address": "me@gmail.com", "password": "p-test", "tls": False},
        {"address": "x@mail-example.net", "password": "p-test", "imapHost": "127.0.0.1", "smtpHost": "127.0.0.1",
         "tls": False, "spamFoldr": "Junk"},
    ], header="Warmup", replyShare=1.5, sendFromHour=18, sendUntilHour=8)
    assert found["coldmail:warmup.seeds[0].password"].fix == (
        "pulumi config set --secret --path 'coldmail:warmup.seeds[0].password' <the seed's app password>")
    assert found["coldmail:warmup.seeds[1].address"].message == "'not-an-address' is not an email address"
    assert found["coldmail:warmup.seeds[1].imapHost"].message == "is required"
    assert found["coldmail:warmup.seeds[1].smtpHost"].message == "is required"
    assert "duplicate seed 'me@gmail.com' (also seeds[0])" in found["coldmail:warmup.seeds[2].address"].message
    assert found["coldmail:warmup.seeds[2].tls"].message == (
        "plain IMAP/SMTP would send the app password of me@gmail.com in clear to imap.gmail.com and smtp.gmail.com")
    assert found["coldmail:warmup.seeds[3].spamFoldr"].fix == "remove it; did you mean `spamFolder`?"
    assert found["coldmail:warmup.header"].message == "'Warmup' is not a private header name"
    assert found["coldmail:warmup.replyShare"].message == "must be between 0.0 and 1.0, got 1.5"
    assert found["coldmail:warmup.sendUntilHour"].message == "8 is not after sendFromHour 18"


def test_an_unknown_warmup_key_is_reported_once():
    issues = [i for i in model.validate(stack_raw(replyShar=0.3)) if i.path == "coldmail:warmup.replyShar"]
    assert len(issues) == 1 and issues[0].fix == "remove it; did you mean `replyShare`?"


def test_without_exchange_keys_the_defaults_apply():
    ex = model.load(stack_raw()).warmup_exchange
    assert (ex.header, ex.reply_share, ex.send_from_hour, ex.send_until_hour, ex.seeds) == (
        "X-Coldmail-Warmup", 0.3, 8, 18, ())
