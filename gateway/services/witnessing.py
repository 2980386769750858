"""The gateway's side of witnessing: submit new checkpoints to the configured witnesses, keep what
they cosign.

``WitnessSubmitter.submit`` runs in the background (``start``): for each witness it sends the latest
checkpoint with a consistency proof from the size that witness last cosigned (0 the first time; a 409
tells the witness's own size, and the request is sent again from there), checks the returned
cosignature with the witness's key and stores the cosigned note. A failure is logged and counted per
witness, never raised: queries never wait on a witness.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.transparency.checkpoint import SignedCheckpoint, Verify
from gateway.domain.transparency.witness import Witnessed, cosignature_time, with_cosignatures
from gateway.errors import GatewayError, WitnessError
from gateway.ports import CheckpointSource, CosignatureStore, WitnessClient

log = logging.getLogger("gateway.witness")


@dataclass
class WitnessStatus:
    """How submissions to one witness went (shown by readiness and logs)."""

    name: str
    cosigned_size: int | None = None
    failures: int = 0  # in a row
    last_error: str | None = None


class WitnessSubmitter:
    """Submits checkpoints of one ledger to its witnesses and stores their cosignatures."""

    def __init__(
        self,
        ledger: CheckpointSource,
        witnesses: Sequence[WitnessClient],
        store: CosignatureStore,
        verify: Verify,
        *,
        interval_s: float = 10.0,
    ) -> None:
        self._ledger = ledger
        self._witnesses = list(witnesses)
        self._store = store
        self._verify = verify
        self.interval_s = interval_s
        self.status = {w.name: WitnessStatus(w.name) for w in self._witnesses}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self) -> dict[str, WitnessStatus]:
        """One round: the latest checkpoint to every witness that has not cosigned it yet."""
        try:
            checkpoint = self._ledger.checkpoint()
        except GatewayError as exc:
            log.warning("no checkpoint to submit to the witnesses", extra={"error_type": type(exc).__name__})
            return self.status
        for witness in self._witnesses:
            status = self.status[witness.name]
            try:
                status.cosigned_size = self._submit_to(witness, checkpoint)
                status.failures, status.last_error = 0, None
            except GatewayError as exc:
                status.failures += 1
                status.last_error = exc.detail
                log.warning(
                    "witness submission failed",
                    extra={
                        "witness": witness.name,
                        "error_type": type(exc).__name__,
                        "failures": status.failures,
                    },
                )
        return self.status

    def _submit_to(self, witness: WitnessClient, checkpoint: SignedCheckpoint) -> int:
        last = self._store.latest(witness.name)
        old = last.size if last is not None else 0
        if old == checkpoint.size:
            return old
        for _ in range(2):  # once more from the witness's own size after a 409
            proof = self._ledger.consistency_proof(old, checkpoint.size) if old > 0 else []
            try:
                lines = witness.add_checkpoint(old, proof, checkpoint.note)
            except WitnessError as exc:
                if exc.known_size is None or exc.known_size == old or exc.known_size > checkpoint.size:
                    raise
                old = exc.known_size
                continue
            note = with_cosignatures(checkpoint.note, lines)
            stamp = cosignature_time(
                note, name=witness.name, public_key=witness.public_key, verify=self._verify
            )
            origin = checkpoint.checkpoint.origin
            self._store.add(
                witness.name, Witnessed(origin, checkpoint.size, checkpoint.root_hash, note, stamp)
            )
            return checkpoint.size
        raise WitnessError(f"witness {witness.name} keeps answering 409")

    def start(self) -> None:
        """Submit every ``interval_s`` on a daemon thread until ``close``."""
        if self._thread is not None or not self._witnesses:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.submit()
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=loop, name="ledger-witnesses", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the background thread and close the witness clients."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 5)
        for witness in self._witnesses:
            witness.close()
