"""Operator commands: serve the API (with its settlement worker), settle, audit, evaluate
aggregation against ground truth, simulate a population of annotators."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from labelshare.audit import AuditReport, run_audit
from labelshare.cli.common import api_client, app, console, state
from labelshare.client import human_amount


@app.command()
def serve(ctx: typer.Context, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API (and the settlement worker) with uvicorn, on the chain --rpc-url names (else
    LABELSHARE_RPC_URL's)."""
    import uvicorn

    rpc_url = state(ctx).rpc_url
    if rpc_url:
        os.environ["LABELSHARE_RPC_URL"] = rpc_url  # the settings every worker process builds its app from
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("labelshare.api.app:app", host=host, port=port, workers=workers)


def _manifest_source(manifests: Path | None, api: str | None) -> Any:
    if api:
        client = httpx.Client(base_url=api, timeout=60)

        def from_api(epoch_id: int) -> dict[str, Any] | None:
            response = client.get(f"/epochs/{epoch_id}/manifest")
            return response.json() if response.status_code == 200 else None

        return from_api
    from labelshare.errors import NotFound
    from labelshare.manifests import ManifestStore

    assert manifests is not None, "a folder when no API serves the manifests"
    store = ManifestStore(manifests)

    def from_dir(epoch_id: int) -> dict[str, Any] | None:
        try:
            return store.read(epoch_id)
        except NotFound:
            return None

    return from_dir


def print_report(report: AuditReport) -> None:
    table = Table(title="LabelShare audit", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("found", overflow="fold")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]MISMATCH[/]", check.detail)
    console.print(table)
    console.print(f"epochs {report.epochs}, annotations {report.annotations}, minted {human_amount(report.minted)}, "
                  f"total supply {human_amount(report.total_supply)}, proofs checked on-chain "
                  f"{report.proofs_checked_on_chain}, dataset versions {report.revenue_versions}, "
                  f"licences sold {report.licences_sold}")
    console.print("[bold green]audit clean[/]" if report.ok else "[bold red]audit FAILED[/]")


