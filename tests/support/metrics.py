"""The real metrics adapter for tests that build services by hand, and a parser for its scrapes."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.adapters.metrics import LabelVocabulary, PrometheusMetrics, policy_reason_codes
from gateway.domain.catalog import Catalog
from gateway.errors import error_classes


def catalog_metrics(catalog: Catalog, policies: Path, revision: str = "test") -> PrometheusMetrics:
    """In-process metrics whose labels may take the catalog's and the policies' codes."""
    vocabulary = LabelVocabulary(
        departments=frozenset(catalog.departments),
        purposes=frozenset(catalog.purposes),
        reasons=policy_reason_codes(policies) | {c.code for c in error_classes()},
    )
    return PrometheusMetrics(vocabulary, revision=lambda: revision, multiproc_dir="")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from a Prometheus text exposition."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out
