"""Annotator commands: sign in, find work, label in the terminal or submit a file of labels, and
follow what it earned — down to proving an annotation is in its epoch's on-chain root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from labelshare.cli.common import api_client, app, console, fail, state
from labelshare.cli.terminal_labels import QUIT, SKIP, ask_label
from labelshare.client import ApiError, human_amount

ProjectId = Annotated[int, typer.Argument(min=1, help="project id (see `labelshare projects`)")]


@app.command()
def login(ctx: typer.Context) -> None:
    """Sign in with your wallet (EIP-4361); the session is kept for the next commands."""
    cli = state(ctx)
    with api_client(ctx, signed_in=False, wallet=True) as client:
        session = client.sign_in()
    cli.save_session(session)
    role = " (requester)" if session["requester"] else ""
    console.print(f"signed in to {cli.api} as [bold]{session['address']}[/]{role} until {session['expires_at']}")


@app.command()
def logout(ctx: typer.Context) -> None:
    """Forget this machine's sessions with the API."""
    console.print(f"forgot {state(ctx).forget_sessions()} session(s)")


@app.command()
def projects(ctx: typer.Context, mine: Annotated[bool, typer.Option(help="my projects, open or closed")] = False) -> None:
    """Open projects (or mine): domain, schema, reward and progress."""
    with api_client(ctx, signed_in=False) as client:
        rows = client.projects(owner=state(ctx).address() if mine else None)
        table = Table(title="projects")
        for column in ("id", "name", "domain", "labels", "reward", "overlap", "tasks done", "open"):
            table.add_column(column)
        for p in rows:
            stats = client.stats(p["id"])
            schema = p["label_schema"]
            table.add_row(str(p["id"]), p["name"], p["domain"],
                          f"{schema['type']}: {', '.join(schema.get('labels', ['a', 'b']))}",
                          human_amount(p["reward_per_label"]), str(p["overlap"]),
                          f"{stats['tasks_complete']}/{stats['tasks']}", "yes" if p["open"] else "no")
    console.print(table)


@app.command()
def label(ctx: typer.Context, project_id: ProjectId,
          count: Annotated[int, typer.Option(min=1, help="stop after this many labels")] = 1_000_000) -> None:
    """Label tasks one by one in the terminal; each answer is signed (EIP-712) and submitted."""
    done = 0
    with api_client(ctx, wallet=True) as client:
        while done < count:
            offer = client.next_task(project_id)
            if offer is None:
                console.print("no task left for you in this project")
                break
            answer = ask_label(console, offer)
            if answer in (SKIP, QUIT):
                client.release(offer["task_id"])  # its slot goes to someone else now, not at expiry
            if answer == QUIT:
                break
            if answer == SKIP:
                continue
            try:
                result = client.submit(offer, answer)
            except ApiError as err:
                # A refused label is reported and the session goes on with the next task.
                console.print(f"[red]refused:[/] {err.detail}" + (f" (field {err.field})" if err.field else ""))
                continue
            done += 1
            console.print(f"submission {result['id']}: [bold]{result['status']}[/]"
                          + (f", reward {human_amount(result['reward'])}" if result["status"] == "accepted" else ""))
    console.print(f"{done} label(s) submitted")


@app.command()
def release(ctx: typer.Context, task_id: Annotated[str, typer.Argument(help="the task's 0x id, as offered")]) -> None:
    """Give up my open offer of a task (e.g. one fetched and not labelled): others may take it now."""
    with api_client(ctx) as client:
        client.release(task_id)
    console.print(f"released task {task_id}")


@app.command()
def fetch(ctx: typer.Context, project_id: ProjectId,
          count: Annotated[int, typer.Option("-n", "--count", min=1, max=1000, help="tasks to take")] = 10,
          out: Annotated[Path, typer.Option("-o", "--out", help="JSONL file to write")] = Path("tasks.jsonl")) -> None:
    """Take up to N tasks into a JSONL file to label offline: as many as the API lets one wallet
    hold open in a project (LABELSHARE_MAX_OPEN_OFFERS_PER_PROJECT), each until its expires_at.

    Fill in each line's "payload" and send the file with `labelshare submit`."""
    offers: list[dict[str, Any]] = []
    with api_client(ctx) as client:
        # At the cap the API answers an offer already taken: that ends the batch.
        while len(offers) < count and (offer := client.next_task(project_id)) is not None \
                and all(o["task_id"] != offer["task_id"] for o in offers):
            offers.append({"project_id": offer["project_id"], "task_id": offer["task_id"], "data": offer["data"],
                           "label_schema": offer["label_schema"], "expires_at": offer["expires_at"],
                           "payload": None})
    out.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in offers))
    console.print(f"{len(offers)} task(s) written to {out}")


