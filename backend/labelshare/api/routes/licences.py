"""Dataset versions, licences and revenue (``DatasetLicences``). Everything is read from the
chain; buying and claiming are transactions the buyer's and the annotator's own wallets send."""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Path

from labelshare.api.deps import CurrentAnnotator, CurrentRequester, LicenceBookDep, SessionsDep
from labelshare.api.schemas import (
    AnnotatorRevenueOut, LicenceOut, ProjectRevenueOut, ShareProofOut, VersionOut,
)
from labelshare.errors import InvalidInput, NotFound
from labelshare.projects import get_project
from labelshare.wire import ADDRESS, documented_pattern

router = APIRouter(tags=["licences"])

_AMOUNTS = ("total_shares", "price", "fee", "requester_amount", "contributors_amount", "revenue_per_share",
            "contributed", "claimed", "claimable", "dust", "shares")


def _str_amounts(record: dict[str, Any]) -> dict[str, Any]:
    """uint256 amounts as decimal strings, recursively."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, list):
            out[key] = [_str_amounts(v) if isinstance(v, dict) else v for v in value]
        elif key in _AMOUNTS and isinstance(value, int):
            out[key] = str(value)
        else:
            out[key] = value
    return out


@router.post("/projects/{project_id}/versions", response_model=VersionOut, status_code=201)
def publish_version(project_id: int, requester: CurrentRequester, sessions: SessionsDep,
                    book: LicenceBookDep) -> VersionOut:
    """Publishes the project's next dataset version: every settled epoch with its work, and each
    contributor's shares (their settled rewards in the project) as a Merkle root. Owner only;
    409 when nothing has settled since the last version."""
    with sessions() as session:  # no transaction held while the chain works
        get_project(session, project_id, owner=requester)
    return VersionOut(**_str_amounts(book.publish_version(project_id)))


@router.get("/projects/{project_id}/versions", response_model=list[VersionOut])
def list_versions(project_id: int, sessions: SessionsDep, book: LicenceBookDep) -> list[VersionOut]:
    """The project's published dataset versions, oldest first."""
    with sessions() as session:
        get_project(session, project_id)
    return [VersionOut(**_str_amounts(v)) for v in book.versions(project_id)]


@router.get("/projects/{project_id}/revenue", response_model=ProjectRevenueOut)
def project_revenue(project_id: int, sessions: SessionsDep, book: LicenceBookDep) -> ProjectRevenueOut:
    """Terms, prices, versions, every sale and, per version and currency, what contributors were
    paid in, have claimed and can still claim. Public: anyone can check the split."""
    with sessions() as session:
        get_project(session, project_id)
    return ProjectRevenueOut(**_str_amounts(book.project_revenue(project_id)))


@router.get("/versions/{version_id}/shares/{address}", response_model=ShareProofOut)
def share_proof(version_id: int, address: Annotated[str, Path(json_schema_extra=documented_pattern(ADDRESS))],
                book: LicenceBookDep) -> ShareProofOut:
    """A contributor's shares in a version and the Merkle proof ``DatasetLicences.claim`` takes."""
    if not is_address(address):
        raise InvalidInput("address must be a 20-byte hex address", field="address")
    shares = book.shares(version_id)
    proof = shares.proof(address)
    if proof is None:
        raise NotFound(f"{to_checksum_address(address)} holds no shares in version {version_id}", field="address")
    return ShareProofOut(version_id=version_id, annotator=to_checksum_address(address),
                         shares=str(shares.shares[to_checksum_address(address)]), total_shares=str(shares.total),
                         proof=proof)


@router.get("/me/revenue", response_model=list[AnnotatorRevenueOut])
def my_revenue(annotator: CurrentAnnotator, book: LicenceBookDep) -> list[AnnotatorRevenueOut]:
    """The signed-in wallet's shares in every dataset version with sales, per currency: claimed,
    claimable, and the proof to claim with."""
    return [AnnotatorRevenueOut(**_str_amounts(r)) for r in book.annotator_revenue(annotator)]


@router.get("/me/licences", response_model=list[LicenceOut])
def my_licences(buyer: CurrentAnnotator, book: LicenceBookDep) -> list[LicenceOut]:
    """Licences the signed-in wallet bought."""
    return [LicenceOut(**_str_amounts(s)) for s in book.licences_of(buyer)]
