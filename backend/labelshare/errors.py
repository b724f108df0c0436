"""LabelShare's exception tree. Each error carries the HTTP status the API answers with, a
message for the client and, where one input is at fault, the field's name; one FastAPI handler
renders them as ``{"error": code, "detail": message, "field": field}``. Only the API layer speaks
HTTP: the rest of the backend raises these.

    LabelShareError
    ├── InvalidInput (400)          ├── PayloadTooLarge (413)
    │   ├── InvalidSignature        ├── NotFound (404)
    │   ├── SchemaViolation         ├── Conflict (409)
    │   └── DeadlineExpired         │   └── NonceReused, AlreadySubmitted
    ├── Unauthenticated (401)       ├── Unavailable (503)
    ├── Forbidden (403)             │   └── ChainError
    │   └── SignerMismatch, WrongDomain, NotOffered, Suspended
    └── RateLimited (429)
"""

from __future__ import annotations

__all__ = [
    "AlreadySubmitted", "ChainError", "Conflict", "DeadlineExpired", "Forbidden", "InvalidInput",
    "InvalidSignature", "LabelShareError", "NonceReused", "NotFound", "NotOffered", "PayloadTooLarge",
    "RateLimited", "SchemaViolation", "SignerMismatch", "Suspended", "Unauthenticated", "Unavailable",
    "WrongDomain",
]


class LabelShareError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(LabelShareError, ValueError):
    """A request the API cannot act on: a malformed body, parameter or file."""

    status, code = 400, "invalid_input"


class InvalidSignature(InvalidInput):
    """A signature that is not hex, does not recover, or is not the EIP-4361 message's address."""

    code = "invalid_signature"


class SchemaViolation(InvalidInput):
    """A label that does not fit its project's label schema."""

    code = "schema_violation"


class DeadlineExpired(InvalidInput):
    """A signed submission whose deadline has passed."""

    code = "deadline_expired"


class PayloadTooLarge(LabelShareError, ValueError):
    """A body or label payload over its size limit."""

    status, code = 413, "payload_too_large"


class Unauthenticated(LabelShareError, PermissionError):
    """No session, or an expired or unknown bearer token: sign in again."""

    status, code = 401, "unauthenticated"


class Forbidden(LabelShareError, PermissionError):
    """Signed in, but not allowed: not a requester or not the owner; a sign-in nonce unknown, expired or already used."""

    status, code = 403, "forbidden"


class SignerMismatch(Forbidden):
    """A submission signed by another wallet than the session's."""

    code = "signer_mismatch"


class WrongDomain(Forbidden):
    """A signature for another EIP-712 domain (chain or ledger) or another sign-in domain."""

    code = "wrong_domain"  # EIP-712 domain of another chain or contract


class NotOffered(Forbidden):
    """A submission for a task the wallet was not offered, whose offer expired, or whose domain it
    is not qualified in."""

    code = "task_not_offered"


class Suspended(Forbidden):
    """A suspended annotator; the detail gives the reason."""

    code = "annotator_suspended"


class NotFound(LabelShareError, LookupError):
    """An unknown project, task, epoch, submission or version."""

    status, code = 404, "not_found"


class Conflict(LabelShareError):
    """The request collides with the stored state (a closed task, too many open offers, an offer already
    ended, nothing new to publish); the detail says which."""

    status, code = 409, "conflict"


class NonceReused(Conflict):
    """A submission nonce this wallet has already used."""

    code = "nonce_reused"


class AlreadySubmitted(Conflict):
    """A second label from the same wallet for the same task."""

    code = "already_submitted"


class RateLimited(LabelShareError):
    """Too many requests; `Retry-After` says when to try again."""

    status, code = 429, "rate_limited"


class Unavailable(LabelShareError):
    """A dependency of the service is down; try again later."""

    status, code = 503, "unavailable"


class ChainError(Unavailable):
    """The chain's RPC node failed or could not be reached."""

    code = "chain_error"
