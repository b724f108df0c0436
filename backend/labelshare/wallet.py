"""An annotator's or requester's wallet on disk: an encrypted JSON keystore (Web3 Secret Storage,
the format geth, MetaMask exports and eth-account share), through eth-account. The private key
exists only in memory after ``unlock``; nothing here prints or logs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from labelshare.errors import InvalidInput

__all__ = ["WalletError", "create_keystore", "import_keystore", "keystore_address", "unlock"]


class WalletError(InvalidInput):
    """A keystore that is missing, unreadable, or whose password is wrong."""


def _write(path: Path, account: LocalAccount, password: str, overwrite: bool) -> str:
    if not password:
        raise WalletError("the keystore password must not be empty", field="password")
    if path.exists() and not overwrite:
        raise WalletError(f"{path} already exists; pass --force to replace it (the old key is lost)", field="keystore")
    path.parent.mkdir(parents=True, exist_ok=True)
    keystore = Account.encrypt(account.key, password)
    tmp = path.with_suffix(path.suffix + ".tmp")
    # Owner-only from the first byte: the file never exists with looser permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keystore, f)
    tmp.replace(path)
    return account.address


def create_keystore(path: Path, password: str, overwrite: bool = False) -> str:
    """A new random key, encrypted into ``path``; returns its address."""
    return _write(path, Account.create(), password, overwrite)


def import_keystore(path: Path, private_key: str, password: str, overwrite: bool = False) -> str:
    """An existing private key (hex), encrypted into ``path``; returns its address."""
    try:
        account = Account.from_key(private_key.strip())
    except (ValueError, TypeError):
        raise WalletError("that is not a 32-byte hex private key", field="private_key") from None
    return _write(path, account, password, overwrite)


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WalletError(f"no keystore at {path}: create one with `labelshare wallet create`",
                          field="keystore") from None
    except (OSError, ValueError) as err:
        raise WalletError(f"cannot read the keystore {path}: {type(err).__name__}", field="keystore") from None
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        raise WalletError(f"{path} is not an encrypted JSON keystore", field="keystore")
    return data


def keystore_address(path: Path) -> str:
    """The keystore's address, without its password."""
    data = _read(path)
    address = data.get("address")
    if not isinstance(address, str):
        raise WalletError(f"{path} does not name its address; unlock it to see it", field="keystore")
    return to_checksum_address(address)


def unlock(path: Path, password: str) -> LocalAccount:
    """The account in ``path``; WalletError on a wrong password (never echoing it)."""
    data = _read(path)
    try:
        return Account.from_key(Account.decrypt(data, password))
    except ValueError:
        raise WalletError(f"wrong password for {path}", field="password") from None