def _read_labels(path: Path) -> list[dict[str, Any]]:
    """Every line of a labels file, checked before anything is sent: all-or-nothing."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise fail(f"cannot read {path}: {err.strerror}") from None
    rows, problems = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            problems.append(f"line {number}: not JSON ({err.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {number}: not a JSON object")
        elif not isinstance(row.get("project_id"), int) or not isinstance(row.get("task_id"), str):
            problems.append(f"line {number}: needs project_id (number) and task_id (the task's 0x id)")
        elif row.get("payload") is None:
            problems.append(f"line {number}: payload is empty")
        else:
            rows.append(row | {"line": number})
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/]")
        raise fail(f"{path}: {len(problems)} bad line(s); nothing was submitted")
    return rows


@app.command()
def submit(ctx: typer.Context, labels_file: Annotated[Path, typer.Argument(
        metavar="FILE", help="JSONL lines {project_id, task_id, payload}, e.g. `labelshare fetch` filled in")]) -> None:
    """Sign and submit a file of labels, with a progress bar; refused lines are listed."""
    rows = _read_labels(labels_file)
    refused: list[tuple[int, ApiError]] = []
    statuses: dict[str, int] = {}
    with api_client(ctx, wallet=True) as client, Progress(
            TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("submit", total=len(rows))
        for row in rows:
            try:
                result = client.submit(client.offer_for(row["project_id"], row["task_id"]), row["payload"])
                statuses[result["status"]] = statuses.get(result["status"], 0) + 1
            except ApiError as err:
                refused.append((row["line"], err))
            bar.advance(task)
    console.print(f"{sum(statuses.values())} submitted ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})"
                  if statuses else "nothing submitted")
    if refused:
        table = Table(title=f"{len(refused)} refused")
        for column in ("line", "error", "field", "detail"):
            table.add_column(column)
        for number, err in refused:
            table.add_row(str(number), err.code, err.field or "", err.detail)
        console.print(table)
        raise typer.Exit(1)


@app.command()
def submissions(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """My submissions, newest first: status, reward, epoch."""
    with api_client(ctx) as client:
        rows = client.submissions(limit=limit)
    table = Table(title="my submissions")
    for column in ("id", "project", "task", "status", "reward", "epoch", "reason"):
        table.add_column(column)
    for s in rows:
        table.add_row(str(s["id"]), str(s["project_id"]), s["task_id"][:10] + "…", s["status"],
                      human_amount(s["reward"]), str(s["epoch_id"] or ""), s["reason"] or "")
    console.print(table)


@app.command()
def rewards(ctx: typer.Context) -> None:
    """Pending and settled rewards per epoch with their transactions, and the on-chain balance."""
    with api_client(ctx) as client:
        mine = client.rewards()
        balance = client.token_balance(mine["address"], rpc_url=state(ctx).rpc_url)
        symbol = client.token_symbol()
    console.print(f"pending  {human_amount(mine['pending'])} {symbol} ({mine['pending_annotations']} labels)")
    if int(mine["resending"]):
        console.print(f"  of which {human_amount(mine['resending'])} {symbol} recorded as settled, "
                      "not held by the chain at the configured confirmations")
    console.print(f"settled  {human_amount(mine['settled'])} {symbol} (held by the ledger)")
    if int(mine["unverified"]):
        console.print(f"unverified {human_amount(mine['unverified'])} {symbol}")
    if mine["reason"]:
        console.print(f"[yellow]{mine['reason']}[/yellow]")
    console.print(f"balance  {human_amount(balance)} {symbol} on-chain")
    if mine["epochs"]:
        table = Table(title="rewards by epoch")
        for column in ("epoch", "labels", "amount", "status", "transactions"):
            table.add_column(column, overflow="fold")
        for e in mine["epochs"]:
            table.add_row(str(e["epoch_id"]), str(e["annotations"]), human_amount(e["amount"]), e["status"],
                          "\n".join(e["tx_hashes"]))
        console.print(table)


@app.command()
def balance(ctx: typer.Context, address: Annotated[str | None, typer.Argument(help="default: my wallet")] = None) -> None:
    """The reward-token balance on-chain."""
    cli = state(ctx)
    with api_client(ctx, signed_in=False) as client:
        amount = client.token_balance(address or cli.address(), rpc_url=cli.rpc_url)
        symbol = client.token_symbol()
    console.print(f"{human_amount(amount)} {symbol}")


@app.command()
def quality(ctx: typer.Context) -> None:
    """My reliability per domain (gold record, estimated skill, reward factor) and any suspension."""
    with api_client(ctx) as client:
        mine = client.quality()
    if mine["suspended"]:
        console.print(f"[bold red]suspended:[/] {mine['suspension_reason']}")
    table = Table(title="my quality")
    for column in ("domain", "gold", "recent gold", "skill", "reward factor"):
        table.add_column(column)
    for d in mine["domains"]:
        skill = f"{d['skill']:.2f} (chance {d['skill_chance']:.2f})" if d["skill"] is not None else "—"
        table.add_row(d["domain"], f"{d['gold_correct']}/{d['gold_answered']}", d["recent_gold"] or "—", skill,
                      f"{d['quality_factor_bps'] / 100:.0f}%")
    console.print(table)


@app.command()
def prove(ctx: typer.Context, submission_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Prove that one of my settled annotations is in its epoch's on-chain Merkle root."""
    with api_client(ctx) as client:
        check = client.verify_inclusion(submission_id, rpc_url=state(ctx).rpc_url)
    table = Table(title=f"submission {submission_id} in epoch {check.epoch_id}")
    table.add_column("check")
    table.add_column("result")
    for name, ok in (("the served annotation is the one I submitted", check.matches_submission),
                     ("leaf rebuilt here equals the served leaf", check.leaf_recomputed),
                     ("proof leads from the leaf to the root (checked here)", check.proof_valid),
                     ("root equals the epoch's on-chain root", check.root == check.onchain_root),
                     ("LabelLedger.verifyAnnotation on-chain", check.verified_on_chain)):
        table.add_row(name, "[green]ok[/]" if ok else "[red]FAILED[/]")
    console.print(table)
    console.print(f"leaf {check.leaf}\nroot {check.onchain_root}")
    if not check.ok:
        raise fail("the annotation is NOT proven to be in the on-chain root")
    console.print("[bold green]proven[/]")
