"""``ape run audit``: rebuild every reward from the ledger's events and the published manifests,
check them against minted amounts and total supply, verify sampled proofs on-chain; exits 1 on
any mismatch. Same checks as ``labelshare audit`` (labelshare.audit)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from ape import chain
from ape.cli import ConnectedProviderCommand

from labelshare.admin.deploy import find_live_deployment
from labelshare.audit import run_audit
from labelshare.cli.service import _manifest_source, print_report
from labelshare.config import get_settings
from labelshare.deployment import manifest_path


@click.command(cls=ConnectedProviderCommand)
@click.option("--manifests", type=click.Path(path_type=Path), default=None, help="Folder of epoch manifests.")
@click.option("--api", default=None, help="Read manifests from this LabelShare API instead.")
@click.option("--sample", default=20, show_default=True, help="Proofs to verify on-chain per epoch.")
def cli(ecosystem, network, manifests, api, sample):
    """Audit every settled epoch against the chain."""
    deployment = find_live_deployment(chain.provider.web3, manifest_path(ecosystem.name, network.name))
    if deployment is None:
        raise click.ClickException("no live deployment on this chain")
    w3 = chain.provider.web3
    ledger = w3.eth.contract(address=deployment.address("ledger"), abi=deployment.abi("ledger"))
    token = w3.eth.contract(address=deployment.address("token"), abi=deployment.abi("token"))
    licences = (w3.eth.contract(address=deployment.address("licences"), abi=deployment.abi("licences"))
                if "licences" in deployment.contracts else None)
    if manifests is None and api is None:
        manifests = get_settings().manifests_dir  # this stack's (LABELSHARE_RUN_DIR), as the API writes them
    report = run_audit(w3, ledger, token, deployment.block_number, _manifest_source(manifests, api), sample=sample,
                       licences=licences)
    print_report(report)
    sys.exit(0 if report.ok else 1)
