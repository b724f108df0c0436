"""The reward policy: base x domain multiplier x Shah–Zhou quality factor, including the README's
worked example."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from labelshare.rewards import DOMAIN_MULTIPLIER_BPS, RewardPolicy, quality_factor_bps, reward

LSR = 10**18


def test_readmeWorkedExample_medicineWithQuarterFloor():
    policy = RewardPolicy.for_domain("medicine", gold_window=3, floor_bps=2_500)
    assert reward(LSR, policy, quality_factor_bps(policy, "111")) == 3 * LSR
    assert reward(LSR, policy, quality_factor_bps(policy, "110")) == 3 * LSR // 4
    assert reward(LSR, policy, quality_factor_bps(policy, "1101")) == 3 * LSR // 4  # the miss is in the window
    assert reward(LSR, policy, quality_factor_bps(policy, "0111")) == 3 * LSR  # pushed out of it


@pytest.mark.parametrize(("recent", "factor"), [("", 10_000), ("1", 10_000), ("0", 0), ("01", 0), ("0111", 10_000)])
def test_qualityFactor_doubleOrNothingOverWindow(recent, factor):
    assert quality_factor_bps(RewardPolicy(gold_window=3), recent) == factor


def test_qualityFactor_zeroWindow_alwaysFull():
    assert quality_factor_bps(RewardPolicy(gold_window=0), "000") == 10_000


def test_domainMultipliers_specialistsAboveGeneral_withinLedgerBound():
    assert DOMAIN_MULTIPLIER_BPS["general"] == 10_000
    assert all(10_000 < bps <= 50_000 for d, bps in DOMAIN_MULTIPLIER_BPS.items() if d != "general")


def test_reward_roundsDown_neverAboveBase():
    policy = RewardPolicy.for_domain("general", floor_bps=3_333)
    assert reward(7, policy, quality_factor_bps(policy, "0")) == 2  # 7 x 0.3333 = 2.33


@pytest.mark.parametrize("bad", [{"gold_window": -1}, {"floor_bps": 10_001}, {"domain_multiplier_bps": 9_999},
                                 {"unknown": 1}])
def test_policy_rejectsOutOfRange(bad):
    with pytest.raises(ValidationError):
        RewardPolicy(**bad)
