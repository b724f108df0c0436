"""Epoch manifests: every accepted annotation of a settled epoch with its leaf and inclusion
proof, and the epoch's payouts. Written to disk (atomically, before the first settle transaction
is sent) and served by the API, so any annotator can prove inclusion and any auditor can rebuild
the root and the totals."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from labelshare.epochs import EpochPlan
from labelshare.errors import NotFound, Unavailable

__all__ = ["ManifestStore", "build_manifest"]

MANIFEST_VERSION = 1


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def build_manifest(plan: EpochPlan, chain_id: int, ledger: str, submission_ids: list[int]) -> dict[str, Any]:
    """The manifest of ``plan``; ``submission_ids[i]`` is the backend's id of annotation i."""
    leaves = []
    for i, (annotation, leaf) in enumerate(zip(plan.annotations, plan.leaves, strict=True)):
        leaves.append({
            "submission_id": submission_ids[i],
            "annotator": annotation.annotator,
            "project_id": annotation.project_id,
            "task_id": _hex(annotation.task_id),
            "label_hash": _hex(annotation.label_hash),
            "reward": str(annotation.reward),
            "leaf": _hex(leaf),
            "proof": [_hex(p) for p in plan.tree.proof(leaf)],
        })
    return {
        "version": MANIFEST_VERSION,
        "chain_id": chain_id,
        "ledger": ledger,
        "epoch_id": plan.epoch_id,
        "root": _hex(plan.root),
        "annotation_count": len(plan.annotations),
        "total_reward": str(plan.total_reward),
        "chunks": [[[p.annotator, p.project_id, p.annotations, str(p.amount)] for p in chunk] for chunk in plan.chunks],
        "leaves": leaves,
    }


class ManifestStore:
    """Manifests as ``epoch-<id>.json`` files in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, epoch_id: int) -> Path:
        return self.folder / f"epoch-{epoch_id}.json"

    def write(self, manifest: dict[str, Any]) -> str:
        """Writes atomically and durably; returns the file's sha256. A failed write (disk full)
        leaves no partial file behind and raises Unavailable."""
        data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        target = self.path(manifest["epoch_id"])
        tmp = target.with_suffix(".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise Unavailable(f"cannot write the manifest of epoch {manifest['epoch_id']}: {err.strerror}") from err
        return hashlib.sha256(data).hexdigest()

    def discard(self, epoch_id: int) -> None:
        """Removes the manifest of an epoch that was never committed (its closing failed after
        the write), so no manifest is served for an epoch that does not exist."""
        self.path(epoch_id).unlink(missing_ok=True)
        self.path(epoch_id).with_suffix(".tmp").unlink(missing_ok=True)

    def read(self, epoch_id: int) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads(self.path(epoch_id).read_text())
        except FileNotFoundError:
            raise NotFound(f"no manifest for epoch {epoch_id}", field="epoch_id") from None
        return manifest
