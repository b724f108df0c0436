from __future__ import annotations

from fastapi import APIRouter, Response

from labelshare.api.deps import ChainDep, CurrentAnnotator, SessionDep, SettingsDep
from labelshare.api.schemas import TaskOffer
from labelshare.domains import GENERAL, domain_id
from labelshare.errors import NotOffered
from labelshare.projects import get_project
from labelshare.quality import check_can_work
from labelshare.signatures import SUBMISSION_TYPES
from labelshare.tasks import offer_next_task, release_offer

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("/next", response_model=TaskOffer, responses={204: {"description": "no task left for you"}})
def next_task(project_id: int, annotator: CurrentAnnotator, session: SessionDep, chain: ChainDep,
              settings: SettingsDep) -> TaskOffer | Response:
    """Offers the signed-in annotator a task of the project: never one they have seen, only while
    the task needs more labels, and on specialist projects only with an on-chain qualification.

    The offer holds a slot until ``expires_at`` (submit before it, or release it). A wallet holds
    at most ``LABELSHARE_MAX_OPEN_OFFERS_PER_PROJECT`` open offers in a project (asking again at
    that cap answers its oldest open offer again) and ``LABELSHARE_MAX_OPEN_OFFERS`` in all
    (asking for another is refused with 409)."""
    project = get_project(session, project_id)
    if not project.open:
        raise NotOffered(f"project {project_id} is closed", field="project_id")
    if project.domain != GENERAL and not chain.ledger.functions.isQualified(annotator, domain_id(project.domain)).call():
        raise NotOffered(f"project {project_id} needs a {project.domain} qualification", field="project_id")
    check_can_work(session, annotator, project.domain)
    offered = offer_next_task(session, project, annotator, settings)
    if offered is None:
        return Response(status_code=204)
    task, offer = offered
    return TaskOffer(project_id=project.id, task_id=task.task_key, data=task.data, label_schema=project.label_schema,
                     instructions=project.instructions, eip712_domain=chain.domain.as_dict(),
                     eip712_types=SUBMISSION_TYPES, expires_at=offer.expires_at)


@router.delete("/{task_id}/offer", status_code=204, response_class=Response)
def release(task_id: str, annotator: CurrentAnnotator, session: SessionDep) -> Response:
    """Releases the signed-in annotator's open offer of a task (a skip): its slot is free for
    others at once, and the task is not offered to this wallet again. 404 if they were never
    offered it; 409 if it was submitted, or its offer already expired or was released."""
    release_offer(session, task_id, annotator)
    return Response(status_code=204)
