"""The simulation through the real API and anvil: a population with 30% spammers (random
clickers, always-same-label, a copying ring) and honest experts and generalists. Spammers must
earn under 5% of the tokens, and experts more per accepted label than generalists."""

from __future__ import annotations

import pytest
from eth_account import Account

from labelshare.chain import Chain
from labelshare.simulation import SimulationConfig, run_simulation, write_report

_ADMIN = Account.create()
CONFIG = SimulationConfig(annotators=30, spammer_share=0.3, general_tasks=150, medicine_tasks=45, gold_tasks=40)


@pytest.mark.settings(admins=_ADMIN.address, settlement_enabled=True, epoch_max_annotations=400)
def test_simulation_spammersEarnUnderFivePercent_expertsOutearnGeneralists(api, settings, requester_account, tmp_path,
                                                                          database_url):
    if database_url.startswith("postgresql"):
        pytest.skip("the simulation runs once, on SQLite: the PostgreSQL path is covered by the other backend tests")
    token = Chain(settings).token
    supply_before = token.functions.totalSupply().call()
    report = run_simulation(api.url, requester_account, _ADMIN, token, CONFIG, siwe_domain=settings.siwe_domain,
                            log=lambda *_: None)
    paths = write_report(report, tmp_path)

    kinds = [a.kind for a in report.annotators]
    assert sum(k in ("random", "constant", "copier") for k in kinds) == round(CONFIG.annotators * 0.3)
    # Earnings are the token contract's balances, and match the API's accounting.
    assert sum(a.earned for a in report.annotators) == token.functions.totalSupply().call() - supply_before
    assert report.spammer_token_share() < 0.05, report.summary
    assert report.mean_per_accepted("expert") > report.mean_per_accepted("generalist") > 0, report.summary
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "spammers' share of all tokens" in paths["md"].read_text()


# Two annotators, overlap 3: no task ever completes. Plenty of gold, drawn half the time: both
# answer a full window of it, so the quality factor is no reason to hold their labels.
UNFILLED = SimulationConfig(annotators=2, spammer_share=0.0, general_tasks=12, medicine_tasks=1, gold_tasks=20,
                            qualification_items=10, overlap=3, gold_rate=0.5)


@pytest.mark.settings(admins=_ADMIN.address, settlement_enabled=True)
def test_simulation_labelsThatCannotBeDecided_endsAndReportsThemHeld(api, settings, requester_account, tmp_path,
                                                                     database_url):
    """Issue 16.10. The simulation waited for every pending label of an annotator with a full
    gold window, even on tasks that can never complete (labelling is over): it timed out."""
    if database_url.startswith("postgresql"):
        pytest.skip("the simulation runs on SQLite: the PostgreSQL path is covered by the other backend tests")
    token = Chain(settings).token
    supply_before = token.functions.totalSupply().call()
    report = run_simulation(api.url, requester_account, _ADMIN, token, UNFILLED, siwe_domain=settings.siwe_domain,
                            settle_timeout=60.0, log=lambda *_: None)

    # Each annotator labels every task once, the medicine one if qualified.
    normal = UNFILLED.general_tasks * 2 + UNFILLED.medicine_tasks * sum(a.qualified for a in report.annotators)
    assert sum(a.held for a in report.annotators) == normal, report.annotators
    # Their gold answers were decided, and what they earned is on-chain: the wait ended after settlement.
    assert sum(a.accepted for a in report.annotators) > 0
    assert sum(a.earned for a in report.annotators) == token.functions.totalSupply().call() - supply_before > 0
    assert f"labels held, never decided: {normal} " in write_report(report, tmp_path)["md"].read_text()
