"""What every ``labelshare`` command shares: the root app (whose group turns API rejections and
wallet or network failures into one clear line and exit code 1, never a traceback), where the
wallet and sessions live, and how a command gets a signed-in SDK client."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import click
import httpx
import requests
import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from typer.core import TyperGroup

from labelshare.client import ApiError, ChainTxError, ChainUnreachable, LabelShareClient
from labelshare.chain import redact_url
from labelshare.config import Settings, get_settings
from labelshare.errors import LabelShareError
from labelshare.wallet import keystore_address, unlock

__all__ = ["CliState", "app", "console", "fail", "state", "wallet_password"]

PIPED_WIDTH = 10_000  # piped output: tables at their natural width, hashes never wrapped inside a cell


def _console(stderr: bool = False) -> Console:
    """A console that, writing to a pipe or file, lays lines and tables out unwrapped (rich would
    fold them to 80 columns, splitting hashes across lines)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPED_WIDTH)


console = _console()
err_console = _console(stderr=True)
DEFAULT_API = "http://127.0.0.1:8000"
PASSWORD_ENV = "LABELSHARE_WALLET_PASSWORD"


def fail(message: str, hint: str | None = None) -> typer.Exit:
    """Prints ``error: message`` (and a hint) to stderr; returns the Exit(1) to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    if hint:
        err_console.print(f"[dim]{hint}[/]", highlight=False)
    return typer.Exit(1)


class ErrorReportingGroup(TyperGroup):
    """Runs a command; the failures a user can act on become one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as err:
            where = f" (field {err.field})" if err.field else ""
            hint = "sign in again with `labelshare login`" if err.status == 401 else None
            raise fail(f"{err.detail}{where} [{err.status} {err.code}]", hint) from None
        except LabelShareError as err:
            raise fail(err.detail + (f" (field {err.field})" if err.field else "")) from None
        except (ChainTxError, ChainUnreachable) as err:
            raise fail(str(err)) from None
        except httpx.TransportError as err:
            api = ctx.obj.api if isinstance(ctx.obj, CliState) else "the API"
            raise fail(f"cannot reach {api}: {type(err).__name__}",
                       "is the API running? `make up` starts a local one; --api / LABELSHARE_API points "
                       "elsewhere") from None
        except requests.exceptions.ConnectionError:
            rpc = ctx.obj.rpc_url if isinstance(ctx.obj, CliState) else None
            raise fail(f"cannot reach the chain at {redact_url(rpc) if rpc else 'the RPC URL the API names'}",
                       "pass --rpc-url / LABELSHARE_RPC_URL") from None


app = typer.Typer(cls=ErrorReportingGroup, no_args_is_help=True, rich_markup_mode="rich",
                  help="LabelShare: label data with your wallet, run projects, settle and audit rewards.")


def labelshare_home() -> Path:
    return Path(os.environ.get("LABELSHARE_HOME") or Path.home() / ".labelshare")


@dataclass
class CliState:
    api: str
    keystore: Path
    rpc_url: str | None

    @property
    def sessions_file(self) -> Path:
        return labelshare_home() / "sessions.json"

    # ------------------------------------------------------------- sessions

    def _sessions(self) -> dict[str, Any]:
        try:
            data = json.loads(self.sessions_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def saved_session(self, address: str) -> dict[str, Any] | None:
        """This address's unexpired session with this API, if one was saved."""
        session = self._sessions().get(f"{self.api}|{address.lower()}")
        if not session:
            return None
        expires = datetime.fromisoformat(session["expires_at"].replace("Z", "+00:00"))
        # A minute of margin, so a command does not start with a session about to lapse.
        return session if expires > datetime.now(UTC) + timedelta(minutes=1) else None

    def save_session(self, session: dict[str, Any]) -> None:
        sessions = self._sessions()
        sessions[f"{self.api}|{session['address'].lower()}"] = {
            "token": session["token"], "expires_at": str(session["expires_at"]), "requester": session["requester"]}
        self._write_private(sessions)

    def forget_sessions(self) -> int:
        sessions = self._sessions()
        kept = {k: v for k, v in sessions.items() if not k.startswith(f"{self.api}|")}
        self._write_private(kept)
        return len(sessions) - len(kept)

    def _write_private(self, data: dict[str, Any]) -> None:
        # Session tokens are bearer credentials: owner-only, like the keystore.
        self.sessions_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.sessions_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        tmp.replace(self.sessions_file)

    def service_settings(self) -> Settings:
        """The service's settings (LABELSHARE_* variables) with this command line's --rpc-url,
        for the commands that open the deployment themselves (serve, settle, audit)."""
        settings = get_settings()
        return settings.model_copy(update={"rpc_url": self.rpc_url}) if self.rpc_url else settings

    # -------------------------------------------------------------- clients

    def address(self) -> str:
        return keystore_address(self.keystore)

    def unlock(self) -> LocalAccount:
        return unlock(self.keystore, wallet_password())

    def client(self, signed_in: bool = True, wallet: bool = False) -> LabelShareClient:
        """An SDK client for this API: with a session (resumed, or a fresh sign-in that unlocks the
        wallet) when ``signed_in``, and with the unlocked wallet when ``wallet`` (to sign)."""
        if not signed_in and not wallet:
            return LabelShareClient(self.api)
        address = self.address()
        session = self.saved_session(address) if signed_in else None
        account = self.unlock() if wallet or (signed_in and session is None) else None
        client = LabelShareClient(self.api, account, token=session["token"] if session else None, address=address)
        if signed_in and session is None:
            self.save_session(client.sign_in())
        return client


def wallet_password(confirm: bool = False) -> str:
    """The keystore password from LABELSHARE_WALLET_PASSWORD, else a hidden prompt."""
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    return typer.prompt("Wallet password", hide_input=True, confirmation_prompt=confirm)


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState), "the root callback sets the state"
    return obj


@app.callback()
def main(
    ctx: typer.Context,
    api: Annotated[str, typer.Option(envvar="LABELSHARE_API", help="the LabelShare API")] = DEFAULT_API,
    keystore: Annotated[Path | None, typer.Option(
        envvar="LABELSHARE_KEYSTORE", help="encrypted JSON keystore [default: ~/.labelshare/keystore.json]")] = None,
    rpc_url: Annotated[str | None, typer.Option(
        envvar="LABELSHARE_RPC_URL", help="chain RPC for balances and proofs [default: the one the API names]")] = None,
) -> None:
    ctx.obj = CliState(api.rstrip("/"), keystore or labelshare_home() / "keystore.json", rpc_url)


@contextmanager
def api_client(ctx: typer.Context, signed_in: bool = True, wallet: bool = False) -> Iterator[LabelShareClient]:
    client = state(ctx).client(signed_in=signed_in, wallet=wallet)
    try:
        yield client
    finally:
        client.close()
