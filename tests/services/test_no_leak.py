"""No personal value leaves in clear unless the decision cleared it: every demo record, every
requester, every purpose (and measure) the demo catalog has, through the real query path.

The path is the production one: the Rego policies on regorus decide, the demo SQLite databases are
read by the SQL sources, ``CatalogDesensitizer`` desensitizes. The ledger is the in-memory one (real
canonical records, identifier guard and receipts; the SQL ledger has its own tests), which keeps a
sweep of thousands of queries from waiting on thousands of durable commits. The only addition is a
recording wrapper around the desensitizer, so the test sees each decision's obligations next to the
values that were released under them.

What counts as a personal value comes from the generated data, independently of the scanner: every
value of a column whose catalog class is personal, and every ID-shaped or mobile-shaped string inside
free text (valid or not: a typo is personal data too). A value may appear in clear only in a field
whose obligation is ``none`` for that value's class. Names and birth dates are compared with whole
field values (short names also occur by chance inside unrelated text); identifiers, phones and
addresses are looked for anywhere inside every released value. Names inside free text are out of
scope by design (DESIGN §6: names are known from the catalog, not guessed).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.adapters.desensitizer import CatalogDesensitizer
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.policy.catalog_files import load_catalog
from gateway.adapters.policy.regorus import RegorusEngine
from gateway.adapters.sql.sources import SqlSourceRegistry
from gateway.demo.data import DemoDataset, generate_demo_data, write_demo_sqlite
from gateway.domain.catalog import Catalog, FieldClass, FieldSpec, Operator
from gateway.domain.decision import ItemDecision, Obligation
from gateway.domain.desensitize.text_scan import FastScanner
from gateway.domain.identifiers import SubjectId, is_valid_resident_id, is_valid_uscc, parse_subject
from gateway.domain.ledger.commitments import subject_commitment
from gateway.domain.query import ItemRequest, QuerySpec
from gateway.errors import PolicyDenied
from gateway.ports import JSON, Actor
from gateway.services.query import QueryService
from tests.support.memory_ledger import MemoryLedger
from tests.support.metrics import catalog_metrics

# The day the identifiers are checked on (birth dates may not be after it).
TODAY = date(2026, 11, 22)

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BATCH = 40

_ID_SHAPED = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_SHAPED = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
_WHOLE_VALUE = frozenset({FieldClass.NAME, FieldClass.DATE_OF_BIRTH})


class Clock:
    def now(self) -> datetime:
        return NOW


class RecordingDesensitizer:
    """The real desensitizer, remembering each item decision and what it released under it."""

    def __init__(self, inner: CatalogDesensitizer) -> None:
        self.inner = inner
        self.released: list[tuple[ItemDecision, list[dict[str, JSON]]]] = []

    def desensitize(
        self,
        rows: Sequence[Mapping[str, JSON]],
        item: ItemDecision,
        fields: Mapping[str, FieldSpec],
        recipient: str,
    ) -> list[dict[str, JSON]]:
        out = self.inner.desensitize(rows, item, fields, recipient)
        self.released.append((item, out))
        return out


@dataclass(frozen=True, slots=True)
class PersonalValue:
    text: str
    field_class: FieldClass  # uscc stands for a 92-code here


def _as_text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def personal_values(data: DemoDataset, catalog: Catalog) -> set[PersonalValue]:
    """Every personal value in the generated data, classified by the catalog's column classes."""
    classes: dict[tuple[str, str, str], FieldClass] = {}
    for item in catalog.items.values():
        for spec in item.fields.values():
            classes[(item.source.database, item.source.table, spec.column)] = spec.field_class
    public: set[str] = set()
    found: set[PersonalValue] = set()
    for database, tables in data.rows.items():
        for table, rows in tables.items():
            for row in rows:
                for column, value in row.items():
                    cls = classes.get((database, table, column))
                    if cls is None or value is None:
                        continue
                    text = _as_text(value)
                    if cls is FieldClass.PUBLIC:
                        public.add(text)
                    elif cls is FieldClass.FREE_TEXT:
                        found |= {PersonalValue(m, FieldClass.RESIDENT_ID) for m in _ID_SHAPED.findall(text)}
                        found |= {PersonalValue(m, FieldClass.PHONE) for m in _MOBILE_SHAPED.findall(text)}
                    elif cls in (FieldClass.SUBJECT_ID, FieldClass.USCC, FieldClass.RESIDENT_ID):
                        if is_valid_resident_id(text):
                            found.add(PersonalValue(text, FieldClass.RESIDENT_ID))
                        elif is_valid_uscc(text) and text.startswith("92"):
                            found.add(PersonalValue(text, FieldClass.USCC))
                        elif cls is FieldClass.RESIDENT_ID:
                            found.add(PersonalValue(text, cls))
                    else:
                        found.add(PersonalValue(text, cls))
    # A name column also holds legal persons' names ("被执行人姓名或名称"); those are public elsewhere.
    return {p for p in found if not (p.field_class is FieldClass.NAME and p.text in public)}


