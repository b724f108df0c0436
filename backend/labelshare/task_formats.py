"""The task upload's formats (``POST /projects/{id}/tasks``), as models: ``tasks.import_tasks``
validates each row with ``TaskRow``, and the OpenAPI document and the README's "Task upload
formats" section (``python tools/readme/sections.py``) are generated from them, so neither can
drift from what is checked. A gold answer is validated by the same label models (``labels``) as a
submission's payload.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from labelshare.labels import PAYLOAD_MODELS

__all__ = ["GoldTaskRow", "MAX_TASK_ID", "ROW_RULES", "TaskRow", "upload_formats_markdown"]

MAX_TASK_ID = 200  # characters of a task's id
# What each key of a row must be: the descriptions below, and the message of a row refused for it.
ROW_RULES = {"id": f"a string of 1 to {MAX_TASK_ID} characters, not all blank, or an integer (read as its decimal "
                   "string)",
             "data": "an object"}


class TaskRow(BaseModel):
    """One task of an upload. Other keys are ignored."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[str, Field(min_length=1, max_length=MAX_TASK_ID, pattern=r"\S")] | StrictInt = Field(
        description=f"your id for the task: {ROW_RULES['id']}, unique in the project; annotators sign "
                    "keccak256(abi.encode(projectId, id)) as taskId")
    data: dict[str, Any] = Field(description=f"{ROW_RULES['data']}, what annotators see: spans read data.text, "
                                             "boxes data.width and data.height, pairwise data.a and data.b")


class GoldTaskRow(TaskRow):
    """One gold task (``?gold=true``): a task with its known answer, mixed into the work at the
    project's gold rate to measure annotators. Plain uploads must not carry ``gold``."""

    gold: dict[str, Any] = Field(description="the correct label, in the payload shape of the project's label "
                                             "schema (LabelPayload)")


_CSV = (f"CSV (`?format=csv`): a header row with an `id` column; every other column but `gold` becomes a key of "
        f"`data` with the cell's text as its value; for a gold upload, the `gold` column holds the answer as JSON.")


def _fields(model: type[BaseModel]) -> list[str]:
    lines = []
    for name, info in model.model_fields.items():
        lines.append(f"- `{name}`{'' if info.is_required() else ' (optional)'}: {info.description or ''}")
    return lines


_BOUNDS = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}


def _shape(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON schema as the JSON it describes: ``{"start": integer ≥ 0, ...}``."""
    if "$ref" in schema:
        return _shape(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if schema.get("type") == "object":
        fields = ", ".join(f'"{name}": {_shape(value, defs)}' for name, value in schema["properties"].items())
        return "{" + fields + "}"
    if schema.get("type") == "array":
        return f"[{_shape(schema['items'], defs)}, ...]"
    bounds = "".join(f" {sign} {schema[key]}" for key, sign in _BOUNDS.items() if key in schema)
    return f"{schema['type']}{bounds}"


def upload_formats_markdown() -> str:
    """The README's section on upload formats, generated from the models above."""
    example = {"id": "t1", "data": {"text": "a cat sat"}}
    out = [
        "Body of `POST /projects/{id}/tasks?format=json|jsonl|csv[&gold=true]` (requester, own project). "
        "All-or-nothing: one bad row and nothing is stored; the 400 (`invalid_rows`) lists every bad row.",
        "",
        "- JSON (`?format=json`): a list of rows, or `{\"tasks\": [rows]}`.",
        "- JSONL (`?format=jsonl`, the default): one row a line; blank lines are skipped.",
        f"- {_CSV}",
        "",
        f"A row (`{TaskRow.__name__}` in the OpenAPI document; other keys are ignored):",
        "",
        *_fields(TaskRow),
        "",
        f"A gold row (`{GoldTaskRow.__name__}`, with `?gold=true`) adds:",
        "",
        f"- `gold`: {GoldTaskRow.model_fields['gold'].description}",
        "",
        f"Example row: `{json.dumps(example)}`",
        "",
        "The gold answer (and a submission's `payload`) per label schema `type`:",
        "",
    ]
    for kind, model in PAYLOAD_MODELS.items():
        schema = model.model_json_schema()
        out.append(f"- `{kind}`: `{_shape(schema, schema.get('$defs', {}))}`")
    out += ["", "Labels are strict JSON (`\"1\"` is not `1`, `true` is not `1`) and are checked against the project's "
                "schema as a submission's are: labels from its list, spans sorted, not overlapping and within "
                "`data.text`, boxes within `data.width` and `data.height`."]
    return "\n".join(out) + "\n"
