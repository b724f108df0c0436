"""Epoch settlement: closes epochs of accepted annotations and settles them on the ledger.

Never mint twice, never lose an accepted annotation:
1. Closing an epoch is one database transaction: it assigns the pending accepted annotations to
   the epoch and stores the plan (root, every chunk's payouts); the manifest is written before.
2. Each chunk's signed transaction is stored before it is broadcast, so after a crash the same
   transaction (same nonce) is rebroadcast rather than a second one signed.
3. Before signing or rebroadcasting, the ledger is asked whether the chunk is already settled;
   the ledger's own per-chunk bitmap (a retried chunk reverts) is the last line, not the only one.
4. The chain, not the database, has the last word on what is settled: a chain that lost recent
   blocks (a node restarted from a state snapshot older than its last blocks, a reorganisation
   deeper than ``confirmations``) can forget chunks, even whole epochs, that the database
   recorded as confirmed. Every pass checks the newest epoch recorded as settled against the
   ledger, and every chunk of an unsettled epoch, confirmed or not; what the chain has forgotten
   is sent again as the same signed transaction (same nonce), or signed afresh when its nonce
   can no longer be mined (taken by another transaction, or behind a gap).
``resume`` runs first on every pass, so a restarted worker finishes what its predecessor began.
5. One process settles at a time across every replica (``labelshare.leader``): the worker runs a
   pass only while its process leads, and closing an epoch or recording a signed transaction is
   fenced by the leadership in the same database transaction. A new leader's first pass is a
   ``resume``: it finishes the epoch its predecessor left from the persisted plan, the stored
   signed transactions and the ledger's state.
6. With ``confirmations`` set, a chunk counts as settled only once the ledger holds it settled
   that many blocks below the head; until then it stays "sent" (its transaction is not sent
   again) and the epoch "settling".

Chain reads happen outside database transactions (on SQLite every transaction holds the write
lock, and a slow node must not hold it). Closing an epoch is all or nothing: if anything fails
before its transaction commits (the manifest write on a full disk, a locked database, the chain),
no epoch exists afterwards, neither in the database nor as a manifest file.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from labelshare.chain import Chain, FeeAboveCeiling, LedgerReverted, SentTransaction, TransactionRejected
from labelshare.config import Settings
from labelshare.db.models import Epoch, EpochChunk, Project, Submission, Task, utcnow
from labelshare.db.params import in_values
from labelshare.domains import GENERAL, domain_id
from labelshare.epochs import plan_epoch
from labelshare.errors import ChainError
from labelshare.leader import Leadership, LeadershipLost
from labelshare.leaves import AcceptedAnnotation
from labelshare.manifests import ManifestStore, build_manifest
from labelshare.quality import Reviewer

__all__ = ["Settler", "SettlementWorker"]

log = logging.getLogger(__name__)
_UPDATE_BATCH = 8192  # a power of two: full batches need no padding (db.params)
_RECHECK_EPOCHS = 50  # the newest settled epochs checked against the ledger on each pass, at most


class Settler:
    def __init__(self, sessions: sessionmaker[Session], chain: Chain, settings: Settings,
                 manifests: ManifestStore, leadership: Leadership | None = None) -> None:
        self.sessions = sessions
        self.chain = chain
        self.settings = settings
        self.manifests = manifests
        # None: this settler is not fenced (a test driving it by hand, with no worker running).
        self.leadership = leadership

    def _fence(self, session: Session) -> None:
        if self.leadership is not None:
            self.leadership.fence(session)

    # --------------------------------------------------------------- one pass

    def run_once(self, force: bool = False) -> int | None:
        """Finishes unsettled epochs, then closes and settles a new one if it is due (or
        ``force``). Returns the id of the epoch closed, if any."""
        self.resume()
        if not (force or self.epoch_due()):
            return None
        epoch_id = self.close_epoch()
        if epoch_id is not None:
            self.settle(epoch_id)
        return epoch_id

    def epoch_due(self) -> bool:
        with self.sessions() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(Submission.accepted_at))
                .where(Submission.status == "accepted", Submission.epoch_id.is_(None))
            ).one()
        if not count:
            return False
        if count >= self.settings.epoch_max_annotations:
            return True
        return utcnow() - oldest >= timedelta(seconds=self.settings.epoch_max_age_seconds)

    def resume(self) -> None:
        self.reopen_lost_epochs()
        with self.sessions() as session:
            unsettled = session.scalars(select(Epoch.id).where(Epoch.status != "settled").order_by(Epoch.id)).all()
        for epoch_id in unsettled:
            self.settle(epoch_id)

    def reopen_lost_epochs(self) -> list[int]:
        """Epochs the database records as settled that the ledger does not hold as settled go
        back to "settling", so this pass settles them again. The backend settles one epoch after
        another, so a chain that lost blocks lost the newest ones: the check walks back from the
        newest settled epoch and stops at the first the ledger confirms (one call per pass)."""
        with self.sessions() as session:
            newest = session.scalars(select(Epoch.id).where(Epoch.status == "settled")
                                     .order_by(Epoch.id.desc()).limit(_RECHECK_EPOCHS)).all()
        lost = []
        for epoch_id in newest:
            if self.chain.ledger.functions.isEpochSettled(epoch_id).call():
                break
            lost.append(epoch_id)
        if lost:
            with self.sessions.begin() as session:
                for epoch_id in lost:
                    epoch = session.get(Epoch, epoch_id)
                    assert epoch is not None
                    epoch.status, epoch.settled_at = "settling", None
            log.warning("the ledger does not hold epoch(s) %s as settled although they were confirmed "
                        "(a node restored from an older state, or a reorganisation): settling them again",
                        sorted(lost))
        return lost

    # ------------------------------------------------------------ close epoch

    def close_epoch(self) -> int | None:
        """Plans the next epoch from pending accepted annotations and persists it; None if there
        is nothing to settle. All or nothing: on any failure no epoch, no assignment and no
        manifest remains."""
        ledger = self.chain.ledger.functions
        # The ledger first, with no database transaction open.
        epoch_id = ledger.nextEpochId().call()
        mint_cap = ledger.epochMintCap().call()
        with self.sessions() as session:
            pairs = session.execute(
                select(Submission.annotator, Project.domain).distinct()
                .join(Project, Submission.project_id == Project.id)
                .where(Submission.status == "accepted", Submission.epoch_id.is_(None), Project.domain != GENERAL)
            ).all()
        qualified = {(a, d): bool(ledger.isQualified(a, domain_id(d)).call()) for a, d in pairs}
        manifest_written = False
        try:
            with self.sessions.begin() as session:
                self._fence(session)
                if session.get(Epoch, epoch_id) is not None:
                    raise ChainError(f"epoch {epoch_id} exists in the database but not on the ledger; "
                                     "is another backend settling on this ledger?")
                # Plain columns, not ORM objects: an epoch can hold 100,000 annotations.
                rows = session.execute(
                    select(Submission.id, Submission.annotator, Submission.project_id, Submission.label_hash,
                           Submission.reward, Task.task_key, Project.domain)
                    .join(Task, Submission.task_id == Task.id).join(Project, Submission.project_id == Project.id)
                    .where(Submission.status == "accepted", Submission.epoch_id.is_(None))
                    .order_by(Submission.id)
                    .limit(self.settings.epoch_max_annotations)
                    .with_for_update(of=Submission)
                ).all()
                chosen, total = [], 0
                for row in rows:
                    if total + row.reward > mint_cap:
                        break  # the rest waits for the next epoch
                    if row.domain != GENERAL and not qualified.get((row.annotator, row.domain), False):
                        # Not qualified on-chain, or accepted after the ledger was asked: waits.
                        log.warning("submission %s waits: %s is not qualified in %s on-chain",
                                    row.id, row.annotator, row.domain)
                        continue
                    chosen.append(row)
                    total += row.reward
                if not chosen:
                    return None
                annotations = [
                    AcceptedAnnotation(r.annotator, r.project_id, bytes.fromhex(r.task_key[2:]),
                                       bytes.fromhex(r.label_hash[2:]), r.reward)
                    for r in chosen
                ]
                plan = plan_epoch(epoch_id, annotations, self.settings.payouts_per_chunk)
                ids = [r.id for r in chosen]
                manifest = build_manifest(plan, self.chain.chain_id, self.chain.ledger.address, ids)
                digest = self.manifests.write(manifest)  # before anything reaches the chain
                manifest_written = True
                session.add(Epoch(
                    id=epoch_id, status="settling", root="0x" + plan.root.hex(), annotation_count=len(annotations),
                    total_reward=plan.total_reward, chunk_count=len(plan.chunks), manifest_sha256=digest,
                ))
                session.flush()
                for index, chunk in enumerate(plan.chunks):
                    payouts = [[p.annotator, p.project_id, p.annotations, str(p.amount)] for p in chunk]
                    session.add(EpochChunk(epoch_id=epoch_id, chunk_index=index, payouts=payouts))
                # In batches: databases bound the parameters of one statement (PostgreSQL: 65,535).
                for first in range(0, len(ids), _UPDATE_BATCH):
                    session.execute(update(Submission).where(Submission.id.in_(in_values(ids[first:first + _UPDATE_BATCH])))
                                    .values(epoch_id=epoch_id))
        except BaseException:
            if manifest_written:  # written, but the epoch was never committed: it does not exist
                self.manifests.discard(epoch_id)
            raise
        log.info("epoch %s closed: %s annotations, %s reward, %s chunk(s), root 0x%s",
                 epoch_id, len(annotations), plan.total_reward, len(plan.chunks), plan.root.hex())
        return epoch_id

    # ---------------------------------------------------------------- settle

    def settle(self, epoch_id: int) -> None:
        """Settles every chunk of ``epoch_id`` the ledger does not hold as settled, whatever the
        database says of it; safe to call any number of times."""
        with self.sessions() as session:
            epoch = session.get(Epoch, epoch_id)
            if epoch is None or epoch.status == "settled":
                return
            header = (bytes.fromhex(epoch.root[2:]), epoch.annotation_count, epoch.total_reward, epoch.chunk_count)
            chunks = [(c.chunk_index, c.payouts, c.status, c.tx_hash, c.raw_tx, c.tx_nonce)
                      for c in sorted(epoch.chunks, key=lambda c: c.chunk_index)]
        for index, payouts, status, tx_hash, raw_tx, tx_nonce in chunks:
            self._settle_chunk(epoch_id, header, index, payouts, status, tx_hash, raw_tx, tx_nonce)
        with self.sessions.begin() as session:
            epoch = session.get(Epoch, epoch_id)
            assert epoch is not None
            if all(c.status == "confirmed" for c in epoch.chunks):
                epoch.status, epoch.settled_at = "settled", utcnow()
                log.info("epoch %s settled on-chain (%s chunk(s))", epoch_id, epoch.chunk_count)

    def _settle_chunk(self, epoch_id: int, header: tuple[Any, ...], index: int, payouts: list[list[Any]],
                      status: str, tx_hash: str | None, raw_tx: str | None, tx_nonce: int | None) -> None:
        ledger = self.chain.ledger.functions
        if ledger.isChunkSettled(epoch_id, index).call(block_identifier=self.chain.confirmed_block()):
            if status != "confirmed":
                self._confirm(epoch_id, index, tx_hash)
            return
        if self.settings.confirmations and ledger.isChunkSettled(epoch_id, index).call():
            # Settled in a block too recent to count: nothing to send, a later pass confirms it.
            log.info("epoch %s chunk %s is settled on-chain, waiting for %s confirmation(s)",
                     epoch_id, index, self.settings.confirmations)
            return
        if status == "confirmed":
            # Confirmed once, forgotten by the chain since: send it again (its stored transaction).
            log.warning("epoch %s chunk %s was confirmed in %s but the ledger no longer holds it settled "
                        "(a node restored from an older state, or a reorganisation): sending it again",
                        epoch_id, index, tx_hash)
            with self.sessions.begin() as session:
                chunk = session.get(EpochChunk, (epoch_id, index))
                assert chunk is not None
                chunk.status, chunk.block_number, chunk.gas_used = "sent", None, None
            status = "sent"
        if status == "sent" and tx_hash and raw_tx and tx_nonce is not None:
            tx = SentTransaction(tx_hash, tx_nonce, raw_tx)
            verifier = self.chain.account("verifier").address
            mined_nonce = self.chain.w3.eth.get_transaction_count(verifier, "latest")
            if mined_nonce > tx_nonce:
                if self.chain.receipt(tx_hash) is None:  # the nonce went to another transaction
                    tx = self._sign_and_record(epoch_id, header, index, payouts)
            elif tx_nonce > self.chain.w3.eth.get_transaction_count(verifier, "pending"):
                # The transactions before this nonce are gone (a node restarted without its pool,
                # or restored from an older state): it would wait behind the gap for ever.
                log.warning("epoch %s chunk %s: nonce %s of %s is beyond the node's next nonce; signing afresh",
                            epoch_id, index, tx_nonce, tx_hash)
                tx = self._sign_and_record(epoch_id, header, index, payouts)
        else:
            tx = self._sign_and_record(epoch_id, header, index, payouts)
        try:
            self.chain.broadcast(tx)
        except TransactionRejected as err:
            if status != "sent":
                raise  # freshly signed and refused: let the pass fail and say why
            # A stored transaction the node now refuses (its fee is below today's base fee, ...):
            # the chunk is not settled (asked above), so a fresh one replaces it; were both ever
            # mined, the ledger's chunk bitmap would revert the second.
            log.warning("epoch %s chunk %s: %s; signing afresh", epoch_id, index, err.detail)
            tx = self._sign_and_record(epoch_id, header, index, payouts)
            self.chain.broadcast(tx)
        receipt = self.chain.wait(tx.tx_hash, confirmations=0)
        if receipt is None:
            raise ChainError(f"settle transaction {tx.tx_hash} of epoch {epoch_id} chunk {index} not mined yet")
        if receipt["status"] == 1 or ledger.isChunkSettled(epoch_id, index).call():
            if (depth := self.chain.depth(receipt)) < self.settings.confirmations:
                # Not deep enough yet: stays "sent"; a later pass confirms it (or sends it again
                # if a reorganisation drops it), without holding this pass up.
                log.info("epoch %s chunk %s mined in block %s (%s of %s confirmation(s))", epoch_id, index,
                         receipt["blockNumber"], depth, self.settings.confirmations)
                return
            self._confirm(epoch_id, index, tx.tx_hash, receipt)
            return
        with self.sessions.begin() as session:  # the next pass signs afresh
            chunk = session.get(EpochChunk, (epoch_id, index))
            assert chunk is not None
            chunk.status = "pending"
        raise ChainError(f"settle transaction {tx.tx_hash} of epoch {epoch_id} chunk {index} reverted "
                         f"({self._revert_reason(epoch_id, header, index, payouts, receipt)}, gas used "
                         f"{receipt['gasUsed']})")

    def _revert_reason(self, epoch_id: int, header: tuple[Any, ...], index: int, payouts: list[list[Any]],
                       receipt: dict[str, Any]) -> str:
        """Replays the reverted call at its block to name the ledger's error."""
        try:
            self._settle_call(epoch_id, header, index, payouts).call(
                {"from": self.chain.account("verifier").address}, block_identifier=receipt["blockNumber"] - 1)
        except Exception as err:  # noqa: BLE001 - any failure is the answer we want
            return self.chain.decode_error(err).detail
        return "the replay succeeds: out of gas or state changed in the same block"

    def _sign_and_record(self, epoch_id: int, header: tuple[Any, ...], index: int,
                         payouts: list[list[Any]]) -> SentTransaction:
        call = self._settle_call(epoch_id, header, index, payouts)
        try:
            tx = self.chain.sign("verifier", call)
        except LedgerReverted as err:
            log.error("epoch %s chunk %s refused by the ledger: %s", epoch_id, index, err.detail)
            raise
        with self.sessions.begin() as session:
            self._fence(session)  # a deposed leader records nothing, so it broadcasts nothing new
            chunk = session.get(EpochChunk, (epoch_id, index))
            assert chunk is not None
            chunk.status, chunk.tx_hash, chunk.tx_nonce, chunk.raw_tx = "sent", tx.tx_hash, tx.nonce, tx.raw
        log.info("epoch %s chunk %s: sending %s (nonce %s)", epoch_id, index, tx.tx_hash, tx.nonce)
        return tx

    def _settle_call(self, epoch_id: int, header: tuple[Any, ...], index: int, payouts: list[list[Any]]) -> Any:
        return self.chain.ledger.functions.settle(
            epoch_id, header, index,
            [(to_checksum_address(a), int(p), int(n), int(amount)) for a, p, n, amount in payouts])

    def _confirm(self, epoch_id: int, index: int, tx_hash: str | None, receipt: dict[str, Any] | None = None) -> None:
        with self.sessions.begin() as session:
            chunk = session.get(EpochChunk, (epoch_id, index))
            assert chunk is not None
            chunk.status = "confirmed"
            if receipt is not None:
                chunk.tx_hash, chunk.block_number, chunk.gas_used = tx_hash, receipt["blockNumber"], receipt["gasUsed"]
        log.info("epoch %s chunk %s confirmed in tx %s", epoch_id, index, tx_hash)


