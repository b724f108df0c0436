from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from eth_utils import is_address, to_checksum_address
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labelshare.api.deps import (
    ChainDep, CurrentAnnotator, CurrentRequester, LicenceBookDep, SessionDep, SessionsDep, SettingsDep,
)
from labelshare.api.schemas import ImportOut, ProjectOut, ProjectQualityOut, TaskOut
from labelshare.db.models import Project
from labelshare.errors import Forbidden, InvalidInput, NotFound
from labelshare.projects import (
    ProjectCreate, create_project, export_labels, get_project, list_tasks, project_quality, project_stats,
    set_project_open,
)
from labelshare.tasks import import_tasks, parse_rows
from labelshare.wire import ADDRESS, MAX_SAFE_INTEGER, documented_pattern

router = APIRouter(prefix="/projects", tags=["projects"])


def project_out(p: Project) -> ProjectOut:
    return ProjectOut(id=p.id, owner=p.owner, name=p.name, instructions=p.instructions, domain=p.domain,
                      label_schema=p.label_schema, spec_hash=p.spec_hash, reward_per_label=str(p.reward_per_label),
                      overlap=p.overlap, gold_rate=p.gold_rate, reward_policy=p.reward_policy,
                      open=p.open, registered_tx=p.registered_tx)


@router.post("", response_model=ProjectOut, status_code=201)
def create(body: ProjectCreate, requester: CurrentRequester, session: SessionDep, chain: ChainDep) -> ProjectOut:
    """Creates a project and registers it (owner, spec hash, domain, reward, overlap) on the ledger."""
    return project_out(create_project(session, chain, requester, body))


@router.get("", response_model=list[ProjectOut])
def list_projects(
    session: SessionDep,
    owner: Annotated[str | None, Query(description="only this requester's projects, open or closed",
                                       json_schema_extra=documented_pattern(ADDRESS))] = None,
) -> list[ProjectOut]:
    """Open projects, or every project of one owner."""
    query = select(Project).order_by(Project.id)
    if owner is None:
        query = query.where(Project.open.is_(True))
    else:
        if not is_address(owner):
            raise InvalidInput("owner must be a 20-byte hex address", field="owner")
        query = query.where(Project.owner == to_checksum_address(owner))
    return [project_out(p) for p in session.scalars(query)]


@router.get("/{project_id}", response_model=ProjectOut)
def read(project_id: int, session: SessionDep) -> ProjectOut:
    return project_out(get_project(session, project_id))


@router.post("/{project_id}/tasks", response_model=ImportOut, status_code=201)
async def upload_tasks(
    project_id: int, request: Request, requester: CurrentRequester, settings: SettingsDep,
    format: Annotated[Literal["json", "jsonl", "csv"], Query(description="file format")] = "jsonl",
    gold: Annotated[bool, Query(description="gold tasks: each row carries its answer in 'gold'")] = False,
) -> ImportOut:
    """Imports tasks (or gold tasks) from the request body. All-or-nothing: on any invalid row
    nothing is stored and the response lists every bad row with its field."""
    content = await request.body()  # at most LABELSHARE_MAX_IMPORT_BYTES: see BodyLimitMiddleware
    if not content:
        raise InvalidInput("the request body is empty: send the file as the body", field="file")

    def store() -> ImportOut:
        # On a worker thread, never on the event loop: this transaction may wait for SQLite's
        # write lock, whose holder can be a request whose commit is itself waiting for the event
        # loop (a deadlock until both busy timeouts, 60 s, ran out: found by benchmarks.soak).
        rows = parse_rows(content, format)
        with request.app.state.sessions.begin() as session:
            project = get_project(session, project_id, owner=requester)
            report = import_tasks(session, project, rows, gold, settings.max_payload_bytes)
        return ImportOut(created=report.created, gold=report.gold)

    return await run_in_threadpool(store)


@router.post("/{project_id}/close", response_model=ProjectOut)
def close(project_id: int, requester: CurrentRequester, session: SessionDep, chain: ChainDep) -> ProjectOut:
    """Stops the project taking work, on the ledger and here. Accepted work is still paid."""
    return project_out(set_project_open(session, chain, get_project(session, project_id, owner=requester), False))


@router.post("/{project_id}/open", response_model=ProjectOut)
def reopen(project_id: int, requester: CurrentRequester, session: SessionDep, chain: ChainDep) -> ProjectOut:
    """Lets a closed project take work again."""
    return project_out(set_project_open(session, chain, get_project(session, project_id, owner=requester), True))


@router.get("/{project_id}/stats")
def stats(project_id: int, session: SessionDep) -> dict[str, object]:
    """Progress and quality summary."""
    return project_stats(session, get_project(session, project_id))


@router.get("/{project_id}/quality", response_model=ProjectQualityOut)
def quality(project_id: int, requester: CurrentRequester, session: SessionDep) -> ProjectQualityOut:
    """Quality summary for the project's owner: confidence of the verified labels and each
    annotator's record on the project."""
    return ProjectQualityOut(**project_quality(session, get_project(session, project_id, owner=requester)))


@router.get("/{project_id}/tasks", response_model=list[TaskOut])
def tasks(
    project_id: int, requester: CurrentRequester, session: SessionDep,
    status: Annotated[Literal["open", "complete", "verified", "gold"] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TaskOut]:
    """The project's tasks with their progress, for its owner (gold tasks are never shown to
    annotators)."""
    project = get_project(session, project_id, owner=requester)
    return [TaskOut(**t) for t in list_tasks(session, project, status, offset, limit)]


@router.get("/{project_id}/export")
def export(project_id: int, caller: CurrentAnnotator, sessions: SessionsDep, book: LicenceBookDep,
           format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
           version: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER,
                                                description="a dataset version: its labels only")] = None) -> Response:
    """Verified labels of completed tasks (JSONL or CSV). Without ``version``: every label, for
    the project's owner. With ``version``: the labels of that dataset version (tasks with work
    settled in its epochs, each with its on-chain annotations), for the owner or a wallet holding
    a licence to it on-chain."""
    with sessions() as session:
        project = get_project(session, project_id)
    epochs = None
    if version is not None:
        v = book.version(version)
        if v["project_id"] != project_id:
            raise NotFound(f"dataset version {version} is not a version of project {project_id}", field="version")
        epochs = (v["from_epoch"], v["to_epoch"])
    if caller != project.owner:
        if version is None:
            raise Forbidden("only the project's owner exports every label; buy a licence to a dataset version "
                            "and export it with ?version=", field="version")
        if not book.holds_licence(caller, version):
            raise Forbidden(f"{caller} holds no licence to dataset version {version}", field="version")
    with sessions() as session:
        content, media_type = export_labels(session, project, format, epochs)
    headers = {"X-LabelShare-Version": str(version)} if version is not None else {}
    return Response(content, media_type=media_type, headers=headers)
