"""``labelshare wallet``: create or import the encrypted keystore the other commands sign with."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from labelshare.cli.common import app, console, state, wallet_password
from labelshare.wallet import create_keystore, import_keystore

wallet_app = typer.Typer(no_args_is_help=True, help="Create or import your wallet (an encrypted JSON keystore).")
app.add_typer(wallet_app, name="wallet")

Force = Annotated[bool, typer.Option("--force", help="replace an existing keystore (its key is lost)")]


@wallet_app.command()
def create(ctx: typer.Context, force: Force = False) -> None:
    """A new key, encrypted with a password (prompted, or LABELSHARE_WALLET_PASSWORD)."""
    path = state(ctx).keystore
    address = create_keystore(path, wallet_password(confirm=True), overwrite=force)
    console.print(f"wallet [bold]{address}[/] created in {path}")
    console.print("[dim]back up the keystore file and its password: neither can be recovered[/]")


@wallet_app.command("import")
def import_(ctx: typer.Context, force: Force = False) -> None:
    """An existing private key, typed at a hidden prompt (or LABELSHARE_IMPORT_KEY), encrypted
    into the keystore; the key is never shown."""
    path = state(ctx).keystore
    key = os.environ.get("LABELSHARE_IMPORT_KEY") or typer.prompt("Private key (hex)", hide_input=True)
    address = import_keystore(path, key, wallet_password(confirm=True), overwrite=force)
    console.print(f"wallet [bold]{address}[/] imported into {path}")


@wallet_app.command()
def address(ctx: typer.Context) -> None:
    """The wallet's address (no password needed)."""
    console.print(state(ctx).address())
