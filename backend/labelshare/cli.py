"""``labelshare``: the backend's command line (serve the API, settle, audit)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from labelshare.audit import AuditReport, run_audit
from labelshare.config import get_settings

app = typer.Typer(help="LabelShare backend: serve the API, settle epochs, audit rewards.", no_args_is_help=True)
console = Console()


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API (and the settlement worker) with uvicorn."""
    import uvicorn

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

    store = ManifestStore(manifests or get_settings().manifests_dir)

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
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]MISMATCH[/]", check.detail)
    console.print(table)
    console.print(f"epochs {report.epochs}, annotations {report.annotations}, minted {report.minted}, "
                  f"total supply {report.total_supply}, proofs checked on-chain {report.proofs_checked_on_chain}")
    console.print("[bold green]audit clean[/]" if report.ok else "[bold red]audit FAILED[/]")


@app.command()
def audit(
    manifests: Annotated[Path | None, typer.Option(help="folder of epoch-<id>.json manifests")] = None,
    api: Annotated[str | None, typer.Option(help="read manifests from this API instead, e.g. http://127.0.0.1:8000")] = None,
    sample: Annotated[int, typer.Option(help="inclusion proofs to verify on-chain per epoch")] = 20,
) -> None:
    """Rebuild every reward from chain events and manifests; exit 1 on any mismatch."""
    from labelshare.chain import Chain

    chain = Chain(get_settings())
    report = run_audit(chain.w3, chain.ledger, chain.token, chain.deployment.block_number,
                       _manifest_source(manifests, api), sample=sample)
    print_report(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def settle(force: Annotated[bool, typer.Option(help="close an epoch even if it is not due")] = True) -> None:
    """Finish unsettled epochs, then close and settle one now."""
    from labelshare.chain import Chain
    from labelshare.db.engine import make_engine, make_session_factory, upgrade_database
    from labelshare.manifests import ManifestStore
    from labelshare.settlement import Settler

    settings = get_settings()
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    settler = Settler(make_session_factory(engine), Chain(settings), settings, ManifestStore(settings.manifests_dir))
    epoch_id = settler.run_once(force=force)
    console.print(f"settled epoch {epoch_id}" if epoch_id is not None else "nothing to settle")


if __name__ == "__main__":
    app()
