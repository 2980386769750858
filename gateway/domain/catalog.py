"""The public credit information catalog (clause (1)) as plain, immutable data.

The catalog lives as YAML under ``policies/catalog/<name>/data.yaml`` so that OPA loads the very same
files as policy data (``data.catalog.<name>``). One file is the national basic catalog (``kind: national``);
the others are local supplementary catalogs (``kind: local``). The file layout::

    kind: national | local
    revision: "2026-11-01"          # the catalog's published revision
    departments: {<id>: {name: ...}}                      # who may provide or request
    purposes: {<code>: {name, statutory_duty: bool, applies_measure: bool, legal_basis,
                        legal_bases: {<basis code>: {law, article}}}}   # what a query cites, (1)(14)
    measures: {<code>: {name, legal_basis,                 # disciplinary measures list, clauses (9)(10)
                        severity: minor | ordinary | serious,
                        follows: {lists: [<list id>], items: [<item id>]},   # what it may follow
                        departments: [<department id>]}}  # who may apply it; nobody else is made to
    lists: {<list id>: {name, field, department, legal_basis, criteria: {document, published_at: [...],
                        comment_period: {from, to}}, items, basis_documents, deciding_level,
                        notice_days, objection_days, verification_days,
                        removal: {conditions, procedures}, remedies, disclosure}}   # clauses (6)-(8)
    databases: {<id>: {department: <department id>}}       # source databases behind the gateway
    # departments, purposes, measures and items may also carry `name_en`, an English name
    items:
      <item id>:
        name: ...
        legal_basis: {law: ..., article: ...}
        department: <source department id>
        subject_kinds: [natural_person | legal_person | individual_business, ...]
        basis_documents: [judgment | arbitration_award | penalty_decision | ..., ...]
        serious_list: bool                                 # a seriously-untrustworthy list, clauses (6)-(8)
        conduct:                                           # null for items that record no conduct
          severity: minor | ordinary | serious             # clause (10)
          date_column: <date the conduct happened>         # age at the conduct, clause (16)
          force_majeure_column: <boolean column> | null    # clause (16)
          unintentional_column: <boolean column> | null    # unintentional and minor, clause (16)
          basis_document_column: <column naming the basis document type>   # clause (2)
        share_scope:
          mode: unconditional | conditional | not_shared
          departments: [...]                               # conditional only
          purposes: [...]                                  # conditional only
        disclosure: {public: bool, period_years: int | null}
        purpose_fields: {<purpose code>: [field, ...]}     # what each purpose needs (minimality)
        source:
          database: <database id>
          table: <table>
          subject_column: <column holding the resident ID or USCC>
          repaired_column: <date column, NULL unless repaired> | null
          removed_column: <date column, NULL unless removed> | null
          decided_column: <date column the disclosure period runs from> | null
        fields:
          <field>: {column, class, desensitize, name?}
          # class: public | name | resident_id | uscc | subject_id | phone | address | bank_card
          #        | date_of_birth | email | free_text
          # desensitize: none | mask | generalize | pseudonymize | encrypt | suppress
    # credit repair, clauses (11)(12): one entry per item of the same document, in its own block
    repairs:
      <item id>:
        repairable: bool
        # repairable: true
        record_key_column: <column naming one record in the source table, not the subject>
        mode: mark | block | delete          # what a repaired record becomes to recipients
        decision_days: int                   # the time limit for deciding an application
        marked: {label: ..., withhold: [field, ...]}   # mark mode only: how a repaired record looks
        # repairable: false
        not_repairable_basis: {law: ..., article: ...}  # the provision that forbids repairing it
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class FieldClass(enum.StrEnum):
    """Personal-information class of a catalog field; decides how it may be desensitized."""

    PUBLIC = "public"
    NAME = "name"
    RESIDENT_ID = "resident_id"
    USCC = "uscc"
    SUBJECT_ID = "subject_id"  # a resident ID or a USCC, depending on the row's subject
    PHONE = "phone"
    ADDRESS = "address"
    BANK_CARD = "bank_card"
    DATE_OF_BIRTH = "date_of_birth"
    EMAIL = "email"
    FREE_TEXT = "free_text"

    @property
    def is_personal(self) -> bool:
        """Whether values of this class can identify a natural person on their own."""
        return self is not FieldClass.PUBLIC


class Operator(enum.StrEnum):
    """Desensitization operators (GB/T 37964-2019 techniques)."""

    NONE = "none"
    MASK = "mask"
    GENERALIZE = "generalize"
    PSEUDONYMIZE = "pseudonymize"
    ENCRYPT = "encrypt"
    SUPPRESS = "suppress"


class RepairMode(enum.StrEnum):
    """What a repaired record becomes to its recipients (clause (11): marked, blocked or deleted)."""

    MARK = "mark"  # still shared, with the repaired marker and date, some fields withheld
    BLOCK = "block"  # no longer shared; the source keeps it
    DELETE = "delete"  # no longer shared; the source is told to delete it


class ShareMode(enum.StrEnum):
    """How far an item is shared (clause (3))."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not_shared"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One released field of an item: where it comes from and how it is protected by default."""

    name: str
    column: str
    field_class: FieldClass
    desensitize: Operator
    label: str = ""


@dataclass(frozen=True, slots=True)
class SourceMapping:
    """Where an item's records live in its department's database."""

    database: str
    table: str
    subject_column: str
    repaired_column: str | None = None
    removed_column: str | None = None
    decided_column: str | None = None


@dataclass(frozen=True, slots=True)
class ShareScope:
    """Which departments, for which purposes, may receive an item."""

    mode: ShareMode
    departments: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()


SEVERITIES: tuple[str, ...] = ("minor", "ordinary", "serious")
"""Conduct and measure severities, lightest first (clause (10): a measure no heavier than the conduct)."""


@dataclass(frozen=True, slots=True)
class Conduct:
    """The conduct an item's records describe: severity, and the columns prudence and (2) read."""

    severity: str
    date_column: str
    basis_document_column: str
    force_majeure_column: str | None = None
    unintentional_column: str | None = None


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A seriously-untrustworthy list (clauses (6)-(8)): where it may be used and how one is listed."""

    id: str
    name: str
    department: str
    items: frozenset[str]
    basis_documents: frozenset[str]
    notice_days: int
    objection_days: int
    verification_days: int
    removal_conditions: str
    removal_procedures: str
    remedies: str
    disclosure_public: bool
    disclosure_period_years: int | None
    public: Mapping[str, Any] = field(default_factory=dict)  # the list's catalog entry, as published

    def as_public(self) -> dict[str, Any]:
        """What the public may know of the list (clause (7): its criteria are published)."""
        return dict(self.public)


@dataclass(frozen=True, slots=True)
class RepairRule:
    """How an item's records are repaired (clauses (11)(12)), or the provision that forbids it."""

    item: str
    repairable: bool
    record_key_column: str  # empty when not repairable
    mode: RepairMode | None = None
    decision_days: int | None = None
    marked_label: str = ""
    withheld_fields: frozenset[str] = frozenset()
    basis_law: str = ""  # when not repairable: the provision that says so
    basis_article: str = ""


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One catalog item: a kind of public credit information with its legal basis and scopes."""

    id: str
    name: str
    catalog: str
    law: str
    article: str
    department: str
    subject_kinds: frozenset[str]
    basis_documents: frozenset[str]
    serious_list: bool
    share_scope: ShareScope
    disclosure_public: bool
    disclosure_period_years: int | None
    purpose_fields: Mapping[str, tuple[str, ...]]
    source: SourceMapping
    fields: Mapping[str, FieldSpec]
    conduct: Conduct | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """The merged national and local catalogs, with the revision of each part."""

    revisions: Mapping[str, str]
    departments: Mapping[str, Mapping[str, Any]]
    purposes: Mapping[str, Mapping[str, Any]]
    measures: Mapping[str, Mapping[str, Any]]
    databases: Mapping[str, Mapping[str, Any]]
    items: Mapping[str, CatalogItem] = field(default_factory=dict)
    repairs: Mapping[str, RepairRule] = field(default_factory=dict)
    lists: Mapping[str, ListSpec] = field(default_factory=dict)

    @property
    def revision(self) -> str:
        """One string naming every part's revision, stable in order."""
        return ";".join(f"{name}@{rev}" for name, rev in sorted(self.revisions.items()))

    def item(self, item_id: str) -> CatalogItem | None:
        """The item with this id, or None when the catalog does not list it."""
        return self.items.get(item_id)

    def repair_rule(self, item_id: str) -> RepairRule | None:
        """How records of this item are repaired, or None when the catalog does not say."""
        return self.repairs.get(item_id)

    def legal_basis_citation(self, purpose: str, code: str) -> str | None:
        """The citation text of basis ``code`` of ``purpose`` (law and article), None when not listed."""
        bases = (self.purposes.get(purpose) or {}).get("legal_bases") or {}
        basis = bases.get(code) if isinstance(bases, Mapping) else None
        if not isinstance(basis, Mapping):
            return None
        return f"{basis.get('law', '')}{basis.get('article', '')}"


