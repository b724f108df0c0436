"""Contract-test helpers: factory fixtures named as verbs."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import plan_epoch
from labelshare.leaves import AcceptedAnnotation

REWARD = 10**18  # base reward per accepted label in the tests' projects


@pytest.fixture
def create_project(ledger, requester):
    """Registers a project and returns its id."""

    def create(domain: str = GENERAL, reward: int = REWARD, overlap: int = 3, owner=None) -> int:
        owner = owner or requester
        receipt = ledger.createProject(
            owner.address, keccak(text=f"spec-{domain}-{reward}"), domain_id(domain), reward, overlap,
            sender=requester,
        )
        return receipt.decode_logs(ledger.ProjectCreated)[0].projectId

    return create


@pytest.fixture
def make_annotations():
    """Accepted annotations: `per_annotator` tasks for each annotator on one project."""

    def make(project_id: int, annotators, per_annotator: int = 2, reward: int = REWARD):
        return [
            AcceptedAnnotation(a.address, project_id, keccak(text=f"{project_id}-{a.address}-{t}"),
                               keccak(text=f"label-{t}"), reward)
            for a in annotators
            for t in range(per_annotator)
        ]

    return make


@pytest.fixture
def settle_epoch(ledger, verifier):
    """Plans and settles every chunk of the next epoch; returns the plan."""

    def settle(annotations, payouts_per_chunk: int = 400):
        plan = plan_epoch(ledger.nextEpochId(), annotations, payouts_per_chunk)
        for index, chunk in enumerate(plan.chunks):
            ledger.settle(plan.epoch_id, plan.header, index, [p.as_tuple() for p in chunk], sender=verifier)
        return plan

    return settle
