"""``labelshare project``: a requester creates a project (registered on-chain), uploads tasks and
gold tasks, watches progress and quality, and exports the verified labels."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from labelshare.cli.common import api_client, app, console, fail
from labelshare.client import human_amount, parse_amount

project_app = typer.Typer(no_args_is_help=True, help="Requester: create projects, upload tasks, watch, export.")
app.add_typer(project_app, name="project")

ProjectId = Annotated[int, typer.Argument(min=1)]
SchemaType = Literal["classification", "spans", "boxes", "pairwise"]


@project_app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="shown to annotators")],
    reward: Annotated[str, typer.Option(help="base reward per accepted label, in tokens (e.g. 0.5)")],
    labels: Annotated[str | None, typer.Option(help="comma-separated label set")] = None,
    schema_type: Annotated[SchemaType, typer.Option("--type", help="label schema type")] = "classification",
    schema: Annotated[Path | None, typer.Option(help="full label schema as a JSON file (instead of --type/--labels)")] = None,
    instructions: Annotated[str, typer.Option(help="instructions for annotators")] = "",
    domain: Annotated[str, typer.Option(help="general, or a specialist domain (medicine, law, ...)")] = "general",
    overlap: Annotated[int, typer.Option(help="annotators per task")] = 3,
    gold_rate: Annotated[float, typer.Option(help="share of offers that are gold tasks")] = 0.0,
) -> None:
    """Create a project; the ledger records its owner, spec hash, domain, reward and overlap."""
    if schema is not None:
        try:
            label_schema = json.loads(schema.read_text())
        except (OSError, ValueError) as err:
            raise fail(f"cannot read the schema {schema}: {err}") from None
    else:
        label_schema = {"type": schema_type}
        if schema_type != "pairwise":
            if not labels:
                raise fail("--labels is required for this schema type (e.g. --labels cat,dog)")
            label_schema["labels"] = [label.strip() for label in labels.split(",") if label.strip()]
    try:
        reward_units = parse_amount(reward)
    except ValueError as err:
        raise fail(f"--reward: {err}") from None
    with api_client(ctx) as client:
        project = client.create_project(name=name, instructions=instructions, domain=domain, label_schema=label_schema,
                                        reward_per_label=reward_units, overlap=overlap, gold_rate=gold_rate)
    console.print(f"project [bold]{project['id']}[/] created, registered on-chain in {project['registered_tx']}")
    console.print(f"spec hash {project['spec_hash']}, {human_amount(project['reward_per_label'])} tokens per "
                  f"accepted label before quality and domain factors")


@project_app.command()
def upload(
    ctx: typer.Context, project_id: ProjectId,
    file: Annotated[Path, typer.Argument(help="tasks as JSONL, JSON or CSV (rows: id, data; gold rows add gold)")],
    gold: Annotated[bool, typer.Option(help="these are gold tasks with known answers")] = False,
) -> None:
    """Upload tasks (all-or-nothing: any bad row and nothing is stored, every bad row is listed)."""
    fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}.get(file.suffix.lower())
    if fmt is None:
        raise fail(f"{file}: use a .jsonl, .json or .csv file")
    try:
        content = file.read_bytes()
    except OSError as err:
        raise fail(f"cannot read {file}: {err.strerror}") from None
    with api_client(ctx) as client:
        result = client.upload_tasks(project_id, content, fmt=fmt, gold=gold)
    console.print(f"{result['created']} {'gold ' if gold else ''}task(s) uploaded to project {project_id}")


@project_app.command()
def tasks(ctx: typer.Context, project_id: ProjectId,
          status: Annotated[str | None, typer.Option(help="open, complete, verified or gold")] = None,
          limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """The project's tasks with their progress and verified labels."""
    with api_client(ctx) as client:
        rows = client.tasks(project_id, status=status, limit=limit)
    table = Table(title=f"project {project_id} tasks")
    for column in ("id", "gold", "submissions", "state", "verified label", "confidence"):
        table.add_column(column, overflow="fold")
    for t in rows:
        state = "verified" if t["verified_label"] is not None else "complete" if t["complete"] else "open"
        table.add_row(t["task_id"], "yes" if t["gold"] else "", str(t["submissions"]), state,
                      json.dumps(t["verified_label"]) if t["verified_label"] is not None else "",
                      f"{t['confidence']:.3f}" if t["confidence"] is not None else "")
    console.print(table)


