"""GET /v1/catalog: the published catalog, public as clause (1) requires."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.domain.catalog import Catalog, CatalogItem
from gateway.errors import NotFound

router = APIRouter(tags=["catalog"])


def item_view(item: CatalogItem) -> dict[str, Any]:
    """What the public may know of an item: no table or column names of the source databases."""
    return {
        "id": item.id,
        "name": item.name,
        "catalog": item.catalog,
        "legal_basis": {"law": item.law, "article": item.article},
        "department": item.department,
        "subject_kinds": sorted(item.subject_kinds),
        "basis_documents": sorted(item.basis_documents),
        "serious_list": item.serious_list,
        "share_scope": {
            "mode": str(item.share_scope.mode),
            "departments": sorted(item.share_scope.departments),
            "purposes": sorted(item.share_scope.purposes),
        },
        "disclosure": {"public": item.disclosure_public, "period_years": item.disclosure_period_years},
        "purpose_fields": {p: list(fs) for p, fs in item.purpose_fields.items()},
        "fields": {
            f.name: {"name": f.label, "class": str(f.field_class), "desensitize": str(f.desensitize)}
            for f in item.fields.values()
        },
    }


def catalog_view(catalog: Catalog) -> dict[str, Any]:
    """The whole published catalog."""
    return {
        "revision": catalog.revision,
        "revisions": dict(catalog.revisions),
        "departments": dict(catalog.departments),
        "purposes": dict(catalog.purposes),
        "measures": dict(catalog.measures),
        "items": [item_view(item) for item in sorted(catalog.items.values(), key=lambda i: i.id)],
    }


@router.get("/v1/catalog")
def get_catalog(request: Request) -> dict[str, Any]:
    """The national and local catalogs, merged, with their revisions."""
    return catalog_view(request.app.state.catalog)


@router.get("/v1/catalog/items/{item_id}")
def get_catalog_item(item_id: str, request: Request) -> dict[str, Any]:
    """One catalog item."""
    item = request.app.state.catalog.item(item_id)
    if item is None:
        raise NotFound("no such catalog item", field="item_id", accepted="an id listed by GET /v1/catalog")
    return item_view(item)