def _field(name: str, raw: Mapping[str, Any]) -> FieldSpec:
    return FieldSpec(
        name=name,
        column=str(raw["column"]),
        field_class=FieldClass(raw["class"]),
        desensitize=Operator(raw.get("desensitize", "none")),
        label=str(raw.get("name", "")),
    )


def _item(catalog_name: str, item_id: str, raw: Mapping[str, Any]) -> CatalogItem:
    scope = raw["share_scope"]
    basis = raw.get("legal_basis") or {}
    src = raw["source"]
    disclosure = raw.get("disclosure") or {}
    return CatalogItem(
        id=item_id,
        name=str(raw["name"]),
        catalog=catalog_name,
        law=str(basis.get("law", "")),
        article=str(basis.get("article", "")),
        department=str(raw["department"]),
        subject_kinds=frozenset(raw.get("subject_kinds", ())),
        basis_documents=frozenset(raw.get("basis_documents", ())),
        serious_list=bool(raw.get("serious_list", False)),
        share_scope=ShareScope(
            mode=ShareMode(scope["mode"]),
            departments=frozenset(scope.get("departments", ())),
            purposes=frozenset(scope.get("purposes", ())),
        ),
        disclosure_public=bool(disclosure.get("public", False)),
        disclosure_period_years=disclosure.get("period_years"),
        purpose_fields={p: tuple(fs) for p, fs in (raw.get("purpose_fields") or {}).items()},
        source=SourceMapping(
            database=str(src["database"]),
            table=str(src["table"]),
            subject_column=str(src["subject_column"]),
            repaired_column=src.get("repaired_column"),
            removed_column=src.get("removed_column"),
            decided_column=src.get("decided_column"),
        ),
        fields={name: _field(name, f) for name, f in (raw.get("fields") or {}).items()},
        conduct=_conduct(raw.get("conduct")),
    )


