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
    status, code = 400, "invalid_input"


class InvalidSignature(InvalidInput):
    code = "invalid_signature"


class SchemaViolation(InvalidInput):
    code = "schema_violation"


class DeadlineExpired(InvalidInput):
    code = "deadline_expired"


class PayloadTooLarge(LabelShareError, ValueError):
    status, code = 413, "payload_too_large"


class Unauthenticated(LabelShareError, PermissionError):
    status, code = 401, "unauthenticated"


class Forbidden(LabelShareError, PermissionError):
    status, code = 403, "forbidden"


class SignerMismatch(Forbidden):
    code = "signer_mismatch"


class WrongDomain(Forbidden):
    code = "wrong_domain"  # EIP-712 domain of another chain or contract


class NotOffered(Forbidden):
    code = "task_not_offered"


class Suspended(Forbidden):
    code = "annotator_suspended"


class NotFound(LabelShareError, LookupError):
    status, code = 404, "not_found"


class Conflict(LabelShareError):
    status, code = 409, "conflict"


class NonceReused(Conflict):
    code = "nonce_reused"


class AlreadySubmitted(Conflict):
    code = "already_submitted"


class RateLimited(LabelShareError):
    status, code = 429, "rate_limited"


class Unavailable(LabelShareError):
    status, code = 503, "unavailable"


class ChainError(Unavailable):
    code = "chain_error"
