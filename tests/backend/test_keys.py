"""Service keys: from an env-provided key, an encrypted keystore, or (local chains only) anvil's
published development keys; never shown in settings' repr or in errors."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from labelshare.chain import load_key
from labelshare.config import DEV_KEYS, Settings
from labelshare.errors import ChainError


@pytest.mark.parametrize("role", ["verifier", "qualifier", "registrar"])
def test_loadKey_fromEncryptedKeystore(tmp_path, role):
    account = Account.create()
    keystore = tmp_path / f"{role}.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "correct horse")))
    settings = Settings(**{f"{role}_keystore": keystore, f"{role}_keystore_password": "correct horse"})
    assert load_key(settings, role, chain_id=8453).address == account.address


def test_loadKey_wrongPassword_errorsWithoutSecrets(tmp_path):
    account = Account.create()
    keystore = tmp_path / "verifier.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, "correct horse")))
    settings = Settings(verifier_keystore=keystore, verifier_keystore_password="wrong pony")
    with pytest.raises(ChainError) as err:
        load_key(settings, "verifier", chain_id=8453)
    assert "wrong pony" not in str(err.value) and account.key.hex() not in str(err.value)


def test_loadKey_devKeysOnlyOnLocalChains():
    assert load_key(Settings(), "verifier", chain_id=31337).address == Account.from_key(DEV_KEYS["verifier"]).address
    with pytest.raises(ChainError, match="no verifier key"):
        load_key(Settings(), "verifier", chain_id=1)
    with pytest.raises(ChainError, match="no verifier key"):
        load_key(Settings(allow_dev_keys=False), "verifier", chain_id=31337)


def test_settings_neverShowKeys():
    key = Account.create().key.hex()
    settings = Settings(verifier_key=key, verifier_keystore_password="hunter2")
    assert key not in repr(settings) and key not in str(settings.model_dump())
    assert "hunter2" not in repr(settings)
    assert load_key(settings, "verifier", chain_id=1).key.hex() == key.removeprefix("0x")
