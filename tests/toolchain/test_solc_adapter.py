"""The solc-js adapter behaves like the native solc command line for the tools that drive it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import solcx
from solcx.exceptions import SolcError

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "tools" / "solc" / "solc"
NODE_MODULES = ROOT / "node_modules"
SOLC_VERSION = "0.8.30"

TOKEN_SOURCE = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract Probe is ERC20 { constructor() ERC20("Probe", "PRB") {} }
"""


def _standard_input(sources: dict[str, str], outputs: list[str]) -> dict:
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "remappings": ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
            "outputSelection": {"*": {"*": outputs}},
        },
    }


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ADAPTER), *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_version_matchesNativeFormat():
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "solc, the solidity compiler commandline interface"
    assert result.stdout.splitlines()[1].startswith(f"Version: {SOLC_VERSION}+commit.")


def test_solcx_getSolcVersion_readsAdapter():
    assert str(solcx.wrapper.get_solc_version(ADAPTER)) == SOLC_VERSION


def test_solcx_compileStandard_resolvesNpmImports():
    output = solcx.compile_standard(
        _standard_input({"Probe.sol": TOKEN_SOURCE}, ["abi", "evm.bytecode.object"]),
        solc_binary=ADAPTER, base_path=str(ROOT), allow_paths=[str(NODE_MODULES)],
    )
    probe = output["contracts"]["Probe.sol"]["Probe"]
    assert {f["name"] for f in probe["abi"] if f["type"] == "function"} >= {"transfer", "balanceOf"}
    assert len(probe["evm"]["bytecode"]["object"]) > 1000


def test_solcx_compileStandard_raisesOnCompileError():
    with pytest.raises(SolcError, match="DeclarationError|ParserError"):
        solcx.compile_standard(
            _standard_input({"Bad.sol": "pragma solidity ^0.8.0; contract B { function f() public { x = 1; } }"},
                            ["abi"]),
            solc_binary=ADAPTER,
        )


def test_standardJson_largeOutputArrivesWhole():
    # Every project contract with ASTs and both bytecodes: several MB, more than a pipe buffer.
    sources = {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "contracts").rglob("*.sol")
               if ".cache" not in p.parts}
    request = _standard_input(sources, ["abi", "evm.bytecode", "evm.deployedBytecode", "storageLayout"])
    request["settings"]["outputSelection"]["*"][""] = ["ast"]
    result = _run("--standard-json", "--base-path", str(ROOT), stdin=json.dumps(request))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) > 1_000_000
    output = json.loads(result.stdout)
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert "LabelLedger" in output["contracts"]["contracts/LabelLedger.sol"]


def test_standardJson_refusesImportsOutsideAllowedPaths(tmp_path):
    secret = tmp_path / "outside" / "Secret.sol"
    secret.parent.mkdir()
    secret.write_text("pragma solidity ^0.8.0; contract Secret {}")
    base = tmp_path / "base"
    base.mkdir()
    request = _standard_input({"A.sol": f'import "{secret}"; contract A {{}}'}, ["abi"])
    result = _run("--standard-json", "--base-path", str(base), stdin=json.dumps(request))
    errors = json.loads(result.stdout)["errors"]
    assert any("outside the allowed directories" in e["message"] for e in errors)
    # The same import compiles once its folder is allowed.
    allowed = _run("--standard-json", "--base-path", str(base), "--allow-paths", str(secret.parent),
                   stdin=json.dumps(request))
    assert "A" in json.loads(allowed.stdout)["contracts"]["A.sol"]


def test_unsupportedOption_failsWithMessage():
    result = _run("--bin", "X.sol")
    assert result.returncode != 0
    assert "unsupported option --bin" in result.stderr


def test_apeSolidity_usesAdapter(compilers):
    # ape-solidity picks compilers from py-solc-x's install folder, where setup links the adapter.
    versions = [str(v) for v in compilers.solidity.installed_versions]
    assert versions == [SOLC_VERSION]
    assert solcx.install.get_executable(SOLC_VERSION).resolve() == ADAPTER.resolve()
