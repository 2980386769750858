"""The public credit information catalog (clause (1)) as plain, immutable data.

The catalog lives as YAML under ``policies/catalog/<name>/data.yaml`` so that OPA loads the very same
files as policy data (``data.catalog.<name>``). One file is the national basic catalog (``kind: national``);
the others are local supplementary catalogs (``kind: local``). The file layout::

    kind: national | local
    revision: "2026-11-01"          # the catalog's published revision
    departments: {<id>: {name: ...}}                      # who may provide or request
    purposes: {<code>: {name, statutory_duty: bool, applies_measure: bool, legal_basis}}
    measures: {<code>: {name, legal_basis}}                # disciplinary measures list, clauses (9)(10)
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
    return Catalog(revisions, departments, purposes, measures, databases, items, repairs)
