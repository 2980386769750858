"""The catalog files under ``<policies>/catalog/<name>/data.yaml``: reading, checking, building.

The same files are OPA data (``data.catalog.<name>``), so they are read by OPA's rules, with the
one YAML loader the policy engine reads them with (``gateway.adapters.yaml_files``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.yaml_files import load_yaml
from gateway.domain.catalog import Catalog, build_catalog
from gateway.domain.catalog_check import CatalogProblem, Sources, catalog_file, check_catalog
from gateway.errors import ConfigurationError

CATALOG_GLOB = "catalog/*/data.yaml"


def read_catalog_documents(policies_dir: Path) -> tuple[dict[str, dict[str, Any]], list[CatalogProblem]]:
    """Parse every ``catalog/*/data.yaml``; return name -> document and the files that did not parse."""
    documents: dict[str, dict[str, Any]] = {}
    problems: list[CatalogProblem] = []
    for path in sorted(Path(policies_dir).glob(CATALOG_GLOB)):
        name = path.parent.name
        try:
            document = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else ""
            problems.append(
                CatalogProblem(catalog_file(name), where, f"unreadable: {exc.__class__.__name__}")
            )
            continue
        if not isinstance(document, dict):
            problems.append(CatalogProblem(catalog_file(name), "", "the file must hold a YAML mapping"))
            continue
        documents[name] = document
    if not documents and not problems:
        problems.append(CatalogProblem(catalog_file("*"), "", f"no catalog files under {policies_dir}"))
    return documents, problems


def _raise(problems: list[CatalogProblem]) -> None:
    shown = "; ".join(str(p) for p in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    raise ConfigurationError(
        f"the catalog has {len(problems)} problem(s): {shown}{more}",
        extra={"problems": [{"file": p.file, "path": p.path, "message": p.message} for p in problems]},
    )


def load_catalog_documents(policies_dir: Path) -> dict[str, dict[str, Any]]:
    """name -> parsed document of every ``catalog/<name>/data.yaml``; ConfigurationError if unreadable."""
    documents, problems = read_catalog_documents(policies_dir)
    if problems:
        _raise(problems)
    return documents


def load_catalog(policies_dir: Path, sources: Sources | None = None) -> Catalog:
    """Read, check and build the catalog; ConfigurationError listing every problem if it is not sound."""
    documents = load_catalog_documents(policies_dir)
    problems = check_catalog(documents, sources)
    if problems:
        _raise(problems)
    return build_catalog(documents)
