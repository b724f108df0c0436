"""The README's generated sections, from the code that defines what they describe:

- ``upload-formats``: the task upload formats, from the models the API validates uploads with
  (``labelshare.task_formats``);
- ``errors``: every error code the API answers with, its status and when, from the exception
  tree (``labelshare.errors`` and its subclasses elsewhere in the package).

    python tools/readme/sections.py                     # print every section
    python tools/readme/sections.py --write README.md
    python tools/readme/sections.py --check README.md   # exit 1 if a section differs

Each section sits between ``<!-- NAME:begin ... -->`` and ``<!-- NAME:end -->`` markers.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

# Imported for the error classes they define (the table lists every subclass the service can raise).
import labelshare.api.errors  # noqa: F401
import labelshare.chain  # noqa: F401
import labelshare.leader  # noqa: F401
import labelshare.tasks  # noqa: F401
from labelshare.errors import LabelShareError
from labelshare.task_formats import upload_formats_markdown

# Answered by the API layer itself, not raised as a LabelShareError (labelshare.api.errors).
API_LAYER_ERRORS = (
    ("invalid_input", 400, "A body that is not JSON, or a parameter of the wrong type (FastAPI's validation)."),
    ("not_found", 404, "No such route."),
    ("method_not_allowed", 405, "The route exists, not with this method."),
    ("payload_too_large", 413, "A body over the size limit, refused before it is read."),
    ("database_unavailable", 503, "The database could not be reached or is locked; `Retry-After` says when "
                                  "to try again."),
    ("internal_error", 500, "A bug: logged with its traceback, never shown to the client."),
)


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in sorted(cls.__subclasses__(), key=lambda c: (c.status, c.__name__)):
        out += [sub, *_subclasses(sub)]
    return out


def errors_markdown() -> str:
    """A table of (status, code, when) for every error the API answers with."""
    rows = {(c.status, c.code): " ".join(inspect.getdoc(c).split()) for c in _subclasses(LabelShareError)
            if c.__doc__ and c.__doc__ is not LabelShareError.__doc__}
    for code, status, when in API_LAYER_ERRORS:
        rows.setdefault((status, code), when)
    lines = ["| status | `error` | when |", "|---|---|---|"]
    lines += [f"| {status} | `{code}` | {when} |" for (status, code), when in sorted(rows.items())]
    return "\n".join(lines) + "\n"


SECTIONS: dict[str, Callable[[], str]] = {"upload-formats": upload_formats_markdown, "errors": errors_markdown}


def with_sections(readme: str) -> str:
    """``readme`` with the text between each section's markers replaced by the generated text."""
    for name, generate in SECTIONS.items():
        begin, end = f"<!-- {name}:begin", f"<!-- {name}:end -->"
        head, found, rest = readme.partition(begin)
        marker, newline, rest = rest.partition("\n")
        _, found_end, tail = rest.partition(end)
        if not found or not found_end:
            raise SystemExit(f"README has no {begin} ... {end} markers")
        readme = f"{head}{begin}{marker}{newline}{generate()}{end}{tail}"
    return readme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", type=Path, metavar="README")
    action.add_argument("--check", type=Path, metavar="README")
    args = parser.parse_args()
    if args.write:
        args.write.write_text(with_sections(args.write.read_text()))
    elif args.check:
        if with_sections(args.check.read_text()) != args.check.read_text():
            sys.exit(f"{args.check}'s generated sections differ from the code: run "
                     f"python tools/readme/sections.py --write {args.check}")
    else:
        for name, generate in SECTIONS.items():
            print(f"## {name}\n\n{generate()}")


if __name__ == "__main__":
    main()