class SettlementWorker:
    """Every ``settlement_poll_seconds`` on a background thread, while this process leads
    settlement (``leadership``; always without one): the review pass (aggregation of complete
    tasks, ``quality.Reviewer``), then ``Settler.run_once``. Every replica runs one; the others
    stand by and take over when the leader goes."""

    def __init__(self, settler: Settler, poll_seconds: float, reviewer: Reviewer | None = None,
                 leadership: Leadership | None = None) -> None:
        self.settler = settler
        self.reviewer = reviewer
        self.leadership = leadership
        self.poll_seconds = poll_seconds
        self.max_backoff = max(poll_seconds, settler.settings.settlement_max_backoff_seconds)
        self.failures = 0  # consecutive failed passes
        self.last_error: str | None = None
        self.held: str | None = None  # why settlement holds (a fee above the ceiling), while it does
        self.passes = 0  # passes that succeeded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="settlement", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.leadership is not None:
            self.leadership.release()

    @property
    def leading(self) -> bool:
        return self.leadership is None or self.leadership.leading

    def state(self) -> str:
        """standby (another process leads), held (fees above the ceiling), failing (the last
        pass failed; retrying with backoff), settling (leading, last pass fine), or stopped."""
        if not self._thread.is_alive():
            return "stopped"
        if not self.leading:
            return "standby"
        if self.held:
            return "held"
        return "failing" if self.failures else "settling"

    def _loop(self) -> None:
        """Exponential backoff: after n consecutive failed passes the next one waits
        ``poll_seconds * 2**n``, at most ``settlement_max_backoff_seconds``; a pass that succeeds
        returns to ``poll_seconds``. Every pass is safe to repeat (see the module's docstring)."""
        delay = self.poll_seconds
        while not self._stop.wait(delay):
            if self.leadership is not None and not self.leadership.acquire():
                self.failures, self.last_error, self.held, delay = 0, None, None, self.poll_seconds
                continue  # standing by; the next poll tries again
            started = time.monotonic()
            try:
                if self.reviewer is not None:
                    self.reviewer.run_once()
                self.settler.run_once()
            except LeadershipLost as err:  # deposed mid-pass: the next poll finds out who leads
                log.warning("settlement pass stopped: %s", err.detail)
                delay = self.poll_seconds
                continue
            except Exception as err:  # noqa: BLE001 - the worker must outlive any single failure
                self.failures += 1
                self.last_error = _describe(err)
                delay = min(self.poll_seconds * 2 ** min(self.failures, 32), self.max_backoff)
                if isinstance(err, FeeAboveCeiling):
                    if self.held != err.detail:
                        log.warning("settlement held: %s", err.detail)
                    self.held = err.detail
                    continue
                self.held = None
                log.warning("settlement pass failed after %.1fs (%s; %d in a row); retrying in %.1fs",
                            time.monotonic() - started, self.last_error, self.failures, delay)
                continue
            if self.held:
                log.info("settlement resumed: fees are within the ceiling again")
            elif self.failures:
                log.info("settlement pass succeeded after %d failed pass(es)", self.failures)
            self.passes += 1
            self.failures, self.last_error, self.held, delay = 0, None, None, self.poll_seconds


def _describe(err: Exception) -> str:
    """One line naming the failure: a LabelShare error's message, or a driver's first line (a
    database error's text goes on with the SQL statement, which is not useful in a log line)."""
    detail = getattr(err, "detail", None) or (str(err).splitlines() or [""])[0]
    return f"{type(err).__name__}: {detail[:300]}"
