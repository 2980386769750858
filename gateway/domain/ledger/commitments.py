"""What a record commits to instead of holding it: the subjects looked up and the body sent.

A subject is recorded as a keyed commitment (HMAC-SHA256 under the keystore's ``commitment``
secret): whoever holds the secret can find a subject's entries, the ledger alone does not reveal
who was looked up. This module is the one place the commitment is computed; the query path, the
grants and the subject report all reach it through ``commit_subject`` or ``subject_commitment``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from gateway.domain.identifiers import SubjectId

_COMMITMENT_LABEL = b"credit-gateway/ledger-subject/v1"
MIN_SECRET_BYTES = 32


def subject_commitment(secret: bytes, id_type: str, value: str) -> str:
    """Keyed commitment (HMAC-SHA256, hex) of one subject identifier.

    ``value`` is normalized (trimmed, upper case) as identifiers are, so every spelling of one
    identifier commits to the same value.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError("the commitment secret must be at least 32 bytes")
    message = _COMMITMENT_LABEL + b"\x00" + id_type.encode() + b"\x00" + value.strip().upper().encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A committed subject: scheme, kind and commitment (no identifier)."""

    id_type: str
    subject_kind: str
    commitment: str

    @classmethod
    def of(cls, subject: SubjectId, commitment: str) -> SubjectRef:
        """The reference to ``subject`` under a commitment already computed for it."""
        return cls(str(subject.id_type), str(subject.kind), commitment)

    def as_dict(self) -> dict[str, str]:
        """Record form."""
        return {"id_type": self.id_type, "subject_kind": self.subject_kind, "commitment": self.commitment}


def commit_subject(secret: bytes, subject: SubjectId) -> SubjectRef:
    """The committed reference to a validated subject, as every record that names it carries it."""
    return SubjectRef.of(subject, subject_commitment(secret, str(subject.id_type), subject.value))


def response_digest(body: bytes) -> str:
    """``sha256:<hex>`` of a response body, as recorded in query entries."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
