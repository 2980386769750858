"""A ledger witness reached over HTTP (c2sp.org/tlog-witness ``add-checkpoint``), with httpx."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from gateway.domain.transparency.witness import add_checkpoint_body
from gateway.errors import WitnessError


class HttpWitness:
    """The WitnessClient of one witness URL (its submission prefix)."""

    def __init__(self, url: str, name: str, public_key: bytes, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.name = name
        self.public_key = public_key
        self._client = httpx.Client(timeout=timeout_s)

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> list[str]:
        """POST the checkpoint; the witness's signature lines, or WitnessError."""
        try:
            response = self._client.post(
                f"{self.url}/add-checkpoint", content=add_checkpoint_body(old_size, proof, note)
            )
        except httpx.HTTPError as exc:
            raise WitnessError(f"witness {self.name} could not be reached ({type(exc).__name__})") from exc
        if response.status_code == 409:
            known = (
                response.text.strip()
                if response.headers.get("content-type", "").startswith("text/x.tlog.size")
                else ""
            )
            raise WitnessError(
                f"witness {self.name} answered 409",
                known_size=int(known) if known.isascii() and known.isdigit() else None,
            )
        if response.status_code != 200:
            raise WitnessError(f"witness {self.name} refused the checkpoint ({response.status_code})")
        return [line for line in response.text.split("\n") if line]

    def latest_checkpoint(self, origin: str) -> str | None:
        """The latest checkpoint the witness cosigned for ``origin`` (its monitoring endpoint)."""
        try:
            response = self._client.get(f"{self.url}/checkpoint", params={"origin": origin})
        except httpx.HTTPError as exc:
            raise WitnessError(f"witness {self.name} could not be reached ({type(exc).__name__})") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise WitnessError(f"witness {self.name} answered {response.status_code}")
        return response.text

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
