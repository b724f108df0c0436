"""``ape run bench_gas --network ethereum:local:foundry``: the gas part of ``make bench``.

Ape starts a fresh anvil (``foundry: host: auto`` in ape-config.yaml); the protocol is deployed
with ``labelshare.admin.deploy.deploy_protocol`` to anvil's published development accounts (local
use only). The measurements are in ``benchmarks/gas.py``; this writes them as JSON (``--out``,
default ``.bench/gas.json``) and, with ``--markdown``, their tables. It measures and reports; it
never fails on a target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from ape import accounts, chain, project
from ape.cli import ConnectedProviderCommand

# `benchmarks` is a folder of the repository, not an installed package, and cchecksum (an Ape
# dependency) installs a stray top-level `benchmarks` package of its own: put ours first.
ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))
_loaded = sys.modules.get("benchmarks")
if _loaded is not None and Path(getattr(_loaded, "__file__", "") or "").parent != ROOT / "benchmarks":
    del sys.modules["benchmarks"]

from benchmarks.gas import markdown, run  # noqa: E402


@click.command(cls=ConnectedProviderCommand)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path(".bench/gas.json"),
              show_default=True, help="Where to write the JSON result.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the Markdown tables here.")
def cli(ecosystem, network, provider, out, markdown_out):
    """Measure settlement, reference-mint and proof-verification gas on a fresh local chain."""
    if not network.is_local:
        raise click.UsageError("bench_gas uses development accounts and snapshots: run it on a local network")
    if chain.blocks.height > 0:
        click.echo(f"warning: the chain is at block {chain.blocks.height}, not fresh", err=True)
    result = run(provider, chain, project, accounts.test_accounts, log=lambda m: click.echo(m, err=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    report = markdown(result)
    if markdown_out:
        markdown_out.parent.mkdir(parents=True, exist_ok=True)
        markdown_out.write_text(report)
    click.echo(report)
    click.echo(f"Wrote {out}")
