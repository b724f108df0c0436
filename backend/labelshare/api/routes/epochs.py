from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from labelshare.api.deps import Before, Limit, ManifestsDep, SessionsDep, SettledViewDep
from labelshare.api.schemas import EpochOut, InclusionProofOut
from labelshare.db.models import MAX_ID, Epoch
from labelshare.errors import NotFound
from labelshare.settled import SETTLED, OnChain, SettledView

router = APIRouter(prefix="/epochs", tags=["epochs"])


def epoch_out(e: Epoch, onchain: OnChain) -> EpochOut:
    return EpochOut(id=e.id, status=onchain.status, reason=onchain.reason, root=e.root,
                    annotation_count=e.annotation_count, total_reward=str(e.total_reward), chunk_count=e.chunk_count,
                    manifest_sha256=e.manifest_sha256, tx_hashes=[c.tx_hash for c in e.chunks if c.tx_hash],
                    closed_at=e.closed_at, settled_at=e.settled_at if onchain.status == SETTLED else None)


def epochs_out(epochs: list[Epoch], view: SettledView) -> list[EpochOut]:
    onchain = view.statuses({e.id: e.status for e in epochs})  # the ones recorded as settled, in one read
    return [epoch_out(e, onchain[e.id]) for e in epochs]


@router.get("", response_model=list[EpochOut])
def list_epochs(sessions: SessionsDep, view: SettledViewDep, limit: Limit = 100,
                before: Before = None) -> list[EpochOut]:
    """Epochs, newest first: ``limit`` of them, older than epoch ``before`` when given. An epoch is
    ``settled`` only when the ledger holds it so at the configured confirmations."""
    query = select(Epoch).options(selectinload(Epoch.chunks))  # chunks in one query, not one per epoch
    if before is not None:
        query = query.where(Epoch.id < before)
    with sessions() as session:  # closed before the chain is asked
        epochs = list(session.scalars(query.order_by(Epoch.id.desc()).limit(limit)))
    return epochs_out(epochs, view)


@router.get("/{epoch_id}", response_model=EpochOut)
def read(epoch_id: int, sessions: SessionsDep, view: SettledViewDep) -> EpochOut:
    with sessions() as session:
        epoch = session.get(Epoch, epoch_id, options=[selectinload(Epoch.chunks)]) if 1 <= epoch_id <= MAX_ID else None
    if epoch is None:
        raise NotFound(f"epoch {epoch_id} does not exist", field="epoch_id")
    return epochs_out([epoch], view)[0]


@router.get("/{epoch_id}/manifest")
def manifest(epoch_id: int, manifests: ManifestsDep) -> dict[str, Any]:
    """Every accepted annotation of the epoch with its Merkle leaf and inclusion proof."""
    return manifests.read(epoch_id)


@router.get("/{epoch_id}/proof/{submission_id}", response_model=InclusionProofOut)
def proof(epoch_id: int, submission_id: int, manifests: ManifestsDep) -> InclusionProofOut:
    """One annotation's leaf and inclusion proof against the epoch's on-chain root, so a client
    can check it (``LabelLedger.verifyAnnotation``) without downloading the whole manifest."""
    manifest = manifests.read(epoch_id)
    for leaf in manifest["leaves"]:
        if leaf["submission_id"] == submission_id:
            return InclusionProofOut(epoch_id=epoch_id, root=manifest["root"], **leaf)
    raise NotFound(f"submission {submission_id} is not in epoch {epoch_id}", field="submission_id")
