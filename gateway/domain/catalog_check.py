"""Checks on the catalog documents before anyone relies on them.

Pure: takes the parsed YAML documents (catalog name -> content) and, optionally, the columns of the
source databases (database id -> table -> column names, reflected by an adapter), and returns every
problem found, each with the file, the dotted path inside it and a message. An empty list means the
catalog can be loaded, served and handed to the policy engine.

Paths use the document's own keys joined by dots and list positions in brackets, for example
``items.market.admin_penalty.fields.phone.class`` or ``items.tax.major_violation.subject_kinds[1]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.domain.catalog import SEVERITIES, FieldClass, Operator, RepairMode, ShareMode
from gateway.domain.identifiers import SubjectKind

PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
ITEM_ID = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
KINDS = ("national", "local")
SECTIONS = ("departments", "purposes", "measures", "lists", "databases", "items")
# The fields clause (6) allows seriously-untrustworthy lists in, and nowhere else.
LIST_FIELDS = (
    "health_safety",  # serious harm to people's health and safety of life
    "market_order",  # serious violation of fair competition and normal social order
    "legal_obligation",  # refusal to perform legal obligations
    "judicial_credibility",  # seriously affecting the credibility of judicial and administrative organs
    "national_defense",  # refusal to perform national defence obligations
)
# Clause (8): decided by a department at or above the county level.
DECIDING_LEVELS = ("county", "city", "province", "national")
# Clause (2): judgments, arbitration, administrative decisions, and documents laws name.
DOCUMENT_TYPES = (
    "judgment",
    "ruling",
    "mediation_statement",
    "arbitration_award",
    "penalty_decision",
    "administrative_ruling",
    "tax_handling_decision",
    "administrative_decision",
)
MIN_COMMENT_DAYS = 30  # clause (7)
# Field classes that identify a natural person on their own: their default may not be "none".
# A USCC is exempt: legal persons' codes are public; individual businesses' codes are protected by
# the policy's subject-kind rules, not by a default.
_NEVER_CLEAR = frozenset(FieldClass) - {FieldClass.PUBLIC, FieldClass.USCC}

Sources = Mapping[str, Mapping[str, AbstractSet[str]]]


@dataclass(frozen=True, slots=True, order=True)
class CatalogProblem:
    """One problem: the catalog file (relative to the policies directory), where in it, and what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


def catalog_file(name: str) -> str:
    """The file a catalog named ``name`` lives in, relative to the policies directory."""
    return f"catalog/{name}/data.yaml"


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _describe(value: Any) -> str:
    return type(value).__name__


