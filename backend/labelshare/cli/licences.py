"""Dataset licences and revenue: ``labelshare licence ...`` (publish, terms, buy, list,
withdraw), ``labelshare revenue`` and ``labelshare claim``. Buying, setting terms, claiming and
withdrawing are transactions this wallet signs and sends; the rest reads the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from eth_utils import is_address, to_checksum_address
from rich.table import Table

from labelshare.cli.common import api_client, app, console, fail, state
from labelshare.client import ETH, LabelShareClient, human_amount, parse_amount

licence_app = typer.Typer(no_args_is_help=True, help="Dataset licences: publish versions, set terms, buy, withdraw.")
app.add_typer(licence_app, name="licence")

ProjectId = Annotated[int, typer.Argument(min=1)]
Currency = Annotated[str, typer.Option(help="eth, tusd (the local test stablecoin) or an ERC-20 address")]


def _currency(client: LabelShareClient, name: str) -> tuple[str, str, int]:
    """(address, symbol, decimals) of ``name``."""
    if name.lower() == "eth":
        return ETH, "ETH", 18
    if name.lower() == "tusd":
        address = client.chain_info().get("stablecoin")
        if not address:
            raise fail("this deployment has no test stablecoin (local chains only): pass an ERC-20 address")
    elif is_address(name):
        address = to_checksum_address(name)
    else:
        raise fail(f"unknown currency {name!r}: eth, tusd or an ERC-20 address")
    erc20 = client.chain_reader().erc20(address)  # the caller bound the reader to --rpc-url
    return address, erc20.functions.symbol().call(), erc20.functions.decimals().call()


def _amount(row: dict[str, Any], key: str) -> str:
    return f"{human_amount(int(row[key]), row['decimals'])} {row['symbol']}"


@licence_app.command("versions")
def versions(ctx: typer.Context, project_id: ProjectId) -> None:
    """The project's published dataset versions."""
    with api_client(ctx, signed_in=False) as client:
        rows = client.versions(project_id)
    table = Table(title=f"project {project_id}: dataset versions")
    for column in ("version", "epochs", "total shares", "shares root", "published"):
        table.add_column(column)
    for v in rows:
        table.add_row(str(v["version_id"]), f"{v['from_epoch']}-{v['to_epoch']}", human_amount(int(v["total_shares"])),
                      v["shares_root"], str(v["published_at"]))
    console.print(table)


@licence_app.command("publish")
def publish(ctx: typer.Context, project_id: ProjectId) -> None:
    """Publish the project's next dataset version: its settled epochs and each contributor's shares."""
    with api_client(ctx) as client:
        v = client.publish_version(project_id)
    console.print(f"version {v['version_id']} of project {project_id}: epochs {v['from_epoch']}-{v['to_epoch']}, "
                  f"shares root {v['shares_root']} (tx {v['tx_hash']})")


@licence_app.command("terms")
def terms(
    ctx: typer.Context, project_id: ProjectId,
    price: Annotated[str | None, typer.Option(help="licence price in the currency (e.g. 0.5); 0 stops sales")] = None,
    currency: Currency = "eth",
    requester_share: Annotated[float | None, typer.Option(
        min=0, max=50, help="your share of each sale, percent (at most 50)")] = None,
) -> None:
    """Set the project's licence price in a currency and/or the requester's share (owner's wallet)."""
    if price is None and requester_share is None:
        raise fail("nothing to set: pass --price and/or --requester-share")
    cli = state(ctx)
    with api_client(ctx, wallet=True) as client:
        client.chain_reader(cli.rpc_url)
        address, symbol, decimals = _currency(client, currency)
        amount = parse_amount(price, decimals) if price is not None else None
        bps = round(requester_share * 100) if requester_share is not None else None
        hashes = client.set_licence_terms(project_id, amount, address, bps)
    if amount is not None:
        console.print(f"project {project_id}: licence price {human_amount(amount, decimals)} {symbol}")
    if bps is not None:
        console.print(f"project {project_id}: requester share {bps / 100:g}%")
    console.print(f"tx {', '.join(hashes)}")


