"""Labelling one task in the terminal, per label schema: show the task, read the answer, return
the payload (or SKIP / QUIT). Offsets of text spans are Python string indices (code points),
exactly what the server validates."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

__all__ = ["QUIT", "SKIP", "ask_label"]

SKIP, QUIT = "skip", "quit"
SPAN_STYLES = ["bold black on yellow", "bold black on cyan", "bold black on green", "bold black on magenta"]


def _task_text(data: dict[str, Any]) -> str:
    text = data.get("text")
    return text if isinstance(text, str) else json.dumps(data, indent=2, ensure_ascii=False)


def ask_label(console: Console, offer: dict[str, Any]) -> dict[str, Any] | str:
    schema, data = offer["label_schema"], offer["data"]
    if offer.get("instructions"):
        console.print(f"[dim]{offer['instructions']}[/]")
    kind = schema["type"]
    if kind == "classification":
        return _classification(console, schema, data)
    if kind == "spans":
        return _spans(console, schema, data)
    if kind == "pairwise":
        return _pairwise(console, schema, data)
    return _boxes(console, schema, data)


def _command(answer: str) -> str | None:
    return {"s": SKIP, "skip": SKIP, "q": QUIT, "quit": QUIT}.get(answer.strip().lower())


def _classification(console: Console, schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | str:
    console.print(Panel(_task_text(data), title="task"))
    labels = schema["labels"]
    console.print("  ".join(f"[bold]{i}[/] {label}" for i, label in enumerate(labels, 1)))
    while True:
        answer = typer.prompt(f"label [1-{len(labels)}, s skip, q quit]")
        if command := _command(answer):
            return command
        if answer.strip().isdigit() and 1 <= int(answer) <= len(labels):
            return {"label": labels[int(answer) - 1]}
        if answer.strip() in labels:
            return {"label": answer.strip()}
        console.print(f"[red]choose a number from 1 to {len(labels)} or a label name[/]")


def _highlighted(text: str, spans: list[dict[str, Any]], labels: list[str]) -> Text:
    rich_text = Text(text)
    for span in spans:
        rich_text.stylize(SPAN_STYLES[labels.index(span["label"]) % len(SPAN_STYLES)], span["start"], span["end"])
    return rich_text


def _find(text: str, quoted: str, spans: list[dict[str, Any]]) -> tuple[int, int] | None:
    """The first occurrence of ``quoted`` (``quoted#n``: the n-th) that overlaps no span yet."""
    needle, nth = quoted, 1
    head, sep, tail = quoted.rpartition("#")
    if sep and head and tail.isdigit():
        needle, nth = head, int(tail)
    start, seen = -1, 0
    while (start := text.find(needle, start + 1)) != -1:
        if any(start < s["end"] and s["start"] < start + len(needle) for s in spans):
            continue
        seen += 1
        if seen == nth:
            return start, start + len(needle)
    return None


def _spans(console: Console, schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | str:
    text, labels = data.get("text", ""), schema["labels"]
    spans: list[dict[str, Any]] = []
    console.print("labels: " + "  ".join(f"[{SPAN_STYLES[i % len(SPAN_STYLES)]}] {label} [/]"
                                         for i, label in enumerate(labels)))
    console.print("[dim]one span per line as `label: exact text` (`text#2` for its 2nd occurrence) or "
                  "`label: start-end`; `u` undoes, an empty line submits, s skips, q quits[/]")
    while True:
        console.print(Panel(_highlighted(text, spans, labels), title=f"task ({len(spans)} spans)"))
        answer = typer.prompt("span", default="", show_default=False)
        if command := _command(answer):
            return command
        if not answer.strip():
            return {"spans": sorted(spans, key=lambda s: s["start"])}
        if answer.strip() == "u":
            spans = spans[:-1]
            continue
        label, sep, target = answer.partition(":")
        label, target = label.strip(), target.strip()
        if not sep or label not in labels:
            console.print(f"[red]start with one of the labels {', '.join(labels)} and a colon[/]")
            continue
        bounds = _offsets(target, len(text)) or _find(text, target, spans)
        if bounds is None:
            console.print(f"[red]{target!r} is not in the text (or overlaps a span)[/]")
        elif any(bounds[0] < s["end"] and s["start"] < bounds[1] for s in spans):
            console.print("[red]spans must not overlap[/]")
        else:
            spans.append({"start": bounds[0], "end": bounds[1], "label": label})


def _offsets(target: str, length: int) -> tuple[int, int] | None:
    start, sep, end = target.partition("-")
    if sep and start.strip().isdigit() and end.strip().isdigit() and int(start) < int(end) <= length:
        return int(start), int(end)
    return None


def _pairwise(console: Console, schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | str:
    console.print(Panel(str(data.get("a")), title="a"))
    console.print(Panel(str(data.get("b")), title="b"))
    choices = ["a", "b", "tie"] if schema.get("allow_tie") else ["a", "b"]
    while True:
        answer = typer.prompt(f"which is better [{'/'.join(choices)}, s skip, q quit]").strip().lower()
        if command := _command(answer):
            return command
        if answer in choices:
            return {"choice": answer}


def _boxes(console: Console, schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | str:
    # A terminal cannot show the image: name it and take boxes as numbers (the web page draws them).
    console.print(Panel(f"image {str(data.get('image', '?'))[:120]}  ({data.get('width', '?')} x "
                        f"{data.get('height', '?')} px)", title="task"))
    console.print(f"[dim]one box per line as `label x y w h` in pixels; labels: {', '.join(schema['labels'])}; "
                  "an empty line submits, s skips, q quits[/]")
    boxes: list[dict[str, Any]] = []
    while True:
        answer = typer.prompt(f"box {len(boxes) + 1}", default="", show_default=False)
        if command := _command(answer):
            return command
        if not answer.strip():
            return {"boxes": boxes}
        parts = answer.split()
        try:
            x, y, w, h = (float(p) for p in parts[1:5])
        except ValueError:
            parts = []
        if len(parts) != 5 or parts[0] not in schema["labels"]:
            console.print("[red]write `label x y w h`, e.g. `cat 10 20 100 80`[/]")
            continue
        boxes.append({"x": x, "y": y, "w": w, "h": h, "label": parts[0]})