class _Checker:
    def __init__(self, documents: Mapping[str, Mapping[str, Any]], sources: Sources | None) -> None:
        self.documents = documents
        self.sources = sources
        self.problems: list[CatalogProblem] = []
        self.file = ""
        self.departments: set[str] = set()
        self.purposes: set[str] = set()
        self.databases: dict[str, Any] = {}
        self.item_ids: set[str] = set()
        self.list_ids: set[str] = set()

    def report(self, path: str, message: str) -> None:
        self.problems.append(CatalogProblem(self.file, path, message))

    def section(self, doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        value = doc.get(name)
        return value if isinstance(value, Mapping) else {}

    # --- whole catalog ---

    def run(self) -> list[CatalogProblem]:
        names = sorted(self.documents)
        for name in names:
            doc = self.documents[name]
            if isinstance(doc, Mapping):
                self.departments.update(self.section(doc, "departments"))
                self.purposes.update(self.section(doc, "purposes"))
                self.databases.update(self.section(doc, "databases"))
                self.item_ids.update(self.section(doc, "items"))
                self.list_ids.update(self.section(doc, "lists"))
        for name in names:
            self.file = catalog_file(name)
            self.document(self.documents[name])
        self.across(names)
        return self.problems

    def across(self, names: list[str]) -> None:
        docs = {n: d for n, d in self.documents.items() if isinstance(d, Mapping)}
        national = [n for n in names if n in docs and docs[n].get("kind") == "national"]
        if not national:
            self.file = catalog_file("*")
            self.report("kind", "there is no national basic catalog (kind: national), clause (1)")
        if len(national) > 1:
            for name in national:
                self.file = catalog_file(name)
                self.report("kind", f"there must be one national catalog, not {len(national)}: {national}")
        ordered = national + [n for n in names if n in docs and n not in national]
        for section in SECTIONS:
            seen: dict[str, str] = {}
            for name in ordered:
                self.file = catalog_file(name)
                for entry_id, entry in self.section(docs[name], section).items():
                    first = seen.setdefault(entry_id, name)
                    if first == name:
                        continue
                    other = self.section(docs[first], section)[entry_id]
                    if first in national and name not in national:
                        if section == "items" or entry != other:
                            self.report(
                                _join(section, entry_id),
                                f"a local catalog may not redefine the national catalog's {section[:-1]} "
                                f"{entry_id!r} (clause (1): local catalogs supplement, never override)",
                            )
                    elif section == "items" or entry != other:
                        self.report(
                            _join(section, entry_id),
                            f"duplicate {section[:-1]} id {entry_id!r}, "
                            f"also defined in {catalog_file(first)}",
                        )

    # --- one document ---

    def document(self, doc: Any) -> None:
        if not isinstance(doc, Mapping):
            self.report("", f"a catalog document must be a mapping, not {_describe(doc)}")
            return
        self.json_compatible(doc, "")
        if doc.get("kind") not in KINDS:
            self.report("kind", f"kind must be one of {', '.join(KINDS)}")
        if not _text(doc.get("revision")):
            self.report("revision", "revision must be a non-empty string (quote dates)")
        for name in SECTIONS:
            if name in doc and doc[name] is not None and not isinstance(doc[name], Mapping):
                self.report(name, f"{name} must be a mapping")
        for dep_id, dep in self.section(doc, "departments").items():
            if not isinstance(dep, Mapping) or not _text(dep.get("name")):
                self.report(_join("departments", dep_id), "a department needs a name")
        for code, purpose in self.section(doc, "purposes").items():
            self.purpose(_join("purposes", code), purpose)
        for code, measure in self.section(doc, "measures").items():
            path = _join("measures", code)
            if not isinstance(measure, Mapping) or not _text(measure.get("name")):
                self.report(path, "a measure needs a name")
                continue
            self.legal_basis(_join(path, "legal_basis"), measure.get("legal_basis"), "measure", "(9)")
            self.measure(path, measure)
        for list_id, spec in self.section(doc, "lists").items():
            self.serious_list(_join("lists", list_id), spec)
        for db_id, db in self.section(doc, "databases").items():
            path = _join("databases", db_id)
            department = db.get("department") if isinstance(db, Mapping) else None
            if department not in self.departments:
                self.report(_join(path, "department"), f"unknown department {department!r}")
        for item_id, item in self.section(doc, "items").items():
            self.item(_join("items", item_id), str(item_id), item)
        self.repairs(doc)

    def json_compatible(self, value: Any, path: str) -> None:
        # OPA reads these files as JSON data: YAML dates, sets or non-string keys would not survive.
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if not isinstance(key, str):
                    self.report(_join(path, key), "keys must be strings (quote them)")
                self.json_compatible(inner, _join(path, key))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                self.json_compatible(inner, f"{path}[{i}]")
        elif not isinstance(value, str | int | float | bool) and value is not None:
            self.report(path, f"value of type {_describe(value)} is not JSON-compatible (quote it)")

    def purpose(self, path: str, purpose: Any) -> None:
        if not isinstance(purpose, Mapping) or not _text(purpose.get("name")):
            self.report(path, "a purpose needs a name")
            return
        for flag in ("statutory_duty", "applies_measure"):
            if not isinstance(purpose.get(flag), bool):
                self.report(_join(path, flag), f"{flag} must be true or false")
        self.legal_basis(_join(path, "legal_basis"), purpose.get("legal_basis"), "purpose", "(14)")
        bases = purpose.get("legal_bases")
        if not isinstance(bases, Mapping) or not bases:
            self.report(
                _join(path, "legal_bases"),
                "a purpose lists the legal bases a query may cite, by code, clauses (1)(14)",
            )
            return
        for code, basis in bases.items():
            entry = _join(_join(path, "legal_bases"), code)
            if not isinstance(code, str) or not PLAIN_IDENTIFIER.fullmatch(code):
                self.report(entry, "a legal basis code is a plain identifier")
            self.legal_basis(entry, basis, "purpose", "(14)")

    def measure(self, path: str, measure: Mapping[str, Any]) -> None:
        if measure.get("severity") not in SEVERITIES:
            self.report(
                _join(path, "severity"), f"a measure needs a severity, one of {list(SEVERITIES)}, clause (10)"
            )
        follows = measure.get("follows")
        if not isinstance(follows, Mapping):
            self.report(
                _join(path, "follows"), "a measure names the lists or items it may follow, clause (10)"
            )
        else:
            count = 0
            for key, known in (("lists", self.list_ids), ("items", self.item_ids)):
                values = follows.get(key) or []
                if not isinstance(values, list):
                    self.report(_join(_join(path, "follows"), key), f"{key} must be a list")
                    continue
                count += len(values)
                for i, value in enumerate(values):
                    if value not in known:
                        self.report(
                            f"{_join(_join(path, 'follows'), key)}[{i}]", f"unknown {key[:-1]} {value!r}"
                        )
            if count == 0:
                self.report(
                    _join(path, "follows"),
                    "a measure follows at least one list or item: it must be linked to the conduct, "
                    "clause (10)",
                )
        departments = measure.get("departments")
        if not isinstance(departments, list) or not departments:
            self.report(
                _join(path, "departments"), "a measure names the departments that may apply it, clause (9)"
            )
        else:
            for i, dep in enumerate(departments):
                if dep not in self.departments:
                    self.report(f"{_join(path, 'departments')}[{i}]", f"unknown department {dep!r}")

    def serious_list(self, path: str, spec: Any) -> None:
        if not isinstance(spec, Mapping) or not _text(spec.get("name")):
            self.report(path, "a list needs a name")
            return
        if spec.get("field") not in LIST_FIELDS:
            self.report(
                _join(path, "field"),
                f"a list may exist only in a field the law establishes, one of {list(LIST_FIELDS)}, "
                "clause (6)",
            )
        if spec.get("department") not in self.departments:
            self.report(_join(path, "department"), f"unknown department {spec.get('department')!r}")
        self.legal_basis(_join(path, "legal_basis"), spec.get("legal_basis"), "list", "(6)")
        self.criteria(_join(path, "criteria"), spec.get("criteria"))
        items = spec.get("items")
        if not isinstance(items, list) or not items:
            self.report(_join(path, "items"), "a list names the catalog items its listings rest on")
        else:
            for i, item in enumerate(items):
                if item not in self.item_ids:
                    self.report(f"{_join(path, 'items')}[{i}]", f"unknown item {item!r}")
        self.document_types(_join(path, "basis_documents"), spec.get("basis_documents"), required=True)
        if spec.get("deciding_level") not in DECIDING_LEVELS:
            self.report(
                _join(path, "deciding_level"),
                f"a list is decided at or above the county level, one of {list(DECIDING_LEVELS)}, clause (8)",
            )
        for key in ("notice_days", "objection_days", "verification_days"):
            days = spec.get(key)
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                self.report(_join(path, key), f"{key} must be a positive whole number of days, clause (8)")
        removal = spec.get("removal")
        for part in ("conditions", "procedures"):
            if not isinstance(removal, Mapping) or not _text(removal.get(part)):
                self.report(
                    _join(_join(path, "removal"), part), f"a list states its removal {part}, clause (7)"
                )
        if not _text(spec.get("remedies")):
            self.report(_join(path, "remedies"), "a list states the remedies open to the party, clause (7)")
        self.disclosure(_join(path, "disclosure"), spec.get("disclosure"))

    def criteria(self, path: str, criteria: Any) -> None:
        if not isinstance(criteria, Mapping):
            self.report(path, "a list needs its published identification criteria, clause (7)")
            return
        if not _text(criteria.get("document")):
            self.report(_join(path, "document"), "the criteria name the document that sets them, clause (7)")
        published = criteria.get("published_at")
        if not isinstance(published, list) or not published or not all(_text(p) for p in published):
            self.report(_join(path, "published_at"), "the criteria say where they are published, clause (7)")
        period = criteria.get("comment_period")
        dates: list[date] = []
        for key in ("from", "to"):
            value = period.get(key) if isinstance(period, Mapping) else None
            try:
                dates.append(date.fromisoformat(str(value)))
            except ValueError:
                self.report(_join(_join(path, "comment_period"), key), "a date, YYYY-MM-DD (quote it)")
        if len(dates) == 2 and (dates[1] - dates[0]).days < MIN_COMMENT_DAYS:
            self.report(
                _join(path, "comment_period"),
                f"the public comment period is shorter than {MIN_COMMENT_DAYS} days, clause (7)",
            )

    def document_types(self, path: str, documents: Any, *, required: bool) -> None:
        if not isinstance(documents, list) or not all(_text(d) for d in documents):
            self.report(path, "basis_documents must be a list of document types")
            return
        if required and not documents:
            self.report(path, "name the legally effective documents it rests on, clause (2)")
        for i, doc in enumerate(documents):
            if doc not in DOCUMENT_TYPES:
                self.report(f"{path}[{i}]", f"{doc!r} is not a legally effective document type, clause (2)")

    def conduct(self, path: str, conduct: Any, documents: Any) -> tuple[str, ...]:
        """Check an item's conduct block; return the source columns it names."""
        if conduct is None:
            if documents:
                self.report(
                    path, "an item whose records rest on basis documents describes the conduct, clause (2)"
                )
            return ()
        if not isinstance(conduct, Mapping):
            self.report(path, "conduct must be a mapping or null")
            return ()
        if conduct.get("severity") not in SEVERITIES:
            self.report(_join(path, "severity"), f"severity must be one of {list(SEVERITIES)}, clause (10)")
        columns: list[str] = []
        for key in ("date_column", "basis_document_column", "force_majeure_column", "unintentional_column"):
            value = conduct.get(key)
            if value is None and key in ("force_majeure_column", "unintentional_column"):
                continue
            if not isinstance(value, str) or not PLAIN_IDENTIFIER.fullmatch(value):
                self.report(_join(path, key), f"{key} must be a plain SQL identifier")
                continue
            columns.append(value)
        if not documents:
            self.report(
                _join(path, "basis_document_column"),
                "a record of conduct names the legally effective document types it accepts, clause (2)",
            )
        return tuple(columns)

    def legal_basis(self, path: str, basis: Any, what: str, clause: str) -> None:
        if not isinstance(basis, Mapping) or not (_text(basis.get("law")) or _text(basis.get("article"))):
            self.report(path, f"{what} has no legal basis (law and article), clause {clause}")
            return
        for part in ("law", "article"):
            if not _text(basis.get(part)):
                self.report(_join(path, part), f"{what}'s legal basis needs its {part}, clause {clause}")

    # --- one item ---

    def item(self, path: str, item_id: str, item: Any) -> None:
        if not ITEM_ID.fullmatch(item_id):
            self.report(path, "item ids are dotted lower-case names, e.g. market.admin_penalty")
        if not isinstance(item, Mapping):
            self.report(path, "an item must be a mapping")
            return
        if not _text(item.get("name")):
            self.report(_join(path, "name"), "an item needs a name")
        self.legal_basis(_join(path, "legal_basis"), item.get("legal_basis"), "item", "(1)")
        if item.get("department") not in self.departments:
            self.report(_join(path, "department"), f"unknown department {item.get('department')!r}")
        self.subject_kinds(_join(path, "subject_kinds"), item.get("subject_kinds"))
        if not isinstance(item.get("serious_list", False), bool):
            self.report(_join(path, "serious_list"), "serious_list must be true or false")
        documents = item.get("basis_documents", [])
        if not isinstance(documents, list) or not all(_text(d) for d in documents):
            self.report(_join(path, "basis_documents"), "basis_documents must be a list of document types")
        elif item.get("serious_list") is True and not documents:
            self.report(
                _join(path, "basis_documents"),
                "a serious-untrustworthiness list must name the legally effective documents it rests on, "
                "clauses (2)(6)",
            )
        elif documents:
            self.document_types(_join(path, "basis_documents"), documents, required=False)
        conduct_columns = self.conduct(_join(path, "conduct"), item.get("conduct"), documents)
        self.disclosure(_join(path, "disclosure"), item.get("disclosure"))
        fields = item.get("fields")
        if not isinstance(fields, Mapping) or not fields:
            self.report(_join(path, "fields"), "an item needs at least one field")
            fields = {}
        self.disclosed_fields(_join(path, "disclosure"), item.get("disclosure"), fields)
        mode, scope_purposes = self.share_scope(_join(path, "share_scope"), item.get("share_scope"))
        self.purpose_fields(
            _join(path, "purpose_fields"), item.get("purpose_fields"), fields, mode, scope_purposes
        )
        table_columns = self.source(_join(path, "source"), item.get("source"), item.get("department"))
        for name, spec in fields.items():
            self.field(_join(_join(path, "fields"), name), spec, table_columns)
        if table_columns is not None:
            for column in conduct_columns:
                if column not in table_columns:
                    self.report(
                        _join(path, "conduct"), f"column {column!r} does not exist in the source table"
                    )

    def disclosed_fields(self, path: str, disclosure: Any, fields: Mapping[str, Any]) -> None:
        if not isinstance(disclosure, Mapping):
            return
        names = disclosure.get("fields")
        if disclosure.get("public") is True and (not isinstance(names, list) or not names):
            self.report(_join(path, "fields"), "a public item lists the fields it discloses, clause (4)")
            return
        for i, name in enumerate(names if isinstance(names, list) else []):
            if name not in fields:
                self.report(f"{_join(path, 'fields')}[{i}]", f"the item has no field {name!r}")

    def subject_kinds(self, path: str, kinds: Any) -> None:
        if not isinstance(kinds, list) or not kinds:
            self.report(path, "an item needs a non-empty list of subject kinds")
            return
        known = {str(k) for k in SubjectKind}
        for i, kind in enumerate(kinds):
            if kind not in known:
                self.report(f"{path}[{i}]", f"unknown subject kind {kind!r}; expected one of {sorted(known)}")

    def disclosure(self, path: str, disclosure: Any) -> None:
        if not isinstance(disclosure, Mapping):
            self.report(path, "an item needs a disclosure scope {public, period_years}, clause (4)")
            return
        if not isinstance(disclosure.get("public"), bool):
            self.report(_join(path, "public"), "public must be true or false")
        years = disclosure.get("period_years")
        if years is not None and (isinstance(years, bool) or not isinstance(years, int) or years < 1):
            self.report(_join(path, "period_years"), "period_years must be a positive whole number or null")

    def share_scope(self, path: str, scope: Any) -> tuple[str | None, set[str]]:
        if not isinstance(scope, Mapping):
            self.report(path, "an item needs a share scope, clause (3)")
            return None, set()
        mode = scope.get("mode")
        modes = [str(m) for m in ShareMode]
        if mode not in modes:
            self.report(_join(path, "mode"), f"bad share mode {mode!r}; expected one of {modes}")
            return None, set()
        found: dict[str, set[str]] = {}
        for key, known in (("departments", self.departments), ("purposes", self.purposes)):
            values = scope.get(key)
            if mode != ShareMode.CONDITIONAL:
                if values:
                    self.report(
                        _join(path, key), f"only a conditional scope lists {key} ({mode} ignores them)"
                    )
                continue
            if not isinstance(values, list) or not values:
                self.report(_join(path, key), f"a conditional share scope needs at least one of its {key}")
                continue
            for i, value in enumerate(values):
                if value not in known:
                    self.report(f"{_join(path, key)}[{i}]", f"unknown {key[:-1]} {value!r}")
            found[key] = {v for v in values if isinstance(v, str)}
        return str(mode), found.get("purposes", set())

    def purpose_fields(
        self, path: str, raw: Any, fields: Mapping[str, Any], mode: str | None, scope_purposes: set[str]
    ) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.report(path, "purpose_fields must map purposes to lists of fields")
            return
        for purpose, names in raw.items():
            entry = _join(path, purpose)
            if purpose not in self.purposes:
                self.report(entry, f"unknown purpose {purpose!r}")
            elif mode == ShareMode.CONDITIONAL and purpose not in scope_purposes:
                self.report(entry, f"purpose {purpose!r} is outside the item's share scope")
            elif mode == ShareMode.NOT_SHARED:
                self.report(entry, "an item that is not shared needs no purpose fields")
            if not isinstance(names, list) or not names:
                self.report(entry, "list the fields the purpose needs (at least one), clause (14)")
                continue
            for i, name in enumerate(names):
                if name not in fields:
                    self.report(f"{entry}[{i}]", f"the item has no field {name!r}")
        if mode == ShareMode.CONDITIONAL:
            for purpose in sorted(scope_purposes - set(raw)):
                self.report(path, f"the item is shared for {purpose!r} but lists no fields for it")

    def source(self, path: str, source: Any, department: Any) -> AbstractSet[str] | None:
        """Check the source mapping; return the reflected columns of its table when known."""
        if not isinstance(source, Mapping):
            self.report(path, "an item needs a source {database, table, subject_column, ...}")
            return None
        database = source.get("database")
        if database not in self.databases:
            self.report(_join(path, "database"), f"source database {database!r} is not declared in databases")
        else:
            owner = self.databases[database]
            owner_id = owner.get("department") if isinstance(owner, Mapping) else None
            if owner_id != department:
                self.report(
                    _join(path, "database"),
                    f"database {database!r} belongs to {owner_id!r}, not to the item's department",
                )
        names = ("table", "subject_column", "repaired_column", "removed_column", "decided_column")
        for key in names:
            value = source.get(key)
            optional = key not in ("table", "subject_column")
            if value is None and optional:
                continue
            if not isinstance(value, str) or not PLAIN_IDENTIFIER.fullmatch(value):
                self.report(_join(path, key), f"{key} must be a plain SQL identifier")
        if self.sources is None or not isinstance(database, str):
            return None
        tables = self.sources.get(database)
        if tables is None:
            self.report(
                _join(path, "database"),
                f"database {database!r} was not reflected (no URL given, or unreadable)",
            )
            return None
        table = source.get("table")
        columns = tables.get(table) if isinstance(table, str) else None
        if columns is None:
            self.report(_join(path, "table"), f"table {table!r} does not exist in database {database!r}")
            return None
        for key in names[1:]:
            value = source.get(key)
            if isinstance(value, str) and value not in columns:
                self.report(_join(path, key), f"column {value!r} does not exist in table {table!r}")
        return columns

    def field(self, path: str, spec: Any, table_columns: AbstractSet[str] | None) -> None:
        if not isinstance(spec, Mapping):
            self.report(path, "a field must be a mapping {column, class, desensitize, name}")
            return
        column = spec.get("column")
        if not isinstance(column, str) or not PLAIN_IDENTIFIER.fullmatch(column):
            self.report(_join(path, "column"), "column must be a plain SQL identifier")
        elif table_columns is not None and column not in table_columns:
            self.report(_join(path, "column"), f"column {column!r} does not exist in the source table")
        classes = [str(c) for c in FieldClass]
        operators = [str(o) for o in Operator]
        field_class = spec.get("class")
        operator = spec.get("desensitize", "none")
        if field_class not in classes:
            self.report(
                _join(path, "class"), f"unknown field class {field_class!r}; expected one of {classes}"
            )
        if operator not in operators:
            self.report(
                _join(path, "desensitize"), f"unknown desensitize operator {operator!r}; expected {operators}"
            )
        elif field_class in classes and FieldClass(field_class) in _NEVER_CLEAR and operator == Operator.NONE:
            self.report(
                _join(path, "desensitize"),
                f"a {field_class} field may not default to no desensitization, clause (4)",
            )
        if "name" in spec and not isinstance(spec["name"], str):
            self.report(_join(path, "name"), "name must be a string")

    # --- credit repair, clauses (11)(12) ---

    def repairs(self, doc: Mapping[str, Any]) -> None:
        """Every item of the document says whether and how it is repaired; nothing else is listed."""
        raw = doc.get("repairs")
        if raw is not None and not isinstance(raw, Mapping):
            self.report("repairs", "repairs must map item ids to repair rules")
            return
        rules = raw or {}
        items = self.section(doc, "items")
        for item_id in items:
            if item_id not in rules:
                self.report(
                    _join("repairs", item_id),
                    "the item has no credit repair rule (repairable, mode, decision_days or the basis "
                    "forbidding repair), clauses (11)(12)",
                )
        for item_id, rule in rules.items():
            path = _join("repairs", item_id)
            item = items.get(item_id)
            if not isinstance(item, Mapping):
                self.report(path, f"repair rule for {item_id!r}, which is not an item of this catalog")
                continue
            self.repair_rule(path, rule, item)

    def repair_rule(self, path: str, rule: Any, item: Mapping[str, Any]) -> None:
        if not isinstance(rule, Mapping):
            self.report(path, "a repair rule must be a mapping")
            return
        for key in rule:
            if "fee" in str(key) or "charge" in str(key):
                self.report(
                    _join(path, key), "credit repair is free of charge, clause (12): no fee may be set"
                )
        repairable = rule.get("repairable")
        if not isinstance(repairable, bool):
            self.report(_join(path, "repairable"), "repairable must be true or false")
            return
        if repairable:
            self.record_key(_join(path, "record_key_column"), rule.get("record_key_column"), item)
            mode = rule.get("mode")
            modes = [str(m) for m in RepairMode]
            if mode not in modes:
                self.report(
                    _join(path, "mode"), f"bad repair mode {mode!r}; expected one of {modes}, clause (11)"
                )
            days = rule.get("decision_days")
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
                self.report(
                    _join(path, "decision_days"),
                    "decision_days (the time limit for deciding an application) must be 1..365, clause (12)",
                )
            if "not_repairable_basis" in rule:
                self.report(
                    _join(path, "not_repairable_basis"), "a repairable item has no basis forbidding repair"
                )
            marked = rule.get("marked")
            if mode == RepairMode.MARK:
                self.marked(_join(path, "marked"), marked, item)
            elif marked is not None:
                self.report(
                    _join(path, "marked"), f"only mark mode describes a marked record ({mode} does not)"
                )
            return
        for key in ("mode", "decision_days", "marked", "record_key_column"):
            if key in rule:
                self.report(_join(path, key), f"an item that cannot be repaired has no {key}")
        self.legal_basis(
            _join(path, "not_repairable_basis"), rule.get("not_repairable_basis"), "unrepairable item", "(11)"
        )

    def marked(self, path: str, marked: Any, item: Mapping[str, Any]) -> None:
        if not isinstance(marked, Mapping) or not _text(marked.get("label")):
            self.report(path, "mark mode needs marked.label: what recipients see on a repaired record")
            return
        withhold = marked.get("withhold", [])
        fields = _mapping(item.get("fields"))
        if not isinstance(withhold, list):
            self.report(_join(path, "withhold"), "withhold must be a list of the item's fields")
            return
        for i, name in enumerate(withhold):
            if name not in fields:
                self.report(f"{_join(path, 'withhold')}[{i}]", f"the item has no field {name!r}")

    def record_key(self, path: str, column: Any, item: Mapping[str, Any]) -> None:
        # The record key is stored in clear by the repair store and passed to the source's SQL, so it
        # must name a row, never a person: not the subject column, not a personal field's column.
        if not isinstance(column, str) or not PLAIN_IDENTIFIER.fullmatch(column):
            self.report(path, "record_key_column must be a plain SQL identifier")
            return
        source = _mapping(item.get("source"))
        if column == source.get("subject_column"):
            self.report(path, "the record key may not be the subject column (it would be an identifier)")
        fields = _mapping(item.get("fields"))
        for name, spec in fields.items():
            if not isinstance(spec, Mapping) or spec.get("column") != column:
                continue
            field_class = spec.get("class")
            if field_class in [str(c) for c in FieldClass] and FieldClass(field_class).is_personal:
                self.report(path, f"the record key may not be a personal field's column ({name})")
        database, table = source.get("database"), source.get("table")
        if self.sources is None or not isinstance(database, str) or not isinstance(table, str):
            return
        columns = (self.sources.get(database) or {}).get(table)
        if columns is not None and column not in columns:
            self.report(path, f"column {column!r} does not exist in table {table!r}")


def check_catalog(
    documents: Mapping[str, Mapping[str, Any]], sources: Sources | None = None
) -> list[CatalogProblem]:
    """Every problem in the catalog documents (name -> parsed YAML); empty when the catalog is sound.

    With ``sources`` (database id -> table -> column names, as reflected from the real databases)
    the source mappings are also checked against the tables that actually exist.
    """
    return _Checker(documents, sources).run()
