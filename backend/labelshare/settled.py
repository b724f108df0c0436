"""What the API may call settled: what the ledger holds at the configured confirmations, not
what the database recorded.

The database records an epoch as settled once the settlement worker has seen every chunk
``confirmations`` blocks deep; a chain that loses blocks afterwards (a node restored from an
older state, a reorganisation) can forget it, and the worker only notices on its next pass. So
every answer that would say "settled" asks the ledger first (``isEpochSettled`` at the confirmed
block, all the answer's epochs in one JSON-RPC batch) and says instead:

- ``confirming``: the ledger holds the epoch, but fewer than ``confirmations`` blocks deep;
- ``resending``: the ledger does not hold it; the worker sends its transactions again;
- ``unverified``: the chain could not be asked (the reason says why).

The ledger's answers are kept ``FRESH_SECONDS`` (one second) and shared by every request of the
process: under load that is at most one batch per second for a given epoch, and a chain that
forgets a settlement is reflected in every answer at most a second later. One second, not more:
that is the delay the issue accepts, and the batch is cheap (one round trip per 100 epochs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from labelshare.chain import Chain
from labelshare.errors import LabelShareError

__all__ = ["CONFIRMING", "FRESH_SECONDS", "OnChain", "RESENDING", "SETTLED", "SettledView", "UNVERIFIED"]

SETTLED, CONFIRMING, RESENDING, UNVERIFIED = "settled", "confirming", "resending", "unverified"
FRESH_SECONDS = 1.0


@dataclass(frozen=True)
class OnChain:
    """An epoch's status as answered (the database's, unless it says settled) and why it is not
    settled when the database says it is."""

    status: str
    reason: str | None = None


class SettledView:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain  # its settings' ``confirmations``: the depth the settler counts too
        self._answers: dict[int, tuple[float, OnChain]] = {}  # epoch -> (asked at, answer)
        self._lock = threading.Lock()

    def statuses(self, recorded: Mapping[int, str]) -> dict[int, OnChain]:
        """Each epoch's answer, from its status in the database (``recorded``): the ones recorded
        as settled checked against the ledger, the others as recorded."""
        settled = [e for e, status in recorded.items() if status == SETTLED]
        checked = self._check(settled) if settled else {}
        return {e: checked.get(e) or OnChain(status) for e, status in recorded.items()}

    def _check(self, epoch_ids: list[int]) -> dict[int, OnChain]:
        now = time.monotonic()
        with self._lock:
            fresh = {e: hit[1] for e in epoch_ids
                     if (hit := self._answers.get(e)) is not None and now - hit[0] < FRESH_SECONDS}
        asked = sorted(set(epoch_ids) - fresh.keys())
        if not asked:
            return fresh
        answers = self._ask(asked)
        with self._lock:
            # Stamped with the time the question began: an answer never counts as newer than it is.
            self._answers = {e: hit for e, hit in self._answers.items() if now - hit[0] < FRESH_SECONDS}
            self._answers.update((e, (now, answer)) for e, answer in answers.items())
        return fresh | answers

    def _ask(self, epoch_ids: list[int]) -> dict[int, OnChain]:
        ledger = self.chain.ledger.functions
        try:
            block = self.chain.confirmed_block()
            deep = self.chain.read_batch([ledger.isEpochSettled(e) for e in epoch_ids], block)
            lost = [e for e, held in zip(epoch_ids, deep, strict=True) if not held]
            shallow: set[int] = set()
            if lost and block != "latest":  # held at the head, only not deep enough yet?
                held = self.chain.read_batch([ledger.isEpochSettled(e) for e in lost], "latest")
                shallow = {e for e, h in zip(lost, held, strict=True) if h}
        except LabelShareError as err:
            reason = f"recorded as settled, but the chain could not be asked: {err.detail}"
            return dict.fromkeys(epoch_ids, OnChain(UNVERIFIED, reason))
        answers = dict.fromkeys(epoch_ids, OnChain(SETTLED))
        depth = self.chain.settings.confirmations
        for e in lost:
            answers[e] = OnChain(CONFIRMING, (
                f"settled on-chain fewer than {depth} block(s) deep (the chain lost blocks since it "
                f"was confirmed): it counts as settled at {depth} confirmation(s)")) if e in shallow \
                else OnChain(RESENDING, (
                    "recorded as settled, but the ledger no longer holds it (a node restored from an older state, "
                    "or a reorganisation): the settlement worker sends it again"))
        return answers
