"""``ape run settle_example``: register a project and settle one example epoch on a local chain.

Shows the whole settlement path against the deployed contracts: a requester registers a
project, three annotators' accepted annotations are planned into a Merkle tree and payouts, the
verifier settles the epoch (minting the rewards in the same transaction), and one annotation's
inclusion proof is checked on-chain. Uses anvil's published development accounts: local only.
"""

from __future__ import annotations

import click
from ape import Contract, accounts, chain
from ape.cli import ConnectedProviderCommand
from eth_utils import keccak

from labelshare.admin.deploy import TOKEN_UNIT, find_live_deployment
from labelshare.deployment import manifest_path
from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import plan_epoch
from labelshare.leaves import AcceptedAnnotation


def _fmt(amount: int) -> str:
    return f"{amount / TOKEN_UNIT:,.2f}"


@click.command(cls=ConnectedProviderCommand)
def cli(ecosystem, network):
    """Settle an example epoch and print what landed on-chain."""
    if not network.is_local:
        raise click.UsageError("settle_example uses development accounts: run it on a local network")
    deployment = find_live_deployment(chain.provider.web3, manifest_path(ecosystem.name, network.name))
    if deployment is None:
        raise click.ClickException("no live deployment on this chain: run `ape run deploy` first")
    ledger = Contract(deployment.address("ledger"), abi=deployment.abi("ledger"))
    token = Contract(deployment.address("token"), abi=deployment.abi("token"))
    dev = accounts.test_accounts
    verifier, requester, annotators = dev[1], dev[3], [dev[5], dev[6], dev[7]]

    reward = 2 * TOKEN_UNIT
    spec_hash = keccak(text='{"schema":"classification","labels":["cat","dog"]}')
    receipt = ledger.createProject(requester.address, spec_hash, domain_id(GENERAL), reward, 3, sender=requester)
    project_id = receipt.decode_logs(ledger.ProjectCreated)[0].projectId
    click.echo(f"Project {project_id} registered (tx {receipt.txn_hash})")

    # Three tasks, each labelled by all three annotators; the last annotator's label on task 2 was
    # rejected by aggregation, so it is not in the epoch.
    annotations = [
        AcceptedAnnotation(a.address, project_id, keccak(text=f"task-{t}"), keccak(text=f"label-{t}"), reward)
        for t in range(3)
        for a in annotators
        if not (t == 2 and a == annotators[2])
    ]
    epoch_id = ledger.nextEpochId()
    plan = plan_epoch(epoch_id, annotations)
    supply_before = token.totalSupply()
    for index, chunk in enumerate(plan.chunks):
        receipt = ledger.settle(epoch_id, plan.header, index, [p.as_tuple() for p in chunk], sender=verifier)
        click.echo(f"Epoch {epoch_id} chunk {index + 1}/{len(plan.chunks)} settled (tx {receipt.txn_hash}, "
                   f"gas {receipt.gas_used:,})")

    record = ledger.epoch(epoch_id)
    click.echo(f"Epoch {epoch_id}: root 0x{plan.root.hex()}, {record.settledAnnotations} annotations, "
               f"{_fmt(record.minted)} LSR minted; settled on-chain: {ledger.isEpochSettled(epoch_id)}")
    for a in annotators:
        click.echo(f"  {a.address}  balance {_fmt(token.balanceOf(a.address))} LSR")
    proven = ledger.verifyAnnotation(epoch_id, plan.annotations[0].as_tuple(), plan.proof(0))
    click.echo(f"Inclusion proof of annotation 0 verified on-chain: {proven}")
    minted = token.totalSupply() - supply_before
    if not proven or minted != plan.total_reward:
        raise click.ClickException(f"example epoch failed: minted {minted}, planned {plan.total_reward}")