@licence_app.command("buy")
def buy(
    ctx: typer.Context, version_id: Annotated[int, typer.Argument(min=1)], currency: Currency = "eth",
    max_price: Annotated[str | None, typer.Option(help="refuse to pay more than this")] = None,
) -> None:
    """Buy a licence to a dataset version from this wallet (approving an ERC-20 first if needed)."""
    cli = state(ctx)
    with api_client(ctx, wallet=True) as client:
        client.chain_reader(cli.rpc_url)
        address, symbol, decimals = _currency(client, currency)
        limit = parse_amount(max_price, decimals) if max_price is not None else None
        bought = client.buy_licence(version_id, address, limit)
    console.print(f"licence {bought['licence_id']}: version {version_id} of project {bought['project_id']} for "
                  f"{human_amount(bought['price'], decimals)} {symbol} (tx {bought['tx_hash']})")
    console.print(f"export it: labelshare project export {bought['project_id']} --version {version_id}")


@licence_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Licences this wallet bought."""
    with api_client(ctx) as client:
        rows = client.my_licences()
    table = Table(title="my licences")
    for column in ("licence", "project", "version", "price", "currency", "tx"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["licence_id"]), str(r["project_id"]), str(r["version_id"]), r["price"], r["currency"],
                      r["tx_hash"])
    console.print(table)


@licence_app.command("withdraw")
def withdraw(ctx: typer.Context, currency: Currency = "eth") -> None:
    """Withdraw what sales credited to this wallet (a requester's share)."""
    cli = state(ctx)
    with api_client(ctx, wallet=True) as client:
        client.chain_reader(cli.rpc_url)
        address, symbol, decimals = _currency(client, currency)
        amount = client.withdraw_revenue(address)
    console.print(f"withdrew {human_amount(amount, decimals)} {symbol}" if amount else f"nothing owed in {symbol}")


@app.command()
def revenue(ctx: typer.Context,
            project_id: Annotated[int | None, typer.Argument(min=1, help="a project's revenue (default: mine)")] = None,
            ) -> None:
    """Licence revenue: a project's sales and pools, or my shares and what I can claim."""
    if project_id is None:
        with api_client(ctx) as client:
            rows = client.my_revenue()
        table = Table(title="my licence revenue")
        for column in ("version", "project", "shares", "claimed", "claimable"):
            table.add_column(column)
        for r in rows:
            table.add_row(str(r["version_id"]), str(r["project_id"]),
                          f"{int(r['shares']) * 100 / int(r['total_shares']):.2f}%",
                          _amount(r, "claimed"), _amount(r, "claimable"))
        console.print(table)
        return
    with api_client(ctx, signed_in=False) as client:
        summary = client.project_revenue(project_id)
    prices = ", ".join(f"{human_amount(int(p['price']), p['decimals'])} {p['symbol']}" for p in summary["prices"])
    console.print(f"project {project_id}: price {prices or 'not for sale'}; protocol fee "
                  f"{summary['fee_bps'] / 100:g}%, requester share {summary['requester_share_bps'] / 100:g}%, "
                  f"{len(summary['sales'])} licence(s) sold")
    table = Table(title=f"project {project_id}: contributors' revenue")
    for column in ("version", "epochs", "contributors", "paid in", "claimed", "claimable", "dust"):
        table.add_column(column)
    for v in summary["versions"]:
        for p in v["pools"] or [None]:
            cells = [_amount(p, k) for k in ("contributed", "claimed", "claimable", "dust")] if p else ["—"] * 4
            table.add_row(str(v["version_id"]), f"{v['from_epoch']}-{v['to_epoch']}", str(v["contributors"]), *cells)
    console.print(table)


@app.command()
def claim(ctx: typer.Context,
          version_id: Annotated[int | None, typer.Option("--version", min=1, help="one version only")] = None) -> None:
    """Claim my share of licence revenue (every version and currency with something to claim)."""
    cli = state(ctx)
    with api_client(ctx, wallet=True) as client:
        client.chain_reader(cli.rpc_url)
        paid = client.claim_revenue(version_id)
    if not paid:
        console.print("nothing to claim")
    for p in paid:
        console.print(f"version {p['version_id']}: claimed {human_amount(p['amount'], p['decimals'])} {p['symbol']} "
                      f"(tx {p['tx_hash']})")
