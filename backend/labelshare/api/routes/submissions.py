from __future__ import annotations

from fastapi import APIRouter

from labelshare.api.deps import ChainDep, CurrentAnnotator, SessionsDep, SettingsDep
from labelshare.api.schemas import SubmissionOut
from labelshare.db.models import Submission, Task
from labelshare.submissions import SubmissionIn, submit

router = APIRouter(prefix="/submissions", tags=["submissions"])


def submission_out(s: Submission, task_key: str) -> SubmissionOut:
    return SubmissionOut(id=s.id, project_id=s.project_id, task_id=task_key, status=s.status, reason=s.reason,
                         reward=str(s.reward), quality_factor_bps=s.quality_factor_bps, epoch_id=s.epoch_id, label_hash=s.label_hash, created_at=s.created_at)


@router.post("", response_model=SubmissionOut, status_code=201)
def create(body: SubmissionIn, annotator: CurrentAnnotator, sessions: SessionsDep, chain: ChainDep,
           settings: SettingsDep) -> SubmissionOut:
    """Submits a label with the annotator's EIP-712 signature. Rejected submissions store nothing."""
    # One transaction, committed on this thread before the response is built (see SessionsDep).
    with sessions.begin() as session:
        record = submit(session, chain, settings, annotator, body)
        task = session.get(Task, record.task_id)  # in the session already: no query
        assert task is not None
        task_key = task.task_key
    return submission_out(record, task_key)
