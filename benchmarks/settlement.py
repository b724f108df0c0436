"""Settlement at scale: close and settle one epoch of N accepted annotations with the backend's own
``Settler`` against a fresh anvil, and time each phase; then inclusion proofs generated and
verified per second.

    python -m benchmarks.settlement --annotations 100000 --annotators 1000 --out .bench/settlement.json

The accepted annotations are inserted straight into the database (100,000 signed submissions
through the API would measure the API, which ``benchmarks.api_load`` does); everything from
there on is the production path: the epoch is planned (leaves, Merkle tree, payouts, chunks), its
manifest written, the plan persisted, every chunk signed, sent and its receipt awaited.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from eth_account import Account
from sqlalchemy import create_engine, insert, text

from benchmarks.stack import DEV_REQUESTER_KEY, local_stack
from labelshare.chain import Chain
from labelshare.config import Settings
from labelshare.db.engine import make_engine, make_session_factory, upgrade_database
from labelshare.db.models import Submission, Task, utcnow
from labelshare.manifests import ManifestStore
from labelshare.merkle import verify_proof
from labelshare.projects import ProjectCreate, create_project
from labelshare.settlement import Settler
from labelshare.tasks import task_key

__all__ = ["markdown", "run"]

REWARD = 10**15  # 0.001 token per label: 100,000 labels stay far below the epoch mint cap
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class _Timed:
    """Wraps a Settler method to record how long each call took."""

    def __init__(self, settler: Settler, name: str, phases: dict[str, float]) -> None:
        self.inner, self.name, self.phases = getattr(settler, name), name, phases

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.phases[self.name] = self.phases.get(self.name, 0.0) + time.perf_counter() - started


def _seed(database_url: str, project_id: int, annotations: int, annotators: int) -> float:
    """Inserts ``annotations`` tasks, each with one accepted submission; returns seconds taken."""
    wallets = [Account.create().address for _ in range(annotators)]
    now = utcnow()
    started = time.perf_counter()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        batch = 10_000
        for first in range(0, annotations, batch):
            ids = range(first, min(first + batch, annotations))
            conn.execute(insert(Task), [
                {"id": i + 1, "project_id": project_id, "external_id": f"t{i}", "task_key": task_key(project_id, f"t{i}"), "data": {"text": f"item {i}"}, "is_gold": False,
                 "submission_count": 1, "complete": True, "verified_label": {"label": "a"}, "confidence": 1.0,
                 "reviewed_at": now, "created_at": now} for i in ids])
            conn.execute(insert(Submission), [
                {"id": i + 1, "task_id": i + 1, "project_id": project_id, "annotator": wallets[i % annotators],
                 "payload": '{"label":"a"}', "label_hash": "0x" + secrets.token_hex(32), "nonce": i,
                 "deadline": 2**40, "signature": "0x" + "00" * 65, "status": "accepted", "reward": REWARD,
                 "quality_factor_bps": 10_000, "created_at": now - timedelta(minutes=1), "decided_at": now,
                 "accepted_at": now} for i in ids])
    engine.dispose()
    return time.perf_counter() - started


def _database(kind: str, folder: Path) -> tuple[str, Any]:
    """A fresh database URL of ``kind`` and a function that drops it."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'settlement.db'}", lambda: None
    name = f"labelshare_bench_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def run_one(kind: str, annotations: int, annotators: int, folder: Path) -> dict[str, Any]:
    with local_stack(folder / f"chain-{kind}") as stack:
        database_url, drop = _database(kind, folder)
        try:
            settings = Settings(rpc_url=stack.rpc_url, database_url=database_url,
                                deployment_file=stack.deployment_file, manifests_dir=folder / f"manifests-{kind}",
                                epoch_max_annotations=annotations, settlement_enabled=False)
            engine = make_engine(database_url)
            upgrade_database(engine)
            sessions = make_session_factory(engine)
            chain = Chain(settings)
            with sessions.begin() as session:
                project = create_project(session, chain, Account.from_key(DEV_REQUESTER_KEY).address, ProjectCreate(
                    name="bench", label_schema={"type": "classification", "labels": ["a", "b"]},
                    reward_per_label=str(REWARD), overlap=1))
                project_id = project.id
            seed_seconds = _seed(database_url, project_id, annotations, annotators)
            settler = Settler(sessions, chain, settings, ManifestStore(settings.manifests_dir))
            phases: dict[str, float] = {}
            settler.close_epoch = _Timed(settler, "close_epoch", phases)  # type: ignore[method-assign]
            settler.settle = _Timed(settler, "settle", phases)  # type: ignore[method-assign]
            started = time.perf_counter()
            epoch_id = settler.run_once(force=True)
            total = time.perf_counter() - started
            ledger = chain.ledger.functions
            settled = ledger.isEpochSettled(epoch_id).call()
            on_chain = ledger.epoch(epoch_id).call()
            with sessions() as session:
                gas = session.execute(text("SELECT count(*), sum(gas_used) FROM epoch_chunks WHERE epoch_id = :e"),
                                      {"e": epoch_id}).one()
            manifest = ManifestStore(settings.manifests_dir).read(epoch_id)
            engine.dispose()
        finally:
            drop()
    assert settled and on_chain[4] == annotations, "the epoch did not settle in full"
    proofs = _proof_rates(manifest)
    return {
        "database": kind, "annotations": annotations, "annotators": annotators, "epoch_id": epoch_id,
        "seconds_total": round(total, 2), "seconds_close": round(phases.get("close_epoch", 0.0), 2),
        "seconds_settle": round(phases.get("settle", 0.0), 2), "seconds_seed": round(seed_seconds, 2),
        "transactions": gas[0], "gas_used": int(gas[1] or 0), "settled_on_chain": settled,
        "manifest_bytes": (settings.manifests_dir / f"epoch-{epoch_id}.json").stat().st_size, **proofs,
    }


