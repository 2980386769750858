"""The subject identifier, as every request that names a subject carries it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.domain.identifiers import SubjectId, parse_subject


class SubjectRequest(BaseModel):
    """A resident ID or unified social credit code; its check character is validated before any use.

    The length bound only keeps the request small: the domain's ``parse_subject`` is the one place
    that decides what an identifier is (and says which rule a bad one breaks).
    """

    model_config = ConfigDict(extra="forbid")

    id_type: Annotated[Literal["resident_id", "uscc"], Field(examples=["uscc"])]
    value: Annotated[str, Field(min_length=1, max_length=32, examples=["91330100MA2B3C4D5E"])]

    def parse(self, field: str, today: date) -> SubjectId:
        """The validated subject (nobody born after ``today``); InvalidIdentifier names ``field``."""
        return parse_subject(self.id_type, self.value, field=field, today=today)
