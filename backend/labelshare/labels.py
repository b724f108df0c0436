"""Label schemas a project can declare, validation of an annotator's label payload against its
schema and task, and the canonical bytes whose keccak256 is the ``labelHash`` annotators sign.

Schemas (``LabelSchema``, discriminated by ``type``):

- ``classification``: ``{"label": "<one of labels>"}``
- ``spans`` (text spans over ``task.data["text"]``): ``{"spans": [{"start", "end", "label"}]}``
- ``boxes`` (image boxes, within ``task.data["width"/"height"]`` when given):
  ``{"boxes": [{"x", "y", "w", "h", "label"}]}``
- ``pairwise`` preference between ``task.data["a"]`` and ``["b"]``: ``{"choice": "a"|"b"|"tie"}``

Canonical form is RFC 8785 (JSON Canonicalization Scheme), so any client that canonicalises the
same JSON gets the same hash.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import rfc8785
from eth_utils import keccak
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from labelshare.errors import PayloadTooLarge, SchemaViolation

__all__ = ["PAYLOAD_MODELS", "LabelPayload", "LabelSchema", "canonical_bytes", "label_hash", "validate_label"]

LabelName = Annotated[str, Field(min_length=1, max_length=64)]
LabelSet = Annotated[list[LabelName], Field(min_length=2, max_length=256)]


def _integral(value: Any) -> Any:
    """278.0 as 278: JSON Schema's "integer" admits a number with a zero fraction, so a schema
    setting may arrive as one (a label's numbers stay strict: they are compared as written)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=1000)]


class _Strict(BaseModel):
    # strict: "0" is not 0 and true is not 1 — labels are compared by their canonical JSON.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ClassificationSchema(_Strict):
    type: Literal["classification"]
    labels: LabelSet


class SpansSchema(_Strict):
    type: Literal["spans"]
    labels: Annotated[list[LabelName], Field(min_length=1, max_length=256)]
    max_spans: Count = 100


class BoxesSchema(_Strict):
    type: Literal["boxes"]
    labels: Annotated[list[LabelName], Field(min_length=1, max_length=256)]
    max_boxes: Count = 100


class PairwiseSchema(_Strict):
    type: Literal["pairwise"]
    allow_tie: bool = False


LabelSchema = Annotated[
    ClassificationSchema | SpansSchema | BoxesSchema | PairwiseSchema, Field(discriminator="type")
]
label_schema_adapter: TypeAdapter[Any] = TypeAdapter(LabelSchema)


# ------------------------------------------------------------------------- payload models


class ClassificationLabel(_Strict):
    label: str


class Span(_Strict):
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    label: str


class SpansLabel(_Strict):
    spans: list[Span]


class Box(_Strict):
    x: float = Field(ge=0)
    y: float = Field(ge=0)
    w: float = Field(gt=0)
    h: float = Field(gt=0)
    label: str


class BoxesLabel(_Strict):
    boxes: list[Box]


class PairwiseLabel(_Strict):
    choice: Literal["a", "b", "tie"]


PAYLOAD_MODELS: dict[str, type[_Strict]] = {
    "classification": ClassificationLabel,
    "spans": SpansLabel,
    "boxes": BoxesLabel,
    "pairwise": PairwiseLabel,
}
# A label of any schema; which one a project takes is its label_schema's ``type``.
LabelPayload = ClassificationLabel | SpansLabel | BoxesLabel | PairwiseLabel


def canonical_bytes(payload: Any) -> bytes:
    """RFC 8785 canonical JSON of ``payload``; SchemaViolation if it is not plain JSON."""
    try:
        return rfc8785.dumps(payload)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as err:
        raise SchemaViolation(f"payload is not canonicalisable JSON: {err}", field="payload") from err


def label_hash(payload: Any) -> bytes:
    """keccak256 of the canonical payload: the ``labelHash`` of the EIP-712 submission."""
    return keccak(canonical_bytes(payload))


def _field_path(error: dict[str, Any]) -> str:
    return "payload" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])


def validate_label(schema: Any, task_data: dict[str, Any], payload: Any, max_bytes: int) -> bytes:
    """Checks ``payload`` against the project's schema and the task; returns its canonical bytes.

    Raises PayloadTooLarge or SchemaViolation (with the offending field) and nothing else.
    """
    encoded = canonical_bytes(payload)
    if len(encoded) > max_bytes:
        raise PayloadTooLarge(f"label payload is {len(encoded)} bytes; the limit is {max_bytes}", field="payload")
    try:
        label = PAYLOAD_MODELS[schema.type].model_validate(payload)
    except ValidationError as err:
        first = err.errors()[0]
        raise SchemaViolation(f"{first['msg']}", field=_field_path(first)) from err
    allowed = set(getattr(schema, "labels", ()))
    if isinstance(label, ClassificationLabel) and label.label not in allowed:
        raise SchemaViolation(f"label {label.label!r} is not one of {sorted(allowed)}", field="payload.label")
    if isinstance(label, SpansLabel):
        _check_spans(schema, task_data, label, allowed)
    if isinstance(label, BoxesLabel):
        _check_boxes(schema, task_data, label, allowed)
    if isinstance(label, PairwiseLabel) and label.choice == "tie" and not schema.allow_tie:
        raise SchemaViolation("this project does not allow ties", field="payload.choice")
    return encoded


def _check_spans(schema: SpansSchema, task_data: dict[str, Any], label: SpansLabel, allowed: set[str]) -> None:
    text = task_data.get("text")
    length = len(text) if isinstance(text, str) else None
    if len(label.spans) > schema.max_spans:
        raise SchemaViolation(f"at most {schema.max_spans} spans", field="payload.spans")
    previous_end = 0
    for i, span in enumerate(label.spans):
        where = f"payload.spans[{i}]"
        if span.label not in allowed:
            raise SchemaViolation(f"label {span.label!r} is not one of {sorted(allowed)}", field=f"{where}.label")
        if span.end <= span.start:
            raise SchemaViolation("a span must end after it starts", field=f"{where}.end")
        if length is not None and span.end > length:
            raise SchemaViolation(f"span ends past the text ({length} characters)", field=f"{where}.end")
        if span.start < previous_end:
            raise SchemaViolation("spans must be sorted and must not overlap", field=f"{where}.start")
        previous_end = span.end


def _check_boxes(schema: BoxesSchema, task_data: dict[str, Any], label: BoxesLabel, allowed: set[str]) -> None:
    width, height = task_data.get("width"), task_data.get("height")
    if len(label.boxes) > schema.max_boxes:
        raise SchemaViolation(f"at most {schema.max_boxes} boxes", field="payload.boxes")
    for i, box in enumerate(label.boxes):
        where = f"payload.boxes[{i}]"
        if box.label not in allowed:
            raise SchemaViolation(f"label {box.label!r} is not one of {sorted(allowed)}", field=f"{where}.label")
        if isinstance(width, (int, float)) and box.x + box.w > width:
            raise SchemaViolation(f"box extends past the image width ({width})", field=f"{where}.w")
        if isinstance(height, (int, float)) and box.y + box.h > height:
            raise SchemaViolation(f"box extends past the image height ({height})", field=f"{where}.h")
