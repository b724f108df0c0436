"""The deployment manifest: where the protocol's contracts live on one chain.

``ape run deploy`` writes it; the backend, the audit and later scripts read it. Addresses come
only from here and ABIs only from the Ape build (``abi_source``), never from hand-copied JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ContractRecord", "Deployment", "load_abi", "manifest_path", "run_dir"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ABI_SOURCE = ".build/__local__.json"
# The state folder of `make up`'s default stack; the Makefile names every stack's folder the same
# way, .run/<anvil port>-<API port> (its STACK_DIR), and passes it in LABELSHARE_RUN_DIR.
DEFAULT_RUN_DIR = PROJECT_ROOT / ".run" / "8545-8000"


@dataclass(frozen=True)
class ContractRecord:
    address: str
    contract_type: str  # the contract's name in the Ape build


@dataclass(frozen=True)
class Deployment:
    network: str  # Ape network choice, e.g. "ethereum:local:foundry"
    chain_id: int
    block_number: int  # block of the last deployment transaction
    block_hash: str  # tells a reset chain with the same id from the one deployed to
    deployer: str
    # "timelock", "token", "ledger", "licences", "staking" (+ "stablecoin" locally)
    contracts: dict[str, ContractRecord]
    roles: dict[str, str]  # "admin", "guardian", "verifier", "qualifier", "requester"
    parameters: dict[str, Any] = field(default_factory=dict)
    abi_source: str = DEFAULT_ABI_SOURCE

    def address(self, name: str) -> str:
        return self.contracts[name].address

    def abi(self, name: str, root: Path = PROJECT_ROOT) -> list[dict[str, Any]]:
        return load_abi(root / self.abi_source, self.contracts[name].contract_type)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)  # atomic: readers never see half a manifest

    @classmethod
    def load(cls, path: Path) -> Deployment:
        data = json.loads(Path(path).read_text())
        data["contracts"] = {k: ContractRecord(**v) for k, v in data["contracts"].items()}
        return cls(**data)


def run_dir() -> Path:
    """The local stack's state folder (chain state, database, manifests, logs, pid files, its
    deployment record): LABELSHARE_RUN_DIR, else the default stack's. Two stacks on other ports
    share none of it."""
    return Path(os.environ.get("LABELSHARE_RUN_DIR") or DEFAULT_RUN_DIR)


def manifest_path(ecosystem: str, network: str) -> Path:
    """Where the manifest for an Ape ecosystem/network pair lives: LABELSHARE_DEPLOYMENTS_DIR if
    set, else the local stack's folder for a local chain (each anvil has its own contracts) and
    ``deployments/`` for a public one."""
    default = run_dir() if network == "local" else PROJECT_ROOT / "deployments"
    folder = Path(os.environ.get("LABELSHARE_DEPLOYMENTS_DIR") or default)
    return folder / f"{ecosystem}-{network}.json"


def load_abi(build_manifest: Path, contract_type: str) -> list[dict[str, Any]]:
    """A contract's ABI from the package manifest that ``ape compile`` writes."""
    try:
        manifest = json.loads(Path(build_manifest).read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{build_manifest} is missing: run `ape compile` first") from err
    try:
        abi: list[dict[str, Any]] = manifest["contractTypes"][contract_type]["abi"]
    except KeyError as err:
        raise KeyError(f"{contract_type} is not in {build_manifest}: run `ape compile`") from err
    return abi