def _conduct(raw: Mapping[str, Any] | None) -> Conduct | None:
    if not raw:
        return None
    return Conduct(
        severity=str(raw["severity"]),
        date_column=str(raw["date_column"]),
        basis_document_column=str(raw["basis_document_column"]),
        force_majeure_column=raw.get("force_majeure_column"),
        unintentional_column=raw.get("unintentional_column"),
    )


def _list(list_id: str, raw: Mapping[str, Any]) -> ListSpec:
    removal = raw.get("removal") or {}
    disclosure = raw.get("disclosure") or {}
    return ListSpec(
        id=list_id,
        name=str(raw["name"]),
        department=str(raw["department"]),
        items=frozenset(raw.get("items") or ()),
        basis_documents=frozenset(raw.get("basis_documents") or ()),
        notice_days=int(raw["notice_days"]),
        objection_days=int(raw["objection_days"]),
        verification_days=int(raw["verification_days"]),
        removal_conditions=str(removal.get("conditions", "")),
        removal_procedures=str(removal.get("procedures", "")),
        remedies=str(raw.get("remedies", "")),
        disclosure_public=bool(disclosure.get("public", False)),
        disclosure_period_years=disclosure.get("period_years"),
        public=dict(raw),
    )


def _repair_rule(item_id: str, raw: Mapping[str, Any]) -> RepairRule:
    repairable = bool(raw["repairable"])
    marked = raw.get("marked") or {}
    basis = raw.get("not_repairable_basis") or {}
    return RepairRule(
        item=item_id,
        repairable=repairable,
        record_key_column=str(raw.get("record_key_column") or ""),
        mode=RepairMode(raw["mode"]) if repairable else None,
        decision_days=int(raw["decision_days"]) if repairable else None,
        marked_label=str(marked.get("label", "")),
        withheld_fields=frozenset(marked.get("withhold") or ()),
        basis_law=str(basis.get("law", "")),
        basis_article=str(basis.get("article", "")),
    )


def build_catalog(documents: Mapping[str, Mapping[str, Any]]) -> Catalog:
    """Merge parsed catalog documents (name -> YAML content) into one Catalog.

    Assumes the documents passed ``check_catalog``; raises KeyError/ValueError on a malformed one.
    """
    revisions: dict[str, str] = {}
    departments: dict[str, Mapping[str, Any]] = {}
    purposes: dict[str, Mapping[str, Any]] = {}
    measures: dict[str, Mapping[str, Any]] = {}
    databases: dict[str, Mapping[str, Any]] = {}
    items: dict[str, CatalogItem] = {}
    repairs: dict[str, RepairRule] = {}
    lists: dict[str, ListSpec] = {}
    for name in sorted(documents):
        doc = documents[name]
        revisions[name] = str(doc.get("revision", ""))
        departments.update(doc.get("departments") or {})
        purposes.update(doc.get("purposes") or {})
        measures.update(doc.get("measures") or {})
        databases.update(doc.get("databases") or {})
        for item_id, raw in (doc.get("items") or {}).items():
            items[item_id] = _item(name, item_id, raw)
        for item_id, raw in (doc.get("repairs") or {}).items():
            repairs[item_id] = _repair_rule(item_id, raw)
        for list_id, raw in (doc.get("lists") or {}).items():
            lists[list_id] = _list(list_id, raw)
    return Catalog(revisions, departments, purposes, measures, databases, items, repairs, lists)
