"""The witness's use case (``gateway witness serve``): cosign a log's checkpoint after checking it.

The checks are ``gateway.domain.transparency.witness.judge``'s; this adds the state (read the latest
cosigned checkpoint, then advance it atomically with the size it was judged against) and the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.domain.transparency.checkpoint import Sign, Verify
from gateway.domain.transparency.witness import (
    AddCheckpoint,
    Outcome,
    Witnessed,
    cosignature_line,
    judge,
    parse_add_checkpoint,
    with_cosignatures,
)
from gateway.ports import Clock, WitnessState

log = logging.getLogger("gateway.witness")


@dataclass(frozen=True, slots=True)
class WitnessAnswer:
    """What the witness answers: the outcome (an HTTP status), the cosignature lines or the known size."""

    outcome: Outcome
    detail: str
    lines: tuple[str, ...] = ()
    known_size: int | None = None


class WitnessService:
    """A witness: its name and key, the logs it follows (origin -> their public keys), its state."""

    def __init__(
        self,
        *,
        name: str,
        public_key: bytes,
        sign: Sign,
        verify: Verify,
        logs: Mapping[str, Sequence[bytes]],
        state: WitnessState,
        clock: Clock,
    ) -> None:
        self.name = name
        self.public_key = public_key
        self._sign = sign
        self._verify = verify
        self._logs = logs
        self._state = state
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """Judge an add-checkpoint request body and, when it passes, record and cosign the checkpoint."""
        request = parse_add_checkpoint(body)
        if request is None:
            return WitnessAnswer(Outcome.BAD_REQUEST, "malformed add-checkpoint request")
        return self._add(request)

    def _add(self, request: AddCheckpoint) -> WitnessAnswer:
        origin = request.note.split("\n", 1)[0]
        latest = self._state.latest(origin) if origin in self._logs else None
        verdict = judge(request, latest, self._logs, self._verify)
        if verdict.outcome is not Outcome.COSIGNED or verdict.checkpoint is None:
            if verdict.outcome in (Outcome.CONFLICT, Outcome.BAD_PROOF):
                # Signed by the log yet inconsistent with what was cosigned: possible evidence of a fork.
                log.warning("witness refused a signed checkpoint", extra={"outcome": int(verdict.outcome)})
            return WitnessAnswer(verdict.outcome, verdict.detail, known_size=verdict.known_size)
        checkpoint = verdict.checkpoint
        timestamp = int(self._clock.now().timestamp())
        line = cosignature_line(
            checkpoint.checkpoint.text(),
            name=self.name,
            public_key=self.public_key,
            sign=self._sign,
            timestamp=timestamp,
        )
        cosigned = Witnessed(
            origin, checkpoint.size, checkpoint.root_hash, with_cosignatures(request.note, [line]), timestamp
        )
        if not self._state.advance(origin, request.old_size, cosigned):
            # Another request advanced the state between the judgement and the write.
            moved = self._state.latest(origin)
            return WitnessAnswer(
                Outcome.CONFLICT, "the witness moved on", known_size=moved.size if moved else 0
            )
        return WitnessAnswer(Outcome.COSIGNED, verdict.detail, (line,))

    def latest(self, origin: str) -> str | None:
        """The latest cosigned checkpoint note of ``origin`` (the log's note and this witness's line)."""
        if origin not in self._logs:
            return None
        found = self._state.latest(origin)
        return None if found is None else found.note
