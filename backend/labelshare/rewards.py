"""The reward policy: what one accepted label pays.

    reward = base reward of the project
             x domain multiplier              (specialists are paid as specialists)
             x quality factor                 (Shah & Zhou's "double or nothing" on gold)

The quality factor is the multiplicative mechanism of Shah & Zhou, "Double or Nothing:
Multiplicative Incentive Mechanisms for Crowdsourcing" (NeurIPS 2015), over the annotator's last
``gold_window`` gold answers in the project's domain: every correct gold answer doubles the pay,
one wrong answer drops it to the floor. Normalised so a clean record earns exactly the base:

    factor = floor + (1 - floor) x [all of the last G gold answers are correct]

This is their mechanism with T = 1/2 and no skip option (LabelShare has no "skip" answer yet);
with skips they prove it the only incentive-compatible mechanism under "no free lunch" (all
gold wrong earns the minimum). A guesser on binary tasks keeps the full rate with probability
2^-G. With fewer than G gold answers so far, the ones there are count.

The multipliers are integers in basis points so that rewards stay exact integers; the ledger
bounds each payout by ``annotations x rewardPerLabel x maxRewardMultiplierBps``, which the
largest domain multiplier stays within.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from labelshare.domains import GENERAL, SPECIALIST_DOMAINS

__all__ = ["BPS", "DOMAIN_MULTIPLIER_BPS", "RewardPolicy", "quality_factor_bps", "reward"]

BPS = 10_000

# Specialist work pays a multiple of general work (in basis points of the project's base reward).
DOMAIN_MULTIPLIER_BPS: dict[str, int] = {
    GENERAL: 10_000, "medicine": 30_000, "law": 30_000, "finance": 25_000, "science": 20_000, "security": 25_000,
}
assert set(DOMAIN_MULTIPLIER_BPS) == {GENERAL, *SPECIALIST_DOMAINS}


class RewardPolicy(BaseModel):
    """A project's reward policy; part of its spec, so ``spec_hash`` on-chain commits to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gold_window: int = Field(default=3, ge=0, le=16, description="G: the last G gold answers set the quality factor")
    floor_bps: int = Field(default=0, ge=0, le=BPS, description="what a label pays after a wrong gold answer")
    domain_multiplier_bps: int = Field(default=BPS, ge=BPS, le=50_000,
                                       description="set from the project's domain, not by the requester")

    @classmethod
    def for_domain(cls, domain: str, gold_window: int = 3, floor_bps: int = 0) -> RewardPolicy:
        return cls(gold_window=gold_window, floor_bps=floor_bps, domain_multiplier_bps=DOMAIN_MULTIPLIER_BPS[domain])


def quality_factor_bps(policy: RewardPolicy, recent_gold: str) -> int:
    """Shah & Zhou's factor from ``recent_gold`` ("1" correct / "0" wrong, oldest first)."""
    window = recent_gold[-policy.gold_window:] if policy.gold_window else ""
    return BPS if "0" not in window else policy.floor_bps


def reward(base: int, policy: RewardPolicy, factor_bps: int) -> int:
    """One accepted label's reward, in the token's smallest unit (rounded down)."""
    return base * policy.domain_multiplier_bps * factor_bps // (BPS * BPS)
