"""``labelshare.merkle`` against OpenZeppelin's reference implementations.

Off-chain, the trees are cross-checked with OpenZeppelin's own JavaScript library
``@openzeppelin/merkle-tree`` (an exact-pinned devDependency), run through ``node``:
``SimpleMerkleTree`` over our already-hashed leaves, and ``StandardMerkleTree`` over the raw
annotation tuples, which hashes the leaves itself and so also checks ``annotation_leaf``. Roots and
every proof must be identical, and each side's proofs must verify under the other side's verifier.

On-chain, ``LabelLedger.verifyAnnotation`` (OpenZeppelin's ``MerkleProof``) must accept every proof
of a settled epoch and reject tampered ones.

The random 200-leaf case draws a fresh seed per run; a failure message names it, and
``LABELSHARE_PARITY_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from labelshare.epochs import plan_epoch
from labelshare.leaves import AcceptedAnnotation, annotation_leaf
from labelshare.merkle import MerkleTree, verify_proof

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_LIBRARY = REPO_ROOT / "node_modules" / "@openzeppelin" / "merkle-tree"
# The Solidity types of `abi.encode(epochId, annotator, projectId, taskId, labelHash, reward)` in
# `LabelLedger.annotationLeaf`, written out here rather than imported from labelshare.leaves.
LEAF_ENCODING = ["uint256", "address", "uint256", "bytes32", "bytes32", "uint256"]
SIZES = [1, 2, 3, 4, 5, 7, 8, 33]
RANDOM_SIZE = 200
SEED = int(os.environ.get("LABELSHARE_PARITY_SEED") or random.SystemRandom().randrange(2**32))

# Reads one JSON request on stdin and writes one JSON answer on stdout. `sortLeaves: true` is the
# library's default, spelled out because our MerkleTree always sorts its leaves.
JS_SCRIPT = r"""
const { SimpleMerkleTree, StandardMerkleTree } = require(process.env.OZ_MERKLE_TREE);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const answer = {};
  if (request.simple) {
    const { leaves, foreign } = request.simple;
    const tree = SimpleMerkleTree.of(leaves, { sortLeaves: true });
    answer.simple = {
      root: tree.root,
      proofs: leaves.map((_, i) => tree.getProof(i)),
      foreignVerified: foreign.map(({ leaf, proof }) => SimpleMerkleTree.verify(tree.root, leaf, proof)),
    };
  }
  if (request.standard) {
    const { values, encoding, foreign } = request.standard;
    const tree = StandardMerkleTree.of(values, encoding, { sortLeaves: true });
    answer.standard = {
      root: tree.root,
      leafHashes: values.map((value) => tree.leafHash(value)),
      proofs: values.map((_, i) => tree.getProof(i)),
      foreignVerified: foreign.map(
        ({ index, proof }) => StandardMerkleTree.verify(tree.root, encoding, values[index], proof)),
    };
  }
  process.stdout.write(JSON.stringify(answer));
});
"""

needs_js_library = pytest.mark.skipif(
    not JS_LIBRARY.is_dir(),
    reason=f"{JS_LIBRARY.relative_to(REPO_ROOT)} is missing: run `npm ci` (it is a devDependency in package.json)",
)


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def run_js(request: dict) -> dict:
    node = shutil.which("node")
    assert node, "node is not on PATH (the toolchain needs it: solc-js, and this parity check)"
    result = subprocess.run(
        [node, "-e", JS_SCRIPT],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "OZ_MERKLE_TREE": str(JS_LIBRARY)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"node failed:\n{result.stderr}"
    return json.loads(result.stdout)


def lower(proof: list[str]) -> list[str]:
    return [node.lower() for node in proof]


def leaves_for(size: int) -> list[bytes]:
    """`size` distinct 32-byte leaves, in no particular order."""
    if size == RANDOM_SIZE:
        rng = random.Random(SEED)
        return list({rng.randbytes(32): None for _ in range(size)})
    return [keccak(text=f"parity-leaf-{size}-{i}") for i in range(size)]


def annotations_for(size: int) -> tuple[int, list[AcceptedAnnotation]]:
    """An epoch id and `size` annotations over a few annotators and projects."""
    rng = random.Random(SEED if size == RANDOM_SIZE else size)
    annotators = [Account.from_key(keccak(text=f"parity-annotator-{i}")).address for i in range(5)]
    annotations = [
        AcceptedAnnotation(
            annotator=rng.choice(annotators),
            project_id=rng.randint(1, 2**256 - 1) if rng.random() < 0.1 else rng.randint(1, 4),
            task_id=keccak(text=f"parity-task-{size}-{i}"),
            label_hash=rng.randbytes(32),
            reward=rng.choice([0, 1, 10**18, rng.randint(0, 2**100), rng.randint(0, 10**21)]),  # an epoch totals < 2^128
        )
        for i in range(size)
    ]
    return rng.randint(1, 2**64), annotations


# ------------------------------------------------------------------------- JS parity


@needs_js_library
@pytest.mark.parametrize("size", [*SIZES, RANDOM_SIZE])
def test_merkle_tree_matches_openzeppelin_simple_tree(size):
    leaves = leaves_for(size)
    assert len(leaves) == size
    ours = MerkleTree(leaves)
    our_proofs = [ours.proof(leaf) for leaf in leaves]

    js = run_js({"simple": {
        "leaves": [hex32(leaf) for leaf in leaves],
        "foreign": [{"leaf": hex32(leaf), "proof": [hex32(p) for p in proof]}
                    for leaf, proof in zip(leaves, our_proofs)],
    }})["simple"]

    where = f"size {size}, seed {SEED}"
    assert js["root"].lower() == hex32(ours.root), where
    for i, leaf in enumerate(leaves):
        assert lower(js["proofs"][i]) == [hex32(p) for p in our_proofs[i]], f"proof {i}, {where}"
        assert verify_proof(leaf, [bytes.fromhex(p[2:]) for p in js["proofs"][i]], ours.root), f"proof {i}, {where}"
    assert js["foreignVerified"] == [True] * size, where


@needs_js_library
@pytest.mark.parametrize("size", [*SIZES, RANDOM_SIZE])
def test_plan_epoch_root_matches_openzeppelin_standard_tree(size):
    epoch_id, annotations = annotations_for(size)
    plan = plan_epoch(epoch_id, annotations)
    values = [
        [str(epoch_id), to_checksum_address(a.annotator), str(a.project_id), hex32(a.task_id), hex32(a.label_hash),
         str(a.reward)]
        for a in annotations
    ]

    js = run_js({"standard": {
        "values": values,
        "encoding": LEAF_ENCODING,
        "foreign": [{"index": i, "proof": [hex32(p) for p in plan.proof(i)]} for i in range(size)],
    }})["standard"]

    where = f"size {size}, seed {SEED}"
    assert js["root"].lower() == hex32(plan.root), where
    assert [h.lower() for h in js["leafHashes"]] == [hex32(leaf) for leaf in plan.leaves], where
    for i in range(size):
        assert lower(js["proofs"][i]) == [hex32(p) for p in plan.proof(i)], f"proof {i}, {where}"
        js_proof = [bytes.fromhex(p[2:]) for p in js["proofs"][i]]
        assert verify_proof(plan.leaves[i], js_proof, plan.root), f"proof {i}, {where}"
    assert js["foreignVerified"] == [True] * size, where


# -------------------------------------------------------------------------- on-chain


@pytest.fixture
def settled_plan(create_project, make_annotations, settle_epoch, annotators):
    """An epoch of 21 annotations over two projects, settled in chunks of two payouts."""
    first, second = create_project(), create_project(reward=3 * 10**17)
    annotations = make_annotations(first, annotators, per_annotator=4)
    annotations += make_annotations(second, annotators, per_annotator=3, reward=2 * 10**17)
    assert len(annotations) == 21
    return settle_epoch(annotations, payouts_per_chunk=2)


def flip_bit(node: bytes, bit: int) -> bytes:
    return (int.from_bytes(node, "big") ^ (1 << bit)).to_bytes(32, "big")


def test_verify_annotation_accepts_every_planned_proof(ledger, settled_plan):
    plan = settled_plan
    assert ledger.isEpochSettled(plan.epoch_id)
    assert ledger.epoch(plan.epoch_id).root == plan.root
    for i, annotation in enumerate(plan.annotations):
        assert ledger.annotationLeaf(plan.epoch_id, annotation.as_tuple()) == plan.leaves[i]
        assert ledger.verifyAnnotation(plan.epoch_id, annotation.as_tuple(), plan.proof(i)) is True


def test_verify_annotation_rejects_tampered_proofs(ledger, settled_plan):
    plan = settled_plan
    rng = random.Random(SEED)
    for i, annotation in enumerate(plan.annotations):
        proof = plan.proof(i)
        assert proof, "21 leaves: every proof has siblings"
        j = rng.randrange(len(proof))
        flipped = [*proof[:j], flip_bit(proof[j], rng.randrange(256)), *proof[j + 1:]]
        assert ledger.verifyAnnotation(plan.epoch_id, annotation.as_tuple(), flipped) is False, f"annotation {i}"
        assert ledger.verifyAnnotation(plan.epoch_id, annotation.as_tuple(), proof[:-1]) is False, f"annotation {i}"
    # A valid proof under another epoch id, and a valid proof for a different reward, are rejected.
    first = plan.annotations[0]
    assert ledger.verifyAnnotation(plan.epoch_id + 1, first.as_tuple(), plan.proof(0)) is False
    inflated = AcceptedAnnotation(first.annotator, first.project_id, first.task_id, first.label_hash, first.reward + 1)
    assert ledger.verifyAnnotation(plan.epoch_id, inflated.as_tuple(), plan.proof(0)) is False


@needs_js_library
def test_verify_annotation_accepts_openzeppelin_js_proofs(ledger, settled_plan):
    plan = settled_plan
    values = [
        [str(plan.epoch_id), to_checksum_address(a.annotator), str(a.project_id), hex32(a.task_id),
         hex32(a.label_hash), str(a.reward)]
        for a in plan.annotations
    ]
    js = run_js({"standard": {"values": values, "encoding": LEAF_ENCODING, "foreign": []}})["standard"]
    assert js["root"].lower() == hex32(ledger.epoch(plan.epoch_id).root)
    for i, annotation in enumerate(plan.annotations):
        js_proof = [bytes.fromhex(p[2:]) for p in js["proofs"][i]]
        assert ledger.verifyAnnotation(plan.epoch_id, annotation.as_tuple(), js_proof) is True


# --------------------------------------------------------------------- tree edge cases


def test_merkle_tree_rejects_empty_input():
    with pytest.raises(ValueError):
        MerkleTree([])


@pytest.mark.parametrize("count", [2, 5])
def test_merkle_tree_rejects_duplicate_leaves(count):
    leaves = [keccak(text=f"dup-{i}") for i in range(count)]
    with pytest.raises(ValueError):
        MerkleTree([*leaves, leaves[-1]])


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33, b"\x01" * 64])
def test_merkle_tree_rejects_leaf_not_32_bytes(bad):
    with pytest.raises(ValueError):
        MerkleTree([keccak(text="fine"), bad])


def test_merkle_tree_single_leaf_is_its_own_root():
    leaf = keccak(text="only")
    tree = MerkleTree([leaf])
    assert tree.root == leaf
    assert tree.proof(leaf) == []
    assert verify_proof(leaf, [], tree.root)
    assert len(tree) == 1 and leaf in tree


def test_merkle_tree_proof_of_absent_leaf_raises_key_error():
    tree = MerkleTree([keccak(text=f"present-{i}") for i in range(4)])
    with pytest.raises(KeyError):
        tree.proof(keccak(text="absent"))


def test_merkle_tree_two_leaves_hash_in_sorted_order():
    a, b = keccak(text="a"), keccak(text="b")
    low, high = sorted([a, b])
    expected = keccak(low + high)  # MerkleProof's commutative pair hash, written out
    assert MerkleTree([a, b]).root == expected
    assert MerkleTree([b, a]).root == expected
    assert MerkleTree([a, b]).proof(a) == [b]


def test_annotation_leaf_matches_standard_double_hash():
    annotation = AcceptedAnnotation(
        Account.from_key(keccak(text="leaf-annotator")).address, 7, keccak(text="task"), keccak(text="label"), 10**18,
    )
    encoded = (
        (9).to_bytes(32, "big") + bytes(12) + bytes.fromhex(annotation.annotator[2:]) + (7).to_bytes(32, "big")
        + annotation.task_id + annotation.label_hash + (10**18).to_bytes(32, "big")
    )
    assert annotation_leaf(9, annotation) == keccak(keccak(encoded))
