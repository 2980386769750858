"""The catalog files under ``<policies>/catalog/<name>/data.yaml``: reading, checking, building.

The same files are OPA data (``data.catalog.<name>``), so they are read strictly: plain YAML with
string keys, no duplicate keys (PyYAML would silently keep the last one, OPA refuses the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.domain.catalog import Catalog, build_catalog
from gateway.domain.catalog_check import CatalogProblem, Sources, catalog_file, check_catalog
from gateway.errors import ConfigurationError

CATALOG_GLOB = "catalog/*/data.yaml"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_catalog_documents(policies_dir: Path) -> tuple[dict[str, dict[str, Any]], list[CatalogProblem]]:
    """Parse every ``catalog/*/data.yaml``; return name -> document and the files that did not parse."""
    documents: dict[str, dict[str, Any]] = {}
    problems: list[CatalogProblem] = []
    for path in sorted(Path(policies_dir).glob(CATALOG_GLOB)):
        name = path.parent.name
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
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
