"""Check the catalog files, optionally against the columns of the real source databases."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.adapters.policy.catalog_files import read_catalog_documents
from gateway.adapters.sql.sources import SqlSource
from gateway.domain.catalog import build_catalog
from gateway.domain.catalog_check import CatalogProblem, catalog_file, check_catalog
from gateway.errors import ConfigurationError, SourceError


def run_catalog_check(policies_dir: Path, database_urls: Mapping[str, str] | None) -> list[CatalogProblem]:
    """Every problem in ``<policies_dir>/catalog/*/data.yaml``; an empty list means the catalog is sound.

    With ``database_urls`` (database id -> SQLAlchemy URL) each database is reflected, read-only, and
    every item's table and columns must exist there. A database that cannot be read is reported as a
    problem of the catalog file that declares it, not raised.
    """
    documents, problems = read_catalog_documents(policies_dir)
    sources: dict[str, dict[str, set[str]]] | None = None
    if database_urls is not None:
        sources = {}
        for database in sorted(database_urls):
            try:
                source = SqlSource(database_urls[database], name=database)
            except ConfigurationError as exc:
                problems.append(_unreadable(documents, database, exc.detail))
                continue
            try:
                sources[database] = source.columns()
            except SourceError as exc:
                problems.append(_unreadable(documents, database, exc.detail))
            finally:
                source.close()
    return problems + check_catalog(documents, sources)


def _unreadable(documents: Mapping[str, Mapping[str, object]], database: str, detail: str) -> CatalogProblem:
    file = catalog_file("*")
    for name in sorted(documents):
        declared = documents[name].get("databases")
        if isinstance(declared, Mapping) and database in declared:
            file = catalog_file(name)
            break
    return CatalogProblem(file, f"databases.{database}", f"could not be reflected: {detail}")


def count_unaccepted_basis(policies_dir: Path, database_urls: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """database -> item -> records whose basis document is missing or of a type the item does not accept.

    Such records are never shared (a row filter in SQL, clause (2)); this says how many each source
    holds so the department can fix them. Call it only on a catalog that passed the check.
    """
    documents, _ = read_catalog_documents(policies_dir)
    catalog = build_catalog(documents)
    counts: dict[str, dict[str, int]] = {}
    for item_id in sorted(catalog.items):
        item = catalog.items[item_id]
        database = item.source.database
        if item.conduct is None or database not in database_urls:
            continue
        source = SqlSource(database_urls[database], name=database)
        try:
            counts.setdefault(database, {})[item_id] = source.count_unaccepted(
                item.source.table, item.conduct.basis_document_column, tuple(sorted(item.basis_documents))
            )
        finally:
            source.close()
    return counts