def _stats_table(stats: dict[str, object]) -> Table:
    table = Table(title=f"project {stats['project_id']}", show_header=False)
    for key in ("tasks", "tasks_complete", "gold_tasks", "submissions", "accepted", "rejected", "pending",
                "awaiting_review", "in_epochs", "annotators", "acceptance_rate"):
        value = stats[key]
        table.add_row(key.replace("_", " "), f"{value:.1%}" if isinstance(value, float) else str(value))
    return table


@project_app.command()
def watch(ctx: typer.Context, project_id: ProjectId,
          interval: Annotated[float, typer.Option(min=0.2, help="seconds between polls")] = 2.0,
          until_done: Annotated[bool, typer.Option(help="stop once every task is complete and reviewed")] = True,
          timeout: Annotated[float, typer.Option(help="stop after this many seconds (0: never)")] = 0.0) -> None:
    """Live progress of a project until its tasks are done (or Ctrl-C)."""
    started = time.monotonic()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console)
    done_bar = progress.add_task("tasks complete", total=None)
    settled_bar = progress.add_task("labels settled", total=None)
    with api_client(ctx) as client, Live(progress, console=console, refresh_per_second=4):
        while True:
            stats = client.stats(project_id)
            normal = stats["tasks"] - stats["gold_tasks"]
            progress.update(done_bar, total=stats["tasks"], completed=stats["tasks_complete"])
            progress.update(settled_bar, total=max(stats["accepted"], 1), completed=stats["in_epochs"])
            finished = normal > 0 and stats["tasks_complete"] >= normal and stats["awaiting_review"] == 0
            if (until_done and finished) or (timeout and time.monotonic() - started > timeout):
                break
            time.sleep(interval)
    console.print(_stats_table(stats))


@project_app.command()
def quality(ctx: typer.Context, project_id: ProjectId) -> None:
    """Quality summary: how sure the verified labels are, and each annotator's record."""
    with api_client(ctx) as client:
        stats, summary = client.stats(project_id), client.project_quality(project_id)
    console.print(_stats_table(stats))
    mean = summary["mean_confidence"]
    console.print(f"{summary['verified_tasks']} verified labels, mean confidence "
                  f"{mean:.3f}" if mean is not None else "no verified labels yet")
    if summary["low_confidence_tasks"]:
        console.print(f"[yellow]{summary['low_confidence_tasks']} below {summary['low_confidence_below']}[/]")
    table = Table(title="annotators")
    for column in ("address", "submissions", "accepted", "rejected", "pending", "acceptance", "gold", "skill"):
        table.add_column(column)
    for a in summary["annotators"]:
        table.add_row(a["address"], str(a["submissions"]), str(a["accepted"]), str(a["rejected"]), str(a["pending"]),
                      f"{a['acceptance_rate']:.0%}" if a["acceptance_rate"] is not None else "—",
                      f"{a['gold_correct']}/{a['gold_answered']}",
                      f"{a['skill']:.2f}" if a["skill"] is not None else "—")
    console.print(table)


@project_app.command()
def export(ctx: typer.Context, project_id: ProjectId,
           out: Annotated[Path | None, typer.Option("-o", "--out", help="file to write (default: stdout)")] = None,
           fmt: Annotated[Literal["jsonl", "csv"], typer.Option("--format")] = "jsonl",
           version: Annotated[int | None, typer.Option(min=1, help="a dataset version (yours, or one you hold a "
                                                               "licence to): its labels and on-chain annotations")] = None,
           ) -> None:
    """Export the verified labels (with their confidence)."""
    with api_client(ctx) as client:
        content = client.export(project_id, fmt=fmt, version=version)
    if out is None:
        typer.echo(content, nl=False)
    else:
        out.write_text(content)
        console.print(f"{content.count(chr(10)) - (fmt == 'csv')} label(s) written to {out}")


@project_app.command("close")
def close_(ctx: typer.Context, project_id: ProjectId) -> None:
    """Stop the project taking work (on-chain too); accepted work is still paid."""
    with api_client(ctx) as client:
        client.set_open(project_id, False)
    console.print(f"project {project_id} closed")


@project_app.command("open")
def open_(ctx: typer.Context, project_id: ProjectId) -> None:
    """Let a closed project take work again."""
    with api_client(ctx) as client:
        client.set_open(project_id, True)
    console.print(f"project {project_id} open")

