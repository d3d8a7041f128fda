"""Every server's agent counts a seed's sends in a store of its own: the seed's daily cap is divided between them."""

from __future__ import annotations

import copy

import pytest

from coldmail import model
from coldmail.warmup.inputs import seed_accounts, seed_share, warmup_servers

from .conftest import KEY, stack_raw

SEED = {"address": "seed@gmail.com", "password": "seed-app-password-test", "maxPerDay": 20}


def three_servers(**warmup):
    """mx1 (alpha, beta), mx2 (gamma) and mx3 (delta), each with mailboxes; mx4 with none."""
    raw = stack_raw(seeds=[dict(SEED, **warmup)])
    for name in ("mx3", "mx4"):
        raw["servers"].append({"name": name, "hostname": f"{name}.ops-example.com", "serverType": "cx32",
                               "floatingIps": 1, "sshPublicKey": KEY, "adminCidrs": ["203.0.113.0/28"]})
    raw["domains"].append({"name": "delta-example.com", "server": "mx3", "ip": 1,
                           "mailboxes": [{"localPart": "ida", "name": "Ida Roth"}]})
    return raw


def test_only_servers_with_deployed_mailboxes_send_warmup_in_config_order():
    assert warmup_servers(model.load(three_servers())) == ["mx1", "mx2", "mx3"]
    raw = three_servers()
    raw["rollout"] = {"batchSize": 1, "stage": 2}  # alpha and beta deployed: mx1 only
    assert warmup_servers(model.load(raw)) == ["mx1"]


@pytest.mark.parametrize("cap, shares", [
    (20, {"mx1": 7, "mx2": 7, "mx3": 6, "mx4": 0}),
    (21, {"mx1": 7, "mx2": 7, "mx3": 7, "mx4": 0}),
    (2, {"mx1": 1, "mx2": 1, "mx3": 0, "mx4": 0}),
    (1, {"mx1": 1, "mx2": 0, "mx3": 0, "mx4": 0}),
])
def test_a_seeds_cap_is_split_between_the_sending_servers_and_adds_up_to_the_cap(cap, shares):
    settings = model.load(three_servers(maxPerDay=cap))
    assert {s: seed_share(settings, cap, s) for s in ("mx1", "mx2", "mx3", "mx4")} == shares


def test_one_server_keeps_the_whole_cap():
    raw = copy.deepcopy(stack_raw(seeds=[SEED]))
    raw["domains"] = [d for d in raw["domains"] if d["server"] == "mx1"]
    assert seed_share(model.load(raw), 20, "mx1") == 20


def test_seed_accounts_carry_the_servers_share_and_the_whole_cap_without_a_server():
    settings = model.load(three_servers())
    assert [a.max_per_day for a in seed_accounts(settings, {})] == [20]
    assert [a.max_per_day for a in seed_accounts(settings, {}, "mx3")] == [6]
    assert [a.max_per_day for a in seed_accounts(settings, {}, "mx4")] == [0]
