"""The README agrees with the code: its generated sections are what the code generates, the local
accounts it names hold the roles the deploy script and the settings give them, and a rejection it
documents answers with the status and code it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from labelshare.config import DEV_KEYS, DEV_REQUESTER

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MNEMONIC = "test test test test test test test test test test test junk"  # anvil's published one: local only
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

Account.enable_unaudited_hdwallet_features()
DEV_ADDRESSES = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address for i in range(10)]


def documented(status: int, code: str) -> str:
    """The README's generated row for an error code with this status ("" when there is none)."""
    row = re.search(rf"^\| {status} \| `{code}` \| (.+) \|$", README, re.MULTILINE)
    return row.group(1) if row else ""


def test_readme_generatedSections_areWhatTheCodeGenerates():
    result = subprocess.run([sys.executable, "tools/readme/sections.py", "--check", "README.md"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<!-- errors:begin" in README and "<!-- upload-formats:begin" in README


def test_readme_localAccounts_holdTheRolesTheCodeGivesThem():
    # scripts/deploy.py's local roles and the settings' default requester and service keys.
    roles = {"admin": 0, "guardian": 0, "verifier": 1, "qualifier": 2, "registrar": 3,
             "requester": DEV_ADDRESSES.index(DEV_REQUESTER)}
    for role in ("verifier", "qualifier", "registrar"):
        assert Account.from_key(DEV_KEYS[role]).address == DEV_ADDRESSES[roles[role]], role
    claims = re.findall(r"#(\d) (admin|guardian|verifier|qualifier|registrar|requester)\b", README)
    assert claims, "the README names no local account's role"
    for number, role in claims:
        assert int(number) == roles[role], f"README: #{number} {role}; the code: #{roles[role]} {role}"
    assert f"development account #{roles['requester']}, `{DEV_REQUESTER}`" in README
    # The CLI walkthrough imports the requester's key: it must be the allowed requester's.
    for key in re.findall(r"LABELSHARE_IMPORT_KEY=(0x[0-9a-f]{64})", README):
        assert Account.from_key(key).address == DEV_REQUESTER


@SQLITE
def test_readme_reusedSignInNonce_answersAsDocumented(api, wallet):
    w = wallet()
    w.sign_in(api)
    with api.client() as c:
        nonce = c.get("/auth/nonce").json()["nonce"]
        chain_id = c.get("/chain").json()["chain_id"]
        message = w.siwe_message(nonce, chain_id, domain=api.app.state.settings.siwe_domain)
        body = {"message": message, "signature": w.sign_text(message)}
        assert c.post("/auth/verify", json=body).status_code == 200
        again = c.post("/auth/verify", json=body)
    answer = again.json()
    assert (again.status_code, answer["error"]) == (403, "forbidden"), answer
    assert "sign-in nonce" in documented(again.status_code, answer["error"])
