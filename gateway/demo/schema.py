"""Tables of the demo departmental databases, one ``MetaData`` per database.

These stand in for databases the gateway does not own: market regulation (``market``), the courts
(``court``) and taxation (``tax``). Only portable SQLAlchemy Core types are used, so the same
``MetaData`` creates the same tables in SQLite, PostgreSQL and MariaDB. Every table is indexed on the
column a subject lookup filters by (the resident ID or unified social credit code).

Types worth knowing when reading rows back: dates are ``Date``; money is ``Numeric(14, 2)`` (read back
as ``Decimal``, released by the SQL source as a string such as ``"5000.00"``); flags are ``Boolean``
(``TINYINT(1)`` on MariaDB).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.errors import ConfigurationError

MARKET = "market"
COURT = "court"
TAX = "tax"

# Catalog database id -> the department that owns it (mirrors ``databases`` in the national catalog).
DATABASE_DEPARTMENTS = {MARKET: "market_regulation", COURT: "court", TAX: "taxation"}

_ID = 18  # resident IDs and unified social credit codes are both 18 characters
_MONEY = Numeric(14, 2)
# MariaDB/MySQL only (other dialects ignore mysql_* options): full Unicode, and a binary collation so
# that identifier comparisons are case-sensitive and ordering is by code point, as in SQLite.
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def market_metadata() -> MetaData:
    """Market regulation: enterprise registration and administrative penalties."""
    md = MetaData()
    Table(
        "enterprises",
        md,
        Column("uscc", String(_ID), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("legal_rep_name", String(50), nullable=False),
        Column("legal_rep_id", String(_ID), nullable=False),
        Column("registered_address", String(200), nullable=False),
        Column("phone", String(20), nullable=False),
        Column("established_on", Date, nullable=False),
        Column("status", String(20), nullable=False),
        Index("ix_enterprises_legal_rep_id", "legal_rep_id"),
        **_MYSQL,
    )
    Table(
        "admin_penalties",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("uscc", String(_ID), ForeignKey("enterprises.uscc"), nullable=False),
        Column("decision_number", String(60), nullable=False),
        Column("issuer", String(100), nullable=False),
        Column("decided_on", Date, nullable=False),
        Column("violation", Text, nullable=False),
        Column("penalty", String(100), nullable=False),
        Column("amount", _MONEY, nullable=True),
        # NULL when the record names no basis document: such a record is never shared (clause (2)).
        Column("basis_document", String(40), nullable=True),
        Column("repaired_on", Date, nullable=True),
        Column("removed_on", Date, nullable=True),
        Column("notes", Text, nullable=True),
        Column("unintentional_minor", Boolean, nullable=False, default=False),
        UniqueConstraint("decision_number", name="uq_admin_penalties_decision_number"),
        Index("ix_admin_penalties_uscc_decided", "uscc", "decided_on"),
        **_MYSQL,
    )
    return md


def court_metadata() -> MetaData:
    """The courts: the dishonest-debtor list and high-consumption restrictions."""
    md = MetaData()
    Table(
        "dishonest_debtors",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("subject_id", String(_ID), nullable=False),
        Column("subject_kind", String(24), nullable=False),
        Column("name", String(200), nullable=False),
        Column("case_number", String(60), nullable=False),
        Column("court_name", String(100), nullable=False),
        Column("judgment_on", Date, nullable=False),
        Column("listed_on", Date, nullable=False),
        Column("obligation", Text, nullable=False),
        Column("performance_status", String(20), nullable=False),
        Column("basis_document", String(40), nullable=False),
        Column("repaired_on", Date, nullable=True),
        Column("removed_on", Date, nullable=True),
        Column("force_majeure", Boolean, nullable=False, default=False),
        Column("unintentional_minor", Boolean, nullable=False, default=False),
        UniqueConstraint("case_number", "subject_id", name="uq_dishonest_debtors_case_subject"),
        Index("ix_dishonest_debtors_subject_listed", "subject_id", "listed_on"),
        **_MYSQL,
    )
    Table(
        "consumption_restrictions",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("subject_id", String(_ID), nullable=False),
        Column("subject_kind", String(24), nullable=False),
        Column("name", String(200), nullable=False),
        Column("case_number", String(60), nullable=False),
        Column("court_name", String(100), nullable=False),
        Column("issued_on", Date, nullable=False),
        Column("restricted_person_name", String(50), nullable=False),
        Column("restricted_person_id", String(_ID), nullable=False),
        Column("measures", Text, nullable=False),
        Column("basis_document", String(40), nullable=False),
        Column("lifted_on", Date, nullable=True),
        Index("ix_consumption_restrictions_subject_issued", "subject_id", "issued_on"),
        Index("ix_consumption_restrictions_person", "restricted_person_id"),
        **_MYSQL,
    )
    return md


def tax_metadata() -> MetaData:
    """Taxation: annual tax credit ratings and the major tax violation list."""
    md = MetaData()
    Table(
        "credit_ratings",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("uscc", String(_ID), nullable=False),
        Column("year", SmallInteger, nullable=False),
        Column("rating", String(1), nullable=False),
        Column("evaluated_on", Date, nullable=False),
        UniqueConstraint("uscc", "year", name="uq_credit_ratings_uscc_year"),
        **_MYSQL,
    )
    Table(
        "major_violations",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("subject_id", String(_ID), nullable=False),
        Column("subject_kind", String(24), nullable=False),
        Column("taxpayer_name", String(200), nullable=False),
        Column("responsible_person_name", String(50), nullable=False),
        Column("responsible_person_id", String(_ID), nullable=False),
        Column("violation", Text, nullable=False),
        Column("amount", _MONEY, nullable=False),
        Column("announced_on", Date, nullable=False),
        Column("contact_phone", String(20), nullable=False),
        Column("address", String(200), nullable=False),
        Column("basis_document", String(40), nullable=False),
        Column("repaired_on", Date, nullable=True),
        Column("removed_on", Date, nullable=True),
        Index("ix_major_violations_subject_announced", "subject_id", "announced_on"),
        Index("ix_major_violations_person", "responsible_person_id"),
        **_MYSQL,
    )
    return md


def demo_metadata(database: str) -> MetaData:
    """A fresh ``MetaData`` holding the tables of the demo database ``database``."""
    builders = {MARKET: market_metadata, COURT: court_metadata, TAX: tax_metadata}
    try:
        return builders[database]()
    except KeyError:
        raise ConfigurationError(
            f"unknown demo database {database!r}", accepted=", ".join(sorted(builders))
        ) from None


DEMO_DATABASES: tuple[str, ...] = (MARKET, COURT, TAX)
