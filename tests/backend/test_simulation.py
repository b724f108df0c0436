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
