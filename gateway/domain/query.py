"""A query as the gateway understands it, the policy input built from it, and the reads it plans.

Pure functions: the time, the grant (as stored) and the subject commitments are arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gateway.domain.catalog import CatalogItem
from gateway.domain.decision import ItemDecision
from gateway.domain.identifiers import SubjectId, age_on
from gateway.domain.times import rfc3339


@dataclass(frozen=True, slots=True)
class ItemRequest:
    """One catalog item asked for, with the fields wanted (None: what the purpose needs)."""

    item_id: str
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A validated query: purpose, legal basis, items and subjects, and an optional grant reference."""

    purpose: str
    legal_basis: str
    items: tuple[ItemRequest, ...]
    subjects: tuple[SubjectId, ...]
    measure: str | None = None
    grant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A row condition a source applies in SQL: ``IS NULL``, ``>= value`` or ``IN (values)``."""

    column: str
    op: str  # "is_null" | "on_or_after" | "in"
    value: date | tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SourceQuery:
    """One read-only, parameterized statement against one source table."""

    database: str
    table: str
    subject_column: str
    subjects: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (released field name, source column)
    conditions: tuple[Condition, ...]
    limit: int = 1000
    # Repaired records the source must not return (block and delete mode), by their key column.
    key_column: str | None = None
    excluded_keys: tuple[str, ...] = ()


SUBJECT_KEY = "_subject"
"""Reserved row key under which a source returns the subject column, used to group rows, never released."""

RECORD_KEY = "_record"
"""Reserved row key under which a source returns a repairable item's record key, never released."""


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What the records and the lists say of one subject, for measures and prudence (clauses (9)(10)(16)).

    Never an identifier: the birth date only as ``minor_at_conduct``, lists by their catalog id.
    """

    lists: frozenset[str] = frozenset()
    minor_at_conduct: bool = False
    force_majeure: bool = False
    unintentional_minor: bool = False

    def as_input(self) -> dict[str, Any]:
        """The keys this adds to the subject's entry in the policy input."""
        return {
            "lists": sorted(self.lists),
            "minor_at_conduct": self.minor_at_conduct,
            "force_majeure": self.force_majeure,
            "unintentional_minor": self.unintentional_minor,
        }


FACT_CONDUCT_ON = "conduct_on"
FACT_FORCE_MAJEURE = "force_majeure"
FACT_UNINTENTIONAL = "unintentional_minor"


def plan_facts_read(item: CatalogItem, subjects: Sequence[SubjectId], limit: int) -> SourceQuery | None:
    """The statement reading the prudence facts of an item's current records, or None when it records none.

    Current means not repaired and not removed: a repaired record no longer counts against anyone.
    """
    conduct = item.conduct
    if conduct is None:
        return None
    columns: list[tuple[str, str]] = [
        (SUBJECT_KEY, item.source.subject_column),
        (FACT_CONDUCT_ON, conduct.date_column),
    ]
    if conduct.force_majeure_column:
        columns.append((FACT_FORCE_MAJEURE, conduct.force_majeure_column))
    if conduct.unintentional_column:
        columns.append((FACT_UNINTENTIONAL, conduct.unintentional_column))
    conditions = [
        Condition(column, "is_null")
        for column in (item.source.repaired_column, item.source.removed_column)
        if column
    ]
    return SourceQuery(
        database=item.source.database,
        table=item.source.table,
        subject_column=item.source.subject_column,
        subjects=tuple(dict.fromkeys(s.value for s in subjects)),
        columns=tuple(columns),
        conditions=tuple(conditions),
        limit=limit,
    )


