"""Check the catalog files, optionally against the columns of the real source databases."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.adapters.policy.catalog_files import read_catalog_documents
from gateway.adapters.sql.sources import SqlSource
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