def _proof_rates(manifest: dict[str, Any]) -> dict[str, Any]:
    """Proofs served from the manifest and verified locally, per second (the Merkle tree's own
    proof generation is timed inside close_epoch, which builds every proof for the manifest)."""
    from labelshare.merkle import MerkleTree

    leaves = [bytes.fromhex(leaf["leaf"][2:]) for leaf in manifest["leaves"]]
    root = bytes.fromhex(manifest["root"][2:])
    started = time.perf_counter()
    tree = MerkleTree(leaves)
    build = time.perf_counter() - started
    started = time.perf_counter()
    proofs = [tree.proof(leaf) for leaf in leaves]
    generated = time.perf_counter() - started
    started = time.perf_counter()
    ok = all(verify_proof(leaf, proof, root) for leaf, proof in zip(leaves, proofs, strict=True))
    verified = time.perf_counter() - started
    assert ok and tree.root == root
    return {"tree_build_seconds": round(build, 3), "proof_depth": len(proofs[0]),
            "proofs_generated_per_second": round(len(leaves) / generated),
            "proofs_verified_per_second": round(len(leaves) / verified)}


def _postgres_reachable() -> bool:
    try:
        with create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2}).connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


def run(annotations: int, annotators: int, databases: list[str]) -> dict[str, Any]:
    skipped = [] if "postgresql" not in databases or _postgres_reachable() else ["postgresql"]
    databases = [d for d in databases if d not in skipped]
    with tempfile.TemporaryDirectory(prefix="labelshare-bench-") as folder:
        rows = [run_one(kind, annotations, annotators, Path(folder)) for kind in databases]
    sqlite = next((r for r in rows if r["database"] == "sqlite"), rows[0])
    return {
        "part": "settlement",
        "command": f"python -m benchmarks.settlement --annotations {annotations} --annotators {annotators}",
        "runs": rows,
        "targets": [{"name": f"an epoch of {annotations:,} annotations settled in under 30 s on anvil",
                     "target": "< 30 s", "measured": f"{sqlite['seconds_total']} s ({sqlite['database']})",
                     "met": sqlite["seconds_total"] < 30}],
        "notes": ["Time runs from Settler.run_once(force=True) to the last chunk's receipt: selecting the "
                  "accepted annotations, planning (leaves, Merkle tree, payouts, chunks), writing the manifest "
                  "with every proof, persisting the plan, then signing, sending and awaiting each chunk on anvil "
                  "(automine). Seeding the database is not included.",
                  "Proof rates are for the Python Merkle tree (labelshare.merkle) over the epoch's leaves.",
                  *(["PostgreSQL was not reachable on 127.0.0.1:5432: its run was skipped."] if skipped else [])],
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| database | annotations | annotators | total s | close (plan + manifest + DB) s | settle (txs + "
             "receipts) s | txs | gas | manifest MB | proof depth | proofs generated/s | proofs verified/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['database']} | {r['annotations']:,} | {r['annotators']:,} | {r['seconds_total']} | "
                     f"{r['seconds_close']} | {r['seconds_settle']} | {r['transactions']} | {r['gas_used']:,} | "
                     f"{r['manifest_bytes'] / 1e6:.1f} | {r['proof_depth']} | {r['proofs_generated_per_second']:,} | "
                     f"{r['proofs_verified_per_second']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=1_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=Path(".bench/settlement.json"))
    args = parser.parse_args()
    result = run(args.annotations, args.annotators, [d for d in args.databases.split(",") if d])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