def subject_facts(
    subjects: Sequence[SubjectId], rows: Sequence[Mapping[str, Any]], lists: Sequence[frozenset[str]]
) -> list[SubjectFacts]:
    """Each subject's facts from the fact rows of every item (keyed by ``SUBJECT_KEY``) and its lists.

    A conduct date that cannot be read counts as conduct while a minor for a natural person: the
    measure is refused rather than applied on an unknown age.
    """
    out: list[SubjectFacts] = []
    for subject, on_lists in zip(subjects, lists, strict=True):
        minor = force = unintentional = False
        for row in rows:
            if str(row.get(SUBJECT_KEY, "")).upper() != subject.value:
                continue
            force = force or row.get(FACT_FORCE_MAJEURE) is True
            unintentional = unintentional or row.get(FACT_UNINTENTIONAL) is True
            if subject.birth_date is not None:
                try:
                    conduct_on = date.fromisoformat(str(row.get(FACT_CONDUCT_ON))[:10])
                except ValueError:
                    minor = True
                    continue
                minor = minor or age_on(subject.birth_date, conduct_on) < 18
        out.append(SubjectFacts(on_lists, minor, force, unintentional))
    return out


def build_policy_input(
    spec: QuerySpec,
    *,
    client_id: str,
    department: str,
    now: datetime,
    catalog_revision: str,
    commitments: Sequence[str],
    grant: Mapping[str, Any] | None,
    facts: Sequence[SubjectFacts] | None = None,
) -> dict[str, Any]:
    """The input document for ``data.gateway.query.decision``: everything the decision depends on.

    Without ``facts`` the subjects carry no list or prudence facts, and the policy refuses any
    measure (a missing fact counts as present).
    """
    today = now.date()
    extra: list[dict[str, Any]] = (
        [f.as_input() for f in facts] if facts is not None else [{} for _ in spec.subjects]
    )
    return {
        "requester": {"client_id": client_id, "department": department},
        "purpose": spec.purpose,
        "legal_basis": spec.legal_basis,
        "measure": spec.measure,
        "items": [
            {"id": it.item_id, "fields": None if it.fields is None else list(it.fields)} for it in spec.items
        ],
        "subjects": [
            {
                "kind": str(s.kind),
                "id_type": str(s.id_type),
                "minor": s.is_minor(today),
                "commitment": commitment,
                **more,
            }
            for s, commitment, more in zip(spec.subjects, commitments, extra, strict=True)
        ],
        "grant": None if grant is None else dict(grant),
        "now": rfc3339(now),
        "catalog_revision": catalog_revision,
    }


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def plan_read(
    item: CatalogItem,
    decision: ItemDecision,
    subjects: Sequence[SubjectId],
    today: date,
    limit: int,
    *,
    record_key_column: str | None = None,
    excluded_keys: Sequence[str] = (),
) -> SourceQuery:
    """Turn an item's decision into the one statement its source runs.

    Only released columns are selected (plus the subject column, to group rows by subject); the
    decision's row filters become SQL conditions so excluded rows never leave the database. For a
    repairable item the record key is selected too (under ``RECORD_KEY``) and the keys of blocked or
    deleted records are excluded in SQL, whatever the source's own repaired column says.
    """
    conditions: list[Condition] = []
    for row_filter in decision.row_filters:
        if row_filter.kind == "exclude_repaired" and item.source.repaired_column:
            conditions.append(Condition(item.source.repaired_column, "is_null"))
        elif row_filter.kind == "exclude_removed" and item.source.removed_column:
            conditions.append(Condition(item.source.removed_column, "is_null"))
        elif row_filter.kind == "within_disclosure_period" and item.source.decided_column:
            cutoff = _years_before(today, row_filter.years or 0)
            conditions.append(Condition(item.source.decided_column, "on_or_after", cutoff))
        elif row_filter.kind == "basis_document_accepted":
            if item.conduct is None:
                # The policy asks for a filter the catalog cannot apply: refuse rather than share.
                raise ValueError("basis_document_accepted on an item that records no conduct")
            conditions.append(Condition(item.conduct.basis_document_column, "in", row_filter.types))
    columns = tuple((name, item.fields[name].column) for name in decision.fields)
    keyed = ((RECORD_KEY, record_key_column),) if record_key_column else ()
    return SourceQuery(
        database=item.source.database,
        table=item.source.table,
        subject_column=item.source.subject_column,
        subjects=tuple(dict.fromkeys(s.value for s in subjects)),
        columns=((SUBJECT_KEY, item.source.subject_column), *keyed, *columns),
        conditions=tuple(conditions),
        limit=limit,
        key_column=record_key_column if excluded_keys else None,
        excluded_keys=tuple(sorted(set(excluded_keys))) if record_key_column else (),
    )
