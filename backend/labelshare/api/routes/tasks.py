from __future__ import annotations

from fastapi import APIRouter, Response

from labelshare.api.deps import ChainDep, CurrentAnnotator, SessionDep
from labelshare.api.schemas import TaskOffer
from labelshare.domains import GENERAL, domain_id
from labelshare.errors import NotOffered
from labelshare.projects import get_project
from labelshare.quality import check_can_work
from labelshare.signatures import SUBMISSION_TYPES
from labelshare.tasks import offer_next_task

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("/next", response_model=TaskOffer, responses={204: {"description": "no task left for you"}})
def next_task(project_id: int, annotator: CurrentAnnotator, session: SessionDep, chain: ChainDep) -> TaskOffer | Response:
    """Offers the signed-in annotator a task of the project: never one they have seen, only while
    the task needs more labels, and on specialist projects only with an on-chain qualification."""
    project = get_project(session, project_id)
    if not project.open:
        raise NotOffered(f"project {project_id} is closed", field="project_id")
    if project.domain != GENERAL and not chain.ledger.functions.isQualified(annotator, domain_id(project.domain)).call():
        raise NotOffered(f"project {project_id} needs a {project.domain} qualification", field="project_id")
    check_can_work(session, annotator, project.domain)
    task = offer_next_task(session, project, annotator)
    if task is None:
        return Response(status_code=204)
    return TaskOffer(project_id=project.id, task_id=task.task_key, data=task.data, label_schema=project.label_schema,
                     instructions=project.instructions, eip712_domain=chain.domain.as_dict(),
                     eip712_types=SUBMISSION_TYPES)