@app.command()
def audit(
    ctx: typer.Context,
    remote: Annotated[bool, typer.Option(
        help="audit the deployment the API (--api) names, reading its manifests and the chain it names "
             "(or --rpc-url); otherwise this machine's deployment file and manifests folder "
             "(LABELSHARE_DEPLOYMENT_FILE, LABELSHARE_MANIFESTS_DIR) on --rpc-url's chain")] = False,
    manifests: Annotated[Path | None, typer.Option(help="folder of epoch-<id>.json manifests")] = None,
    sample: Annotated[int, typer.Option(help="inclusion proofs to verify on-chain per epoch")] = 20,
) -> None:
    """Rebuild every reward from chain events and manifests; exit 1 on any mismatch."""
    if remote:
        with api_client(ctx, signed_in=False) as client:
            reader = client.chain_reader(ctx.obj.rpc_url)
            report = run_audit(reader.w3, reader.ledger, reader.token, reader.deployment_block,
                               _manifest_source(manifests, None if manifests else client.base_url), sample=sample,
                               licences=reader.licences)
    else:
        from labelshare.chain import Chain

        settings = state(ctx).service_settings()
        chain = Chain(settings)
        report = run_audit(chain.w3, chain.ledger, chain.token, chain.deployment.block_number,
                           _manifest_source(manifests or settings.manifests_dir, None), sample=sample,
                           licences=chain.licences)
    print_report(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def settle(ctx: typer.Context,
           force: Annotated[bool, typer.Option(help="close an epoch even if it is not due")] = True) -> None:
    """Finish unsettled epochs, then close and settle one now (on --rpc-url's chain, else LABELSHARE_RPC_URL's)."""
    from labelshare.chain import Chain
    from labelshare.db.engine import make_engine, make_session_factory, upgrade_database
    from labelshare.manifests import ManifestStore
    from labelshare.settlement import Settler

    from labelshare.leader import leadership_for

    settings = state(ctx).service_settings()
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    # The same election as the replicas' workers: never two settlers at once.
    leadership = leadership_for(settings.database_url)
    if not leadership.acquire():
        console.print("[red]another process leads settlement (a running `labelshare serve`?); "
                      "its worker settles: see GET /status[/]")
        raise typer.Exit(1)
    try:
        settler = Settler(make_session_factory(engine), Chain(settings), settings,
                          ManifestStore(settings.manifests_dir), leadership)
        epoch_id = settler.run_once(force=force)
    finally:
        leadership.release()
    console.print(f"settled epoch {epoch_id}" if epoch_id is not None else "nothing to settle")


@app.command()
def evaluate(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", show_default=False,
                                                help="dataset folders (answers.csv, truth.csv) or folders of them")],
    gold_share: Annotated[float, typer.Option(help="share of the truth revealed as control tasks (0: none)")] = 0.1,
    seeds: Annotated[int, typer.Option(min=0, help="random draws of the revealed gold to average over")] = 5,
    tie_breaks: Annotated[int, typer.Option(min=1, help="seeded random tie-breaks of majority vote to average")] = 25,
    json_file: Annotated[Path | None, typer.Option("--json", help="also write the reports to this JSON file")] = None,
) -> None:
    """Score majority vote and Dawid–Skene (with and without revealed gold) against ground truth."""
    from labelshare.errors import InvalidInput
    from labelshare.evaluation import evaluate as evaluate_dataset
    from labelshare.evaluation import find_datasets, load_dataset, report_table

    reports = []
    try:
        datasets = [load_dataset(folder) for path in paths for folder in find_datasets(path)]
        for data in datasets:
            reports.append(evaluate_dataset(data, gold_share=gold_share, seeds=seeds, tie_breaks=tie_breaks))
            console.print(report_table(reports[-1]))
    except InvalidInput as err:
        raise typer.BadParameter(err.detail, param_hint="PATH" if err.field in (None, "answers.csv", "truth.csv")
                                 else f"--{err.field.replace('_', '-')}") from err
    if json_file:
        json_file.write_text(json.dumps([asdict(report) for report in reports], indent=2, ensure_ascii=False) + "\n")
        console.print(f"reports written to {json_file}")


@app.command()
def simulate(
    ctx: typer.Context,
    api: Annotated[str | None, typer.Option(help="the running API (make run) [default: labelshare --api]")] = None,
    annotators: Annotated[int, typer.Option(min=6, help="population size")] = 30,
    spammer_share: Annotated[float, typer.Option(min=0.0, max=0.9, help="share of spammers")] = 0.3,
    seed: Annotated[int, typer.Option(help="population and truth seed")] = 7,
    out: Annotated[Path, typer.Option(help="where simulation.{json,md,png} go")] = Path("docs"),
) -> None:
    """Simulate honest experts, generalists and spammers labelling through the live API on a local
    chain; report who earned what (on-chain) with a plot of reliability against reward."""
    from labelshare.client import LabelShareClient
    from labelshare.config import LOCAL_CHAIN_IDS
    from labelshare.demo import dev_account, wait_for_api
    from labelshare.simulation import SimulationConfig, run_simulation, write_report

    cli = state(ctx)
    api = (api or cli.api).rstrip("/")
    wait_for_api(api)
    with LabelShareClient(api) as client:
        reader = client.chain_reader(cli.rpc_url)  # the deployment and chain this API names
    if reader.w3.eth.chain_id not in LOCAL_CHAIN_IDS:
        raise typer.BadParameter("the simulation signs as anvil's development accounts: local chains only")
    config = SimulationConfig(annotators=annotators, spammer_share=spammer_share, seed=seed)
    # anvil's published development accounts #4 (the local requester) and #0 (the local admin).
    report = run_simulation(api, dev_account(4), dev_account(0), reader.token, config, log=console.print)
    paths = write_report(report, out)
    console.print(paths["md"].read_text())
    console.print(f"written: {', '.join(str(p) for p in paths.values())}")