def contained(text: str, by_length: Mapping[int, Mapping[str, list[PersonalValue]]]) -> set[PersonalValue]:
    """Every personal value that occurs anywhere inside ``text``: what testing each one with ``in``
    finds, by looking up each substring of a length some value has (a dozen lengths, not 1,200 values)."""
    found: set[PersonalValue] = set()
    for length, values in by_length.items():
        for start in range(len(text) - length + 1):
            found.update(values.get(text[start : start + length], ()))
    return found


def cleared(obligation: Obligation, field_class: FieldClass) -> bool:
    """Whether ``obligation`` lets a value of ``field_class`` leave in clear."""
    if obligation.operator is not Operator.NONE:
        return False
    if obligation.field_class is field_class:
        return True
    return obligation.field_class is FieldClass.SUBJECT_ID and field_class in (
        FieldClass.RESIDENT_ID,
        FieldClass.USCC,
    )


def subjects(data: DemoDataset, today: date) -> list[list[SubjectId]]:
    """Every subject in the demo data, in batches of one kind (and one side of 18)."""
    values = sorted(
        {
            str(row[c])
            for tables in data.rows.values()
            for rows in tables.values()
            for row in rows
            for c in ("uscc", "subject_id")
            if row.get(c)
        }
    )
    parsed = [
        parse_subject("resident_id" if is_valid_resident_id(v) else "uscc", v, today=TODAY) for v in values
    ]
    groups: dict[tuple[str, bool], list[SubjectId]] = {}
    for s in parsed:
        groups.setdefault((str(s.kind), s.is_minor(today)), []).append(s)
    return [g[i : i + BATCH] for g in groups.values() for i in range(0, len(g), BATCH)]


