"""GET /v1/catalog: the published catalog, public as clause (1) requires."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import CatalogDep
from gateway.api.schemas.catalog import (
    CatalogItemResponse,
    CatalogResponse,
    catalog_item_response,
    catalog_response,
)
from gateway.api.schemas.problems import problems
from gateway.errors import NotFound

router = APIRouter(tags=["catalog"])


@router.get("/v1/catalog", response_model=CatalogResponse, responses=problems())
def get_catalog(catalog: CatalogDep) -> CatalogResponse:
    """The national and local catalogs, merged, with their revisions."""
    return catalog_response(catalog)


@router.get(
    "/v1/catalog/items/{item_id}",
    response_model=CatalogItemResponse,
    responses=problems(404, 422, s404="no such catalog item"),
)
def get_catalog_item(item_id: str, catalog: CatalogDep) -> CatalogItemResponse:
    """One catalog item."""
    item = catalog.item(item_id)
    if item is None:
        raise NotFound("no such catalog item", field="item_id", accepted="an id listed by GET /v1/catalog")
    return catalog_item_response(item)
