"""The published catalog (clause (1)) as the public sees it: no table or column names of the sources."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.domain.catalog import Catalog, CatalogItem


class LegalBasisResponse(BaseModel):
    """The law and article an item rests on."""

    law: str
    article: str


class ShareScopeResponse(BaseModel):
    """Which departments may receive an item, for which purposes."""

    mode: str
    departments: list[str]
    purposes: list[str]


class DisclosureResponse(BaseModel):
    """Whether an item is disclosed to the public, and for how long."""

    public: bool
    period_years: int | None


class FieldResponse(BaseModel):
    """A field of an item: its label, its class and its default desensitization."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    field_class: str = Field(alias="class")
    desensitize: str


class CatalogItemResponse(BaseModel):
    """One catalog item."""

    id: str
    name: str
    catalog: str
    legal_basis: LegalBasisResponse
    department: str
    subject_kinds: list[str]
    basis_documents: list[str]
    serious_list: bool
    share_scope: ShareScopeResponse
    disclosure: DisclosureResponse
    purpose_fields: dict[str, list[str]]
    fields: dict[str, FieldResponse]


class CatalogResponse(BaseModel):
    """The national and local catalogs, merged, with their revisions and code lists."""

    revision: str
    revisions: dict[str, str]
    departments: dict[str, dict[str, Any]]
    purposes: dict[str, dict[str, Any]]
    measures: dict[str, dict[str, Any]]
    # The seriously-untrustworthy lists: field, basis, published criteria, comment period, removal
    # conditions and procedures, remedies, deciding level, time limits (clauses (6)-(8)).
    lists: dict[str, dict[str, Any]]
    items: list[CatalogItemResponse]


def catalog_item_response(item: CatalogItem) -> CatalogItemResponse:
    """What the public may know of an item."""
    return CatalogItemResponse(
        id=item.id,
        name=item.name,
        catalog=item.catalog,
        legal_basis=LegalBasisResponse(law=item.law, article=item.article),
        department=item.department,
        subject_kinds=sorted(item.subject_kinds),
        basis_documents=sorted(item.basis_documents),
        serious_list=item.serious_list,
        share_scope=ShareScopeResponse(
            mode=str(item.share_scope.mode),
            departments=sorted(item.share_scope.departments),
            purposes=sorted(item.share_scope.purposes),
        ),
        disclosure=DisclosureResponse(
            public=item.disclosure_public, period_years=item.disclosure_period_years
        ),
        purpose_fields={p: list(fs) for p, fs in item.purpose_fields.items()},
        fields={
            f.name: FieldResponse.model_validate(
                {"name": f.label, "class": str(f.field_class), "desensitize": str(f.desensitize)}
            )
            for f in item.fields.values()
        },
    )


def catalog_response(catalog: Catalog) -> CatalogResponse:
    """The whole published catalog."""
    return CatalogResponse(
        revision=catalog.revision,
        revisions=dict(catalog.revisions),
        departments={k: dict(v) for k, v in catalog.departments.items()},
        purposes={k: dict(v) for k, v in catalog.purposes.items()},
        measures={k: dict(v) for k, v in catalog.measures.items()},
        lists={k: v.as_public() for k, v in catalog.lists.items()},
        items=[catalog_item_response(i) for i in sorted(catalog.items.values(), key=lambda i: i.id)],
    )