@dataclass
class World:
    catalog: Catalog
    data: DemoDataset
    service: QueryService
    recorder: RecordingDesensitizer
    outcomes: Counter[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("no_leak")
    urls = write_demo_sqlite(tmp / "demo")
    catalog = load_catalog(POLICIES)
    keys = FileKeyStore(tmp / "keys")
    keys.init()
    clock = Clock()
    ledger = MemoryLedger(clock)
    sources = SqlSourceRegistry(urls)
    recorder = RecordingDesensitizer(CatalogDesensitizer(keys, FastScanner(), clock))
    secret = keys.secret("commitment")
    service = QueryService(
        catalog=catalog,
        engine=RegorusEngine(POLICIES),
        sources=sources,
        desensitizer=recorder,
        ledger=ledger,
        commit=lambda s: subject_commitment(secret, str(s.id_type), s.value),
        clock=clock,
        metrics=catalog_metrics(catalog, POLICIES),
    )
    data = generate_demo_data()
    outcomes: Counter[str] = Counter()
    batches = subjects(data, NOW.date())
    for department in catalog.departments:
        for purpose, spec in catalog.purposes.items():
            measures = list(catalog.measures) if spec.get("applies_measure") else [None]
            for measure in measures:
                for item_id in catalog.items:
                    for batch in batches:
                        query = QuerySpec(
                            purpose=purpose,
                            legal_basis=next(iter(spec.get("legal_bases") or {"none": None})),
                            items=(ItemRequest(item_id),),
                            subjects=tuple(batch),
                            measure=measure,
                        )
                        try:
                            service.run(Actor(f"{department}-client", department), query)
                            outcomes["allowed"] += 1
                        except PolicyDenied as refused:
                            outcomes[refused.problem_code] += 1
    yield World(catalog, data, service, recorder, outcomes)
    sources.close()


def test_the_sweep_really_released_records_of_every_kind(world: World) -> None:
    assert world.outcomes["allowed"] > 100
    assert set(world.outcomes) - {"allowed"}  # the sweep also met refusals: it is not all-permissive
    released = [(item, row) for item, rows in world.recorder.released for row in rows]
    assert len(released) > 1000
    classes = {item.obligations[name].field_class for item, row in released for name in row}
    # Every personal class some purpose of the demo catalog asks for (no purpose asks for phones).
    assert {
        FieldClass.SUBJECT_ID,
        FieldClass.USCC,
        FieldClass.RESIDENT_ID,
        FieldClass.NAME,
        FieldClass.ADDRESS,
        FieldClass.FREE_TEXT,
    } <= classes


def test_no_personal_value_leaves_in_clear_unless_the_decision_cleared_it(world: World) -> None:
    values = personal_values(world.data, world.catalog)
    anywhere = [p for p in values if p.field_class not in _WHOLE_VALUE]
    whole = {p.text: p for p in values if p.field_class in _WHOLE_VALUE}
    assert len(anywhere) > 200
    by_length: dict[int, dict[str, list[PersonalValue]]] = {}
    for p in anywhere:
        by_length.setdefault(len(p.text), {}).setdefault(p.text, []).append(p)
    seen: dict[str, set[PersonalValue]] = {}
    leaks: list[str] = []
    checked = 0
    for item, rows in world.recorder.released:
        for row in rows:
            for name, value in row.items():
                if value is None:
                    continue
                obligation = item.obligations[name]
                text = _as_text(value)
                checked += 1
                match = whole.get(text)
                if match is not None and not cleared(obligation, match.field_class):
                    leaks.append(
                        f"{item.item_id}.{name} ({obligation.operator}) releases a {match.field_class}"
                    )
                inside = seen.get(text)
                if inside is None:  # the same released value recurs across queries: look it up once
                    inside = seen[text] = contained(text, by_length)
                for p in inside:
                    if not cleared(obligation, p.field_class):
                        leaks.append(
                            f"{item.item_id}.{name} ({obligation.operator}) releases a {p.field_class}"
                        )
    assert checked > 10_000
    assert not leaks, sorted(set(leaks))


def test_identifiers_embedded_in_free_text_were_released_masked(world: World) -> None:
    manifest = world.data.manifest
    rid, phone, typo = (
        manifest.embedded_resident_id,
        manifest.embedded_phone,
        manifest.embedded_bad_resident_id,
    )
    texts = [str(v) for item, rows in world.recorder.released for row in rows for v in row.values() if v]
    assert any(f"{rid[:6]}{'*' * 11}{rid[17]}" in t for t in texts)
    assert any(f"{phone[:3]}****{phone[7:]}" in t for t in texts)
    assert any(f"{typo[:6]}{'*' * 11}{typo[17]}" in t for t in texts)
    assert not any(v in t for t in texts for v in (rid, phone, typo))


def test_the_substring_lookup_finds_exactly_what_testing_each_value_with_in_finds(world: World) -> None:
    anywhere = [p for p in personal_values(world.data, world.catalog) if p.field_class not in _WHOLE_VALUE]
    by_length: dict[int, dict[str, list[PersonalValue]]] = {}
    for p in anywhere:
        by_length.setdefault(len(p.text), {}).setdefault(p.text, []).append(p)
    texts = [p.text for p in anywhere[:50]] + [f"x{p.text}y" for p in anywhere[50:100]] + ["", "1", "无"]
    texts += [_as_text(v) for _, rows in world.recorder.released[:300] for row in rows for v in row.values()]
    for text in texts:
        assert contained(text, by_length) == {p for p in anywhere if p.text in text}, text
    assert any(contained(text, by_length) for text in texts)
