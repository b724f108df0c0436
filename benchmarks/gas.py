"""The gas part of ``make bench``: what recording and rewarding accepted annotations costs on-chain.

Run by ``ape run bench_gas --network ethereum:local:foundry`` (``scripts/bench_gas.py``), which
starts a fresh anvil through ape-foundry and calls :func:`run`. Everything here measures and
reports; nothing asserts a target. Every figure is a receipt's ``gasUsed`` (the 21,000 base and
the calldata included) unless a field says otherwise.

1. ``reference`` — the path kept for comparison: one transaction per accepted annotation
   (``contracts/reference/PerAnnotationRewarder.sol``, an OpenZeppelin mint each), and a plain
   ``RewardToken.mint`` transaction sent by an EOA minter.
2. ``settlement`` — ``LabelLedger.settle`` of epochs planned by ``labelshare.epochs.plan_epoch``
   (one project; 10 to 10,000 annotations over 1 to 100 annotators), once to fresh addresses and
   once more to the same, now existing, holders.
3. ``one_tx_capacity`` — the most payouts one ``settle`` transaction holds under the 2^24 gas
   per-transaction cap (EIP-7825), predicted by a linear fit and confirmed by real transactions.
4. ``proof_verification`` — ``verifyAnnotation`` as ``eth_estimateGas`` for 10 to 10,000 leaves.
5. ``payout_breakdown`` — where one payout's gas goes, from opcode traces
   (``debug_traceTransaction``) of a 1-payout and an 11-payout chunk.
6. ``targets`` — the issue's targets against the measurements above.

:func:`markdown` renders a result as the tables of the benchmark report.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address

from labelshare.admin.deploy import DeployParameters, RoleHolders, deploy_protocol
from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import DEFAULT_PAYOUTS_PER_CHUNK, EpochPlan, plan_epoch
from labelshare.leaves import AcceptedAnnotation

__all__ = ["COMMAND", "TX_GAS_CAP", "linear_fit", "markdown", "run"]

COMMAND = "ape run bench_gas --network ethereum:local:foundry"
TX_GAS_CAP = 2**24  # EIP-7825: 16,777,216 gas per transaction
BASE_TX_GAS = 21_000
ANNOTATION_COUNTS = (10, 100, 1_000, 10_000)
ANNOTATOR_COUNTS = (1, 10, 100)
REWARD_PER_LABEL = 10**12  # 0.000001 LSR: small, so no cap gets in the way
CAPACITY_ANNOTATIONS_PER_PAYOUT = 10
ISSUE_MINT_GAS = {"existing": 67_000, "new": 100_000}  # the issue's plain OZ mint transaction
TARGET_GAS_PER_ANNOTATION = 150  # amortised, 10,000 annotations over 100 annotators
TARGET_GAS_PER_NEW_ANNOTATOR = 30_000
HEADLINE = (10_000, 100)  # (annotations, annotators) the per-annotation target is stated for
BREAKDOWN_PAYOUTS = (1, 11)  # chunk sizes traced; their difference gives the per-payout marginal
REFERENCE_SAMPLES = 3


# ------------------------------------------------------------------------------------- plumbing


@dataclass
class Bench:
    """The chain and the contracts one benchmark run works on."""

    provider: Any
    chain: Any
    project: Any
    accounts: Any  # Ape's test accounts (anvil's published development keys: local only)
    contracts: dict[str, Any] = field(default_factory=dict)
    project_id: int = 0
    _address_counter: int = 0

    @property
    def w3(self) -> Any:
        return self.provider.web3

    @property
    def ledger(self) -> Any:
        return self.contracts["ledger"]

    @property
    def verifier(self) -> str:
        return self.accounts[2].address

    def fresh_addresses(self, n: int) -> list[str]:
        """``n`` addresses no one has used on this chain (deterministic, no keys behind them)."""
        start = self._address_counter
        self._address_counter += n
        return [to_checksum_address(keccak(text=f"labelshare-bench-{i}")[12:]) for i in range(start, start + n)]

    def send(self, to: str, data: bytes | str, sender: str, gas: int = TX_GAS_CAP,
             require_success: bool = True) -> dict[str, Any]:
        """Sends a transaction from an unlocked development account; returns its receipt.

        Sent through web3 rather than Ape's contract call: Ape's receipt handling adds about a
        second per 100 payouts, and the gas limit must be explicit (Ape uses the block's 30M).
        """
        tx_hash = self.w3.eth.send_transaction({"from": sender, "to": to, "data": data, "gas": gas})
        receipt = dict(self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300, poll_latency=0.01))
        if require_success and receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} to {to} failed (gasUsed {receipt['gasUsed']:,})")
        return receipt

    def snapshot(self) -> Any:
        return self.provider.make_request("evm_snapshot", [])

    def revert(self, snapshot_id: Any) -> None:
        if not self.provider.make_request("evm_revert", [snapshot_id]):
            raise RuntimeError(f"could not revert to snapshot {snapshot_id}")

    def settle(self, plan: EpochPlan, gas: int = TX_GAS_CAP, require_success: bool = True) -> list[dict[str, Any]]:
        """Sends every chunk of ``plan``; returns their receipts."""
        return [
            self.send(self.ledger.address,
                      self.ledger.settle.encode_input(plan.epoch_id, plan.header, index, [p.as_tuple() for p in chunk]),
                      self.verifier, gas=gas, require_success=require_success)
            for index, chunk in enumerate(plan.chunks)
        ]

    def annotations(self, annotators: Sequence[str], per_annotator: int, tag: str) -> list[AcceptedAnnotation]:
        """``per_annotator`` accepted annotations for each annotator on the bench's project."""
        label = keccak(text="label")
        return [AcceptedAnnotation(a, self.project_id, keccak(text=f"{tag}-{a}-{t}"), label, REWARD_PER_LABEL)
                for a in annotators for t in range(per_annotator)]

    def settle_annotations(self, annotations: Sequence[AcceptedAnnotation],
                           payouts_per_chunk: int = DEFAULT_PAYOUTS_PER_CHUNK) -> tuple[EpochPlan, list[dict]]:
        plan = plan_epoch(self.ledger.nextEpochId(), annotations, payouts_per_chunk)
        return plan, self.settle(plan)


def calldata_gas(data: bytes) -> int:
    """Standard calldata gas: 16 per non-zero byte, 4 per zero byte (EIP-2028)."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def calldata_floor(data: bytes) -> int:
    """EIP-7623's floor for a transaction with ``data``: 21,000 + 10 per token (zero byte 1, other 4)."""
    zeros = data.count(0)
    return BASE_TX_GAS + 10 * (zeros + 4 * (len(data) - zeros))


def _bytes(data: bytes | str) -> bytes:
    return bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least-squares ``y = slope * x + intercept``, with the largest absolute residual."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residual = max(abs(y - (slope * x + intercept)) for x, y in zip(xs, ys, strict=True))
    return {"slope": round(slope, 1), "intercept": round(intercept, 1), "max_residual": round(residual, 1),
            "points": n}


# ----------------------------------------------------------------------------------- deployment


def deploy(bench: Bench) -> None:
    """The protocol (roles as in tests/conftest.py), the reference rewarder with its own token, a
    token minted by an EOA for the plain-mint baseline, and one general project."""
    dev = bench.accounts
    deployer, admin, guardian, verifier, qualifier, requester = dev[0], dev[0], dev[1], dev[2], dev[3], dev[4]
    roles = RoleHolders(admin=admin.address, guardian=guardian.address, verifier=verifier.address,
                        qualifier=qualifier.address, requester=requester.address)
    params = DeployParameters(epoch_mint_cap=DeployParameters().supply_cap, min_epoch_interval=0, timelock_delay=3600)
    # Each block one second after the last: epochs opening in the same wall-clock second would
    # otherwise rewrite the ledger's last-opening time with the same value (2,800 gas less).
    bench.provider.make_request("anvil_setBlockTimestampInterval", [1])
    bench.contracts.update(deploy_protocol(bench.project, deployer, roles, params))

    rewarder_address = deployer.get_deployment_address(deployer.nonce + 1)
    reference_token = deployer.deploy(bench.project.RewardToken, "LabelShare Reference", "LSREF", params.supply_cap,
                                      rewarder_address, admin.address, guardian.address)
    rewarder = deployer.deploy(bench.project.PerAnnotationRewarder, reference_token.address, admin.address,
                               verifier.address)
    if rewarder.address != rewarder_address:
        raise RuntimeError(f"rewarder deployed at {rewarder.address}, expected {rewarder_address}")
    plain_token = deployer.deploy(bench.project.RewardToken, "Plain Mint", "PLAIN", params.supply_cap,
                                  dev[9].address, admin.address, guardian.address)
    bench.contracts.update(reference_token=reference_token, rewarder=rewarder, plain_token=plain_token)

    receipt = bench.ledger.createProject(requester.address, keccak(text="bench-spec"), domain_id(GENERAL),
                                         REWARD_PER_LABEL, 1, sender=requester)
    bench.project_id = receipt.decode_logs(bench.ledger.ProjectCreated)[0].projectId
    # Warm-up: the very first epoch and first mint also write state that is zero only once
    # (the token's total supply, the ledger's last-opening time); measure the steady state.
    bench.settle_annotations(bench.annotations(bench.fresh_addresses(1), 1, "warm-up"))


# ------------------------------------------------------------------------------------ reference


def measure_reference(bench: Bench) -> dict[str, Any]:
    """One transaction per annotation (PerAnnotationRewarder) and a plain OZ mint, per holder kind."""
    rewarder, plain = bench.contracts["rewarder"], bench.contracts["plain_token"]
    minter, verifier = bench.accounts[9].address, bench.verifier
    amount = REWARD_PER_LABEL
    leaves = iter(keccak(text=f"reference-leaf-{i}") for i in range(10_000))

    def record(annotator: str) -> dict[str, Any]:
        return bench.send(rewarder.address, rewarder.recordAnnotation.encode_input(next(leaves), annotator, amount),
                          verifier)

    def mint(annotator: str) -> dict[str, Any]:
        return bench.send(plain.address, plain.mint.encode_input(annotator, amount), minter)

    rows = []
    for path, send, detail in (
        ("RewardToken.mint (plain OpenZeppelin mint, EOA minter)", mint,
         "ERC20 + Capped + Pausable + Permit mint, sent by the minter itself"),
        ("PerAnnotationRewarder.recordAnnotation", record,
         "records the annotation's leaf (new slot), emits an event, calls RewardToken.mint"),
    ):
        send(bench.fresh_addresses(1)[0])  # warm-up: the token's first mint writes its total supply from zero
        holders = bench.fresh_addresses(REFERENCE_SAMPLES)
        for kind in ("new", "existing"):  # the first pass makes them holders
            samples = [send(h)["gasUsed"] for h in holders]
            gas = int(statistics.median(samples))
            rows.append({"path": path, "holder": kind, "gas_used": gas, "execution": gas - BASE_TX_GAS,
                         "samples": samples, "issue_figure": ISSUE_MINT_GAS[kind], "detail": detail})
    per_annotation = {r["holder"]: r["gas_used"] for r in rows if r["path"].startswith("PerAnnotationRewarder")}
    return {"issue_figures": ISSUE_MINT_GAS, "rows": rows, "per_annotation": per_annotation,
            "note": "One transaction per accepted annotation: gas per annotation is the transaction's gasUsed."}


# ----------------------------------------------------------------------------------- settlement


def measure_settlement(bench: Bench) -> tuple[list[dict[str, Any]], dict[int, EpochPlan]]:
    """Every (annotations, annotators) combination, settled to new and then to existing holders."""
    rows: list[dict[str, Any]] = []
    plans: dict[int, EpochPlan] = {}
    for annotations in ANNOTATION_COUNTS:
        for annotators in ANNOTATOR_COUNTS:
            if annotators > annotations:
                continue
            addresses = bench.fresh_addresses(annotators)
            pair: dict[str, dict[str, Any]] = {}
            for holders in ("new", "existing"):
                items = bench.annotations(addresses, annotations // annotators, f"{holders}-{annotations}")
                plan, receipts = bench.settle_annotations(items)
                plans[annotations] = plan
                total = sum(r["gasUsed"] for r in receipts)
                row = {"annotations": annotations, "annotators": annotators, "holders": holders,
                       "payouts": len(plan.payouts), "chunks": len(plan.chunks), "transactions": len(receipts),
                       "total_gas": total, "max_tx_gas": max(r["gasUsed"] for r in receipts),
                       "gas_per_annotation": round(total / annotations, 1),
                       "gas_per_payout": round(total / len(plan.payouts), 1)}
                pair[holders] = row
                rows.append(row)
            extra = (pair["new"]["total_gas"] - pair["existing"]["total_gas"]) / annotators
            pair["new"]["extra_gas_per_new_annotator"] = round(extra, 1)
    return rows, plans


def settlement_fits(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Gas of a one-chunk epoch against its payouts, per holder kind, over every settled size."""
    fits = {}
    for holders in ("new", "existing"):
        points = [(r["payouts"], r["total_gas"]) for r in rows if r["holders"] == holders and r["chunks"] == 1]
        fits[holders] = linear_fit([p for p, _ in points], [g for _, g in points])
    return fits


# ------------------------------------------------------------------------------- one-tx capacity


def _capacity_plan(bench: Bench, addresses: Sequence[str], tag: str) -> EpochPlan:
    items = bench.annotations(addresses, CAPACITY_ANNOTATIONS_PER_PAYOUT, tag)
    return plan_epoch(bench.ledger.nextEpochId(), items, payouts_per_chunk=len(addresses))


def _largest_fitting(bench: Bench, addresses: Sequence[str], fit: dict[str, float], tag: str) -> dict[str, Any]:
    """The most payouts to ``addresses`` that one settle transaction (opening its epoch) holds
    under the cap: start from the fit's prediction, settle, step by the fit's slope until ``n``
    fits and ``n + 1`` does not. Every attempt runs on a snapshot that is reverted afterwards."""
    slope = fit["slope"]
    predicted = int((TX_GAS_CAP - fit["intercept"]) // slope)
    measured: dict[int, int] = {}

    def gas_of(n: int) -> int:
        if n not in measured:
            snapshot = bench.snapshot()
            try:
                receipt = bench.settle(_capacity_plan(bench, addresses[:n], tag), gas=bench_gas_limit(bench),
                                       require_success=False)[0]
                if receipt["status"] != 1:
                    raise RuntimeError(f"settling {n} payouts failed (gasUsed {receipt['gasUsed']:,})")
                measured[n] = receipt["gasUsed"]
            finally:
                bench.revert(snapshot)
        return measured[n]

    def probe(n: int) -> int | None:
        """Gas of ``n`` payouts, or None when the node refuses a transaction past the cap."""
        try:
            return gas_of(n)
        except Exception:  # noqa: BLE001 - e.g. a node that enforces EIP-7825
            return None

    if predicted + 1 > len(addresses):
        raise RuntimeError(f"{len(addresses)} addresses cannot test {predicted + 1} payouts")
    n = predicted
    for _ in range(12):
        gas = gas_of(n)
        if gas > TX_GAS_CAP:
            n -= max(1, -(-(gas - TX_GAS_CAP) // int(slope)))
            continue
        next_gas = probe(n + 1)
        if next_gas is None or next_gas > TX_GAS_CAP:
            break
        n = min(len(addresses) - 1, n + 1 + max(0, int((TX_GAS_CAP - next_gas) // slope)))
    else:
        raise RuntimeError(f"no stable capacity found: {measured}")
    if next_gas is None:
        next_gas, next_source = int(gas + slope), "extrapolated by the fit's slope (the node refused it)"
    else:
        next_source = "measured (one transaction with a gas limit above the cap, on a snapshot)"
    return {"payouts": n, "predicted_by_fit": predicted, "gas_used": gas, "fits": gas <= TX_GAS_CAP,
            "headroom": TX_GAS_CAP - gas, "next_payouts": n + 1, "next_gas": next_gas,
            "next_exceeds_cap": next_gas > TX_GAS_CAP, "next_source": next_source,
            "fit": fit, "attempts": dict(sorted(measured.items()))}


def bench_gas_limit(bench: Bench) -> int:
    """The gas limit for capacity attempts: the block's (30M on anvil), so an attempt past the cap
    still runs and reports its gas."""
    return int(bench.w3.eth.get_block("latest")["gasLimit"])


def measure_capacity(bench: Bench, fits: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Largest one-transaction epoch (one chunk, opening the epoch) for new and existing holders."""
    upper = {k: int((TX_GAS_CAP - f["intercept"]) // f["slope"]) + 64 for k, f in fits.items()}
    new_addresses = bench.fresh_addresses(upper["new"])
    result = {"new": _largest_fitting(bench, new_addresses, fits["new"], "capacity-new")}

    holders = bench.fresh_addresses(upper["existing"])
    # Make them holders first, in the backend's ordinary chunks.
    bench.settle_annotations(bench.annotations(holders, 1, "capacity-funding"))
    result["existing"] = _largest_fitting(bench, holders, fits["existing"], "capacity-existing")
    for row in result.values():
        row["annotations_per_payout"] = CAPACITY_ANNOTATIONS_PER_PAYOUT
    return {
        "cap": TX_GAS_CAP,
        "rows": result,
        "limit": "payouts per transaction, not annotations: a payout carries its annotation count as a uint32 "
                 "(up to 4,294,967,295 annotations for one annotator and project), so one transaction settles "
                 "any number of annotations made by at most that many (annotator, project) pairs; an epoch with "
                 "more payouts is split into chunks (plan_epoch, DEFAULT_PAYOUTS_PER_CHUNK = "
                 f"{DEFAULT_PAYOUTS_PER_CHUNK}).",
        "method": "a linear fit of gas against payouts over the settlement rows predicts n; n payouts are settled "
                  "in one transaction that opens a new epoch (each attempt on an anvil snapshot, reverted), "
                  "stepping by the slope until n fits under the cap and n + 1 does not.",
    }


# ---------------------------------------------------------------------------- proof verification


def measure_proofs(bench: Bench, plans: dict[int, EpochPlan]) -> list[dict[str, Any]]:
    """``verifyAnnotation`` as eth_estimateGas, for the first, middle and last leaf of each size,
    with the EVM execution alone from an opcode trace of the same call (debug_traceCall)."""
    rows = []
    for annotations, plan in sorted(plans.items()):
        for index in sorted({0, annotations // 2, annotations - 1}):
            proof = plan.proof(index)
            args = (plan.epoch_id, plan.annotations[index].as_tuple(), proof)
            if not bench.ledger.verifyAnnotation(*args):
                raise RuntimeError(f"proof {index} of epoch {plan.epoch_id} does not verify")
            data = _bytes(bench.ledger.verifyAnnotation.encode_input(*args))
            call = {"from": bench.accounts[0].address, "to": bench.ledger.address, "data": data}
            estimate = bench.w3.eth.estimate_gas(call)
            trace = bench.provider.make_request(
                "debug_traceCall", [{**call, "data": "0x" + data.hex()}, "latest",
                                    {"disableStorage": True, "disableStack": True, "enableMemory": False}])
            steps = trace["structLogs"]
            evm = steps[0]["gas"] - (steps[-1]["gas"] - steps[-1]["gasCost"])
            calldata = calldata_gas(data)
            standard = BASE_TX_GAS + calldata + evm
            floor = calldata_floor(data)
            rows.append({"annotations": annotations, "leaf_index": index, "proof_depth": len(proof),
                         "calldata_bytes": len(data), "estimate_gas": estimate,
                         "execution": estimate - BASE_TX_GAS, "calldata_gas": calldata, "evm_execution": evm,
                         "standard_cost": standard, "eip7623_floor": floor, "floor_binding": floor > standard})
    return rows


# ----------------------------------------------------------------------------- payout breakdown


SCAN_SLOTS = 32  # fixed storage slots probed to name the contracts' state variables


def _mapping_slot(key: int, slot: int) -> int:
    return int.from_bytes(keccak(key.to_bytes(32, "big") + slot.to_bytes(32, "big")), "big")


def storage_names(bench: Bench) -> dict[str, Any]:
    """Names for the storage slots a settlement touches, found by probing rather than assumed:
    the paused flags (slots that flip when paused, on a reverted snapshot), slots holding a view's
    value, and the base slots of the ledger's project and epoch mappings."""
    ledger, token = bench.ledger, bench.contracts["token"]
    addresses = {"ledger": ledger.address, "token": token.address}

    def read(contract: str, slot: int) -> int:
        return int.from_bytes(bench.w3.eth.get_storage_at(addresses[contract], slot), "big")

    def scan() -> dict[str, dict[int, int]]:
        return {c: {slot: read(c, slot) for slot in range(SCAN_SLOTS)} for c in addresses}

    before = scan()
    snapshot = bench.snapshot()
    guardian = bench.accounts[1].address
    bench.send(ledger.address, ledger.pause.encode_input(), guardian)
    bench.send(token.address, token.pause.encode_input(), guardian)
    paused = scan()
    bench.revert(snapshot)
    names: dict[str, dict[int, str]] = {
        c: {slot: "paused flag" for slot in range(SCAN_SLOTS) if before[c][slot] == 0 and paused[c][slot] == 1}
        for c in addresses}
    last = ledger.nextEpochId() - 1
    record = ledger.epoch(last)
    known = {"ledger": {"nextEpochId": ledger.nextEpochId(), "epochMintCap": ledger.epochMintCap(),
                        "maxRewardMultiplierBps": ledger.maxRewardMultiplierBps()},
             "token": {"totalSupply": token.totalSupply()}}
    for contract, values in known.items():
        for name, value in values.items():
            matches = [slot for slot, v in before[contract].items() if v == value and slot not in names[contract]]
            if len(matches) == 1:
                names[contract][matches[0]] = name
    opened = [slot for slot, v in before["ledger"].items() if v and v & (2**64 - 1) == record.openedAt]
    if len(opened) == 1:
        names["ledger"][opened[0]] = "lastEpochOpenedAt|minEpochInterval"
    requester = int(bench.accounts[4].address, 16)
    root = int.from_bytes(bytes(record.root), "big")
    project_slot = next((slot for slot in range(SCAN_SLOTS)
                         if read("ledger", _mapping_slot(bench.project_id, slot)) & (2**160 - 1) == requester), None)
    epoch_slot = next((slot for slot in range(SCAN_SLOTS) if read("ledger", _mapping_slot(last, slot)) == root), None)
    # AccessControl's _roles[role].hasRole[account]: the verifier's VERIFIER_ROLE entry is 1.
    verifier, role = int(bench.verifier, 16), int.from_bytes(bytes(ledger.VERIFIER_ROLE()), "big")
    roles_slot = next((slot for slot in range(SCAN_SLOTS)
                       if read("ledger", _mapping_slot(verifier, _mapping_slot(role, slot))) == 1), None)
    # BitMaps keyed by (epochId << 16 | chunk): chunk 0 of the last epoch is bit 0 of word epochId << 8.
    bitmap_slot = next((slot for slot in range(SCAN_SLOTS)
                        if read("ledger", _mapping_slot(last << 8, slot)) & 1), None)
    role_keys = {} if roles_slot is None else {
        _mapping_slot(verifier, _mapping_slot(role, roles_slot)): "verifier's role (AccessControl)"}
    return {"fixed": names, "project_slot": project_slot, "epoch_slot": epoch_slot, "bitmap_slot": bitmap_slot,
            "role_keys": role_keys}


def _storage_label(contract: str, key: int, names: dict[str, Any], project_id: int, epoch_id: int) -> str:
    if key < 2**64:
        return names["fixed"][contract].get(key, f"slot {key}")
    if contract == "token":
        return "recipient balance"
    if names["project_slot"] is not None and 0 <= key - _mapping_slot(project_id, names["project_slot"]) < 5:
        return "project record"
    if names["epoch_slot"] is not None and 0 <= key - _mapping_slot(epoch_id, names["epoch_slot"]) < 4:
        return "epoch record"
    if names["bitmap_slot"] is not None and any(key == _mapping_slot(word, names["bitmap_slot"])
                                                for word in (epoch_id << 8, (epoch_id << 8) + 1)):
        return "settled-chunk bitmap"
    return names["role_keys"].get(key, "other mapping")


def _sstore_kind(cost: int) -> str:
    if cost >= 20_000:
        return "zero to non-zero"
    if cost >= 2_900:
        return "non-zero update"
    return "dirty/warm rewrite"


def trace_breakdown(bench: Bench, tx_hash: Any, calldata: bytes, epoch_id: int,
                    names: dict[str, Any]) -> dict[str, int]:
    """Exclusive gas of a settle transaction by contract and opcode group, from its opcode trace.

    A call opcode is charged only its own overhead (what the caller lost minus what the callee
    used); intrinsic gas (21,000 base and calldata) is added as its own groups."""
    trace = bench.provider.make_request(
        "debug_traceTransaction",
        [tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex(),
         {"disableStorage": True, "enableMemory": False, "disableStack": False, "enableReturnData": False}])
    steps = trace["structLogs"]
    events = {int.from_bytes(keccak(text=abi.selector), "big"): abi.name
              for c in (bench.ledger, bench.contracts["token"]) for abi in c.contract_type.events}
    groups: dict[str, int] = defaultdict(int)
    for i, step in enumerate(steps):
        depth, op = step["depth"], step["op"]
        contract = "ledger" if depth == 1 else "token"
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if nxt is not None and nxt["depth"] > depth:  # a call: charge only its overhead
            j = next(k for k in range(i + 1, len(steps)) if steps[k]["depth"] <= depth)
            inner = steps[i + 1]["gas"] - (steps[j - 1]["gas"] - steps[j - 1]["gasCost"])
            cost = step["gas"] - steps[j]["gas"] - inner
        elif nxt is not None and nxt["depth"] == depth:
            cost = step["gas"] - nxt["gas"]
        else:
            cost = step["gasCost"]
        if op in ("SLOAD", "SSTORE"):
            key = int(step["stack"][-1], 16)
            where = _storage_label(contract, key, names, bench.project_id, epoch_id)
            kind = ("cold" if cost >= 2_100 else "warm") if op == "SLOAD" else _sstore_kind(cost)
            label = f"{contract}: {op} {where} ({kind})"
        elif op.startswith("LOG"):
            event = events.get(int(step["stack"][-3], 16), "event") if op != "LOG0" else "anonymous event"
            label = f"{contract}: {op} {event}"
        elif op in ("CALL", "STATICCALL", "DELEGATECALL", "EXTCODESIZE"):
            label = f"{contract}: {op} to the token" if contract == "ledger" else f"{contract}: {op}"
        else:
            label = f"{contract}: other opcodes (calldata reads, checks, ABI encoding, memory, jumps)"
        groups[label] += cost
    groups["intrinsic: 21,000 base"] = BASE_TX_GAS
    groups["intrinsic: calldata (16/non-zero byte, 4/zero byte)"] = calldata_gas(calldata)
    return dict(groups)


def measure_payout_breakdown(bench: Bench) -> dict[str, Any]:
    """Per-payout marginal gas by group: (chunk of 11 payouts - chunk of 1) / 10, to new holders and
    then to the same addresses as existing holders; and the fixed part of a one-payout epoch."""
    small, large = BREAKDOWN_PAYOUTS
    names = storage_names(bench)
    groups: dict[str, dict[int, dict[str, int]]] = {"new": {}, "existing": {}}
    totals: dict[str, dict[int, int]] = {"new": {}, "existing": {}}
    address_sets = {n: bench.fresh_addresses(n) for n in (small, large)}
    for holders in ("new", "existing"):
        for n, addresses in address_sets.items():
            plan, receipts = bench.settle_annotations(bench.annotations(addresses, 10, f"breakdown-{holders}-{n}"))
            receipt = receipts[0]
            data = _bytes(bench.ledger.settle.encode_input(plan.epoch_id, plan.header, 0,
                                                           [p.as_tuple() for p in plan.chunks[0]]))
            breakdown = trace_breakdown(bench, receipt["transactionHash"], data, plan.epoch_id, names)
            accounted = sum(breakdown.values())
            if accounted != receipt["gasUsed"]:  # refunds or a floor would show up here
                breakdown["unattributed (refunds, EIP-7623 floor)"] = receipt["gasUsed"] - accounted
            groups[holders][n] = breakdown
            totals[holders][n] = receipt["gasUsed"]
    per_payout: dict[str, dict[str, float]] = {}
    for holders in ("new", "existing"):
        labels = set(groups[holders][small]) | set(groups[holders][large])
        diff = {label: (groups[holders][large].get(label, 0) - groups[holders][small].get(label, 0)) / (large - small)
                for label in labels}
        per_payout[holders] = {k: round(v, 1) for k, v in sorted(diff.items(), key=lambda kv: -abs(kv[1])) if v}
    marginal = {h: round((totals[h][large] - totals[h][small]) / (large - small), 1) for h in totals}
    fixed = {h: round(totals[h][small] - small * marginal[h], 1) for h in totals}
    fixed_groups = {label: round(v - small * per_payout["new"].get(label, 0), 1)
                    for label, v in groups["new"][small].items()}
    return {"method": f"debug_traceTransaction of one-chunk epochs with {small} and {large} payouts (10 annotations "
                      "each); a group's per-payout cost is its difference divided by "
                      f"{large - small}; calls are charged only their own overhead",
            "transactions": totals, "marginal_per_payout": marginal, "per_payout": per_payout,
            "fixed_per_epoch_transaction": fixed,
            "fixed_groups_new": {k: v for k, v in sorted(fixed_groups.items(), key=lambda kv: -abs(kv[1])) if v}}


def savings_options(breakdown: dict[str, Any]) -> list[dict[str, Any]]:
    """Ways left to cut a payout's gas, each with a saving estimated from the measured groups
    (existing-holder run; the same groups cost the same for new holders). Already applied: one
    mintBatch call per chunk, and the project read once per run of its payouts."""
    existing = breakdown["per_payout"]["existing"]

    def groups_matching(*needles: str) -> float:
        return sum(v for k, v in existing.items() if all(n in k for n in needles))

    transfer_log = groups_matching("token: LOG")
    rewarded_log = groups_matching("ledger: LOG")
    calldata = groups_matching("intrinsic: calldata")
    packed_event = 44 * 8  # 20-byte annotator, 8-byte project id, 4-byte annotations, 12-byte amount
    packed_word = 27 * 16 + 5 * 4  # 20-byte address, ~1 non-zero byte of annotations, ~6 of amount
    return [
        {"option": "One event per payout instead of two: keep ERC-20 Transfer (wallets and indexers need it) and "
                   "replace AnnotatorRewarded (LOG4, three topics) by one per-chunk event whose data is the packed "
                   "(annotator, projectId, annotations, amount) list",
         "saves_per_payout": round(rewarded_log - packed_event),
         "change": "LabelLedger._pay + ILabelLedger event + labelshare.audit (reads it)",
         "basis": f"AnnotatorRewarded costs {rewarded_log:.0f} a payout (375 + 4 x 375 topics + 8 x 64 data); "
                  f"44 packed bytes of log data cost {packed_event}; Transfer ({transfer_log:.0f}) stays. "
                  "Dropping only its indexed epochId saves 119"},
        {"option": "Packed calldata: the project id once per chunk and (address, uint32 annotations, uint96 "
                   "amount) in one 32-byte word instead of a 128-byte ABI Payout",
         "saves_per_payout": round(calldata - packed_word),
         "change": "LabelLedger.settle signature + labelshare.epochs",
         "basis": f"calldata costs {calldata:.0f} a payout now, a packed word about {packed_word}; unpacking "
                  "costs about what ABI decoding does now"},
        {"option": "Settle chunks in order and drop the settled-chunk bitmap (chunk index must equal "
                   "chunksSettled, already in the epoch record)",
         "saves_per_payout": 0, "saves_per_epoch": 2_100 + 100 + 20_000,
         "change": "LabelLedger.settle",
         "basis": "each epoch's first chunk writes a fresh bitmap word (20,000, plus 2,100 and 100 for the reads "
                  "in get and set); the backend already sends an epoch's chunks in nonce order. Per epoch, not "
                  "per payout: 2.2 gas an annotation at 10,000 annotations"},
        {"option": "Pull instead of push for new holders: settle only the root and totals, and let each "
                   "annotator claim with a Merkle proof (or keep internal balances minted on withdrawal)",
         "saves_per_payout": None, "change": "protocol design",
         "basis": "the zero-to-non-zero balance write (20,000 plus the 2,100 cold read) is the floor of any "
                  "push mint to a new holder; only moving it into the annotator's own claim transaction "
                  "removes it from the epoch (the claimant then pays it, plus the proof)"},
    ]


def savings_projection(result: dict[str, Any]) -> dict[str, Any]:
    """Per-payout gas and the headline gas per annotation if every per-payout option were applied."""
    saving = sum(o["saves_per_payout"] or 0 for o in result["savings_options"])
    annotations, annotators = HEADLINE
    fits = result["settlement_fits"]
    projection: dict[str, Any] = {"per_payout_saving": saving}
    for holders, fit in fits.items():
        per_payout = fit["slope"] - saving
        projection[holders] = {"per_payout": round(per_payout, 1),
                               "gas_per_annotation": round((fit["intercept"] + annotators * per_payout)
                                                           / annotations, 1)}
    projection["new_holder_floor"] = {
        "balance_write": 22_100,
        "per_annotation_at_headline": round(22_100 * annotators / annotations, 1),
        "annotations_per_new_annotator_for_target": round(22_100 / TARGET_GAS_PER_ANNOTATION, 1),
    }
    return projection


# -------------------------------------------------------------------------------------- targets


def _row(rows: Iterable[dict[str, Any]], annotations: int, annotators: int, holders: str) -> dict[str, Any]:
    return next(r for r in rows if (r["annotations"], r["annotators"], r["holders"]) == (annotations, annotators,
                                                                                             holders))


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = result["settlement"]
    annotations, annotators = HEADLINE
    fits = result["settlement_fits"]
    targets = []
    for holders in ("existing", "new"):
        measured = _row(rows, annotations, annotators, holders)["gas_per_annotation"]
        targets.append({"name": f"gas per accepted annotation, amortised, {annotations:,} annotations over "
                                f"{annotators} annotators, {holders} holders",
                        "target": TARGET_GAS_PER_ANNOTATION, "measured": measured,
                        "met": measured <= TARGET_GAS_PER_ANNOTATION})
    full = fits["new"]["slope"]
    targets.append({"name": "gas per annotator newly paid in an epoch: the whole payout to a new holder "
                            "(marginal slope of the linear fit, new holders)",
                    "target": TARGET_GAS_PER_NEW_ANNOTATOR, "measured": full,
                    "met": full <= TARGET_GAS_PER_NEW_ANNOTATOR})
    extra = _row(rows, annotations, annotators, "new")["extra_gas_per_new_annotator"]
    targets.append({"name": f"gas per annotator newly paid in an epoch: extra over an existing holder "
                            f"((new - existing) / annotators at {annotations:,} x {annotators})",
                    "target": TARGET_GAS_PER_NEW_ANNOTATOR, "measured": extra,
                    "met": extra <= TARGET_GAS_PER_NEW_ANNOTATOR})
    return targets


# ------------------------------------------------------------------------------------------ run


def run(provider: Any, chain: Any, project: Any, accounts: Any, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every measurement of the gas part, on the connected (fresh) chain; returns the result dict."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    bench = Bench(provider=provider, chain=chain, project=project, accounts=accounts)

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        t = time.monotonic()
        log(f"gas: {name} ...")
        value = fn()
        timings[name] = round(time.monotonic() - t, 1)
        return value

    node = provider.make_request("anvil_nodeInfo", [])
    phase("deploy", lambda: deploy(bench))
    reference = phase("reference", lambda: measure_reference(bench))
    settlement, plans = phase("settlement", lambda: measure_settlement(bench))
    fits = settlement_fits(settlement)
    proofs = phase("proof verification", lambda: measure_proofs(bench, plans))
    breakdown = phase("payout breakdown", lambda: measure_payout_breakdown(bench))
    capacity = phase("one-transaction capacity", lambda: measure_capacity(bench, fits))

    result: dict[str, Any] = {
        "part": "gas",
        "command": COMMAND,
        "chain": {"client": provider.web3.client_version, "hardfork": node.get("hardFork"),
                  "chain_id": chain.chain_id, "block_gas_limit": bench_gas_limit(bench)},
        "reference": reference,
        "settlement": settlement,
        "settlement_fits": fits,
        "one_tx_capacity": capacity,
        "proof_verification": proofs,
        "payout_breakdown": breakdown,
        "savings_options": savings_options(breakdown),
    }
    result["savings_projection"] = savings_projection(result)
    result["targets"] = evaluate_targets(result)
    head_existing = _row(settlement, *HEADLINE, "existing")
    result["notes"] = [
        "Gas figures are receipt gasUsed: the 21,000 base, calldata and execution; each settlement row is one "
        "epoch on one project, one payout per annotator, settled in chunks of the backend's default "
        f"{DEFAULT_PAYOUTS_PER_CHUNK} payouts (every row here is a single chunk).",
        "A warm-up epoch and a warm-up mint run first: the chain's very first settlement also writes the token's "
        "total supply and the ledger's last-opening time from zero (about 20k gas more, once).",
        "Every epoch here opens in its own transaction, so each row includes opening the epoch (its record and "
        "a new word of the settled-chunk bitmap); later chunks of a multi-chunk epoch are cheaper by that much.",
        "The annotation count only changes the Merkle tree built off-chain and the header: what costs gas is "
        "the number of payouts (annotator x project pairs), which is why rows with equal annotators cost "
        "nearly the same at 100 and at 10,000 annotations.",
        f"Amortised at {HEADLINE[0]:,} annotations over {HEADLINE[1]} existing holders an epoch costs "
        f"{head_existing['gas_per_annotation']} gas per annotation against "
        f"{reference['per_annotation']['existing']:,} for one PerAnnotationRewarder transaction per annotation.",
        f"anvil ({result['chain']['client']}, hardfork {result['chain']['hardfork']}) accepts transactions with "
        "a gas limit above 2^24 (its block limit is 30M), so the cap is checked here against gasUsed; settle "
        "transactions were sent with a 2^24 gas limit, capacity attempts with the block's.",
        "Proof verification: eth_estimateGas of a transaction calling verifyAnnotation (21,000 base included; "
        "'minus 21,000' subtracts the base only). On this hardfork EIP-7623's calldata floor (21,000 + 10 gas "
        "per zero byte, 40 per non-zero byte) is above 21,000 + calldata + execution for every proof, so the "
        "estimate is the floor and grows by 1,280 gas a proof level (a 32-byte sibling). The traced EVM "
        "execution (debug_traceCall) is what a contract calling verifyAnnotation pays, plus its call overhead.",
        "No benchmark asserts a target: the targets section reports them.",
    ]
    result["runtime_seconds"] = {"total": round(time.monotonic() - started, 1), **timings}
    return result


# ------------------------------------------------------------------------------------- markdown


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The gas part of the benchmark report, as Markdown tables."""
    out = ["## Gas", "", f"`{result['command']}` — {result['chain']['client']}, hardfork "
           f"{result['chain']['hardfork']}, block gas limit {result['chain']['block_gas_limit']:,}; "
           f"{result['runtime_seconds']['total']} s.", ""]

    out += ["### Targets", ""]
    out += _table(["target", "limit", "measured", "met"],
                  [(t["name"], t["target"], t["measured"], t["met"]) for t in result["targets"]])

    ref = result["reference"]
    out += ["", "### Reference: one transaction per annotation", ""]
    out += _table(["path", "holder", "gas used", "minus 21,000", "issue's figure"],
                  [(r["path"], r["holder"], r["gas_used"], r["execution"], r["issue_figure"]) for r in ref["rows"]])

    out += ["", "### Epoch settlement (`LabelLedger.settle`)", ""]
    out += _table(["annotations", "annotators", "holders", "payouts", "txs", "total gas", "gas/annotation",
                   "gas/payout", "extra gas per new annotator"],
                  [(r["annotations"], r["annotators"], r["holders"], r["payouts"], r["transactions"], r["total_gas"],
                    r["gas_per_annotation"], r["gas_per_payout"], r.get("extra_gas_per_new_annotator"))
                   for r in result["settlement"]])
    fits = result["settlement_fits"]
    out += ["", "Linear fit of a one-transaction epoch's gas against its payouts: "
            + "; ".join(f"{h} holders {f['slope']:,.0f} gas a payout + {f['intercept']:,.0f} "
                        f"(max residual {f['max_residual']:,.0f})" for h, f in fits.items()) + "."]

    cap = result["one_tx_capacity"]
    out += ["", f"### Largest epoch in one transaction (cap 2^24 = {cap['cap']:,} gas)", ""]
    out += _table(["holders", "payouts", "gas used", "headroom", "fit predicted", "payouts + 1", "gas", "source"],
                  [(h, r["payouts"], r["gas_used"], r["headroom"], r["predicted_by_fit"], r["next_payouts"],
                    r["next_gas"], r["next_source"]) for h, r in cap["rows"].items()])
    out += ["", cap["limit"]]

    out += ["", "### Inclusion proof (`verifyAnnotation`, eth_estimateGas)", ""]
    out += _table(["annotations", "leaf", "proof depth", "estimate (incl. 21,000)", "minus 21,000",
                   "calldata 16/4", "EVM execution (traced)", "21,000 + calldata + EVM", "EIP-7623 floor",
                   "floor binds"],
                  [(r["annotations"], r["leaf_index"], r["proof_depth"], r["estimate_gas"], r["execution"],
                    r["calldata_gas"], r["evm_execution"], r["standard_cost"], r["eip7623_floor"],
                    r["floor_binding"]) for r in result["proof_verification"]])

    br = result["payout_breakdown"]
    out += ["", "### Where a payout's gas goes", "", br["method"] + ".", ""]
    labels = list(dict.fromkeys([*br["per_payout"]["new"], *br["per_payout"]["existing"]]))
    out += _table(["group", "new holder", "existing holder"],
                  [(label, br["per_payout"]["new"].get(label, 0.0), br["per_payout"]["existing"].get(label, 0.0))
                   for label in labels]
                  + [("**total per payout**", br["marginal_per_payout"]["new"],
                      br["marginal_per_payout"]["existing"])])
    out += ["", f"Fixed part of a one-chunk epoch transaction (the 1-payout transaction less one payout): "
            f"{br['fixed_per_epoch_transaction']['new']:,.0f} gas, of which (groups of 1,000 gas or more):", ""]
    out += _table(["group", "gas"], [(label, gas) for label, gas in br["fixed_groups_new"].items() if gas >= 1_000])
    out += ["", "### Options left to cut it (not applied)", "",
            "Applied already: the ledger mints each chunk with one `RewardToken.mintBatch` call and reads a "
            "project once per run of its payouts.", ""]
    out += _table(["option", "est. saving per payout", "changes", "basis"],
                  [(o["option"], f"{o['saves_per_epoch']:,} per epoch" if o.get("saves_per_epoch")
                    else o["saves_per_payout"], o["change"], o["basis"]) for o in result["savings_options"]])
    pr = result["savings_projection"]
    annotations, annotators = HEADLINE
    out += ["", f"With the per-payout options above ({pr['per_payout_saving']:,} gas a payout saved): existing "
            f"holders {pr['existing']['per_payout']:,.0f} gas a payout, {pr['existing']['gas_per_annotation']} gas "
            f"an annotation at {annotations:,} x {annotators}; new holders {pr['new']['per_payout']:,.0f} gas a "
            f"payout, {pr['new']['gas_per_annotation']} gas an annotation. A new holder's balance write alone "
            f"(22,100) is {pr['new_holder_floor']['per_annotation_at_headline']} gas an annotation at "
            f"{annotations // annotators} annotations per annotator: pushing rewards to new holders meets "
            f"{TARGET_GAS_PER_ANNOTATION} only above about "
            f"{pr['new_holder_floor']['annotations_per_new_annotator_for_target']:.0f} annotations per new "
            "annotator per epoch."]

    out += ["", "### Notes", ""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(out) + "\n"
