"""Each grant change and its ledger entry in one transaction, when the grant store and the ledger
share a database (as deployed: both live at ``ledger_url``).

The ledger opens its write transaction (taking its write lock), inserts the entry, and before it
commits hands the transaction to the grant change: the grant row is inserted already registered at
the entry's index, or the revocation is written together with its index. One COMMIT covers both, so
a crash at any moment leaves both or neither. A conditional revocation that finds the grant revoked
already raises, and the entry is rolled back with it.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from gateway.adapters.sql.grants import SqlGrantStore, _row
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.schema import authorization_grants
from gateway.domain.grants import Grant, Revocation
from gateway.domain.ledger.records import LedgerRecord
from gateway.errors import ConfigurationError, GrantAlreadyRevoked, GrantNotFound
from gateway.ports import Receipt

_t = authorization_grants


def same_database(a: Engine, b: Engine) -> bool:
    """Whether two engines reach the same database and schema (so one transaction can span both)."""
    if a is b:
        return True
    translate = "schema_translate_map"
    return a.url.render_as_string(hide_password=False) == b.url.render_as_string(
        hide_password=False
    ) and a.get_execution_options().get(translate) == b.get_execution_options().get(translate)


class SqlGrantChanges:
    """GrantChanges over a SqlLedger and a SqlGrantStore in the same database."""

    def __init__(self, ledger: SqlLedger, store: SqlGrantStore) -> None:
        if not same_database(ledger.engine, store.engine):
            raise ConfigurationError("the grant store and the ledger are not in the same database")
        self.ledger = ledger
        self.store = store

    def register(self, grant: Grant, record: LedgerRecord) -> Receipt:
        """Append ``record`` and insert ``grant`` registered at its index, in one transaction."""

        def store(conn: Connection, receipts: list[Receipt]) -> None:
            conn.execute(insert(_t).values(**{**_row(grant), "ledger_index": receipts[0].index}))

        return self.ledger.append_within([record], store)[0]

    def revoke(self, grant_id: str, revocation: Revocation, record: LedgerRecord) -> Receipt:
        """Revoke the grant and append ``record`` in one transaction; nothing if it cannot be revoked."""

        def store(conn: Connection, receipts: list[Receipt]) -> None:
            changed = conn.execute(
                update(_t)
                .where(_t.c.id == grant_id, _t.c.revoked_at.is_(None), _t.c.ledger_index.is_not(None))
                .values(
                    revoked_at=revocation.revoked_at,
                    revoked_by_client=revocation.client_id,
                    revoked_by_department=revocation.department,
                    revoke_reason=str(revocation.reason),
                    revocation_ledger_index=receipts[0].index,
                    revocation_retry=False,
                )
            ).rowcount
            if changed == 1:
                return
            found = conn.execute(select(_t.c.ledger_index).where(_t.c.id == grant_id)).first()
            if found is None or found.ledger_index is None:
                raise GrantNotFound("no such authorization grant", field="grant_id")
            raise GrantAlreadyRevoked("the authorization grant was already revoked", field="grant_id")

        return self.ledger.append_within([record], store)[0]

    def complete_revocation(self, grant_id: str, record: LedgerRecord) -> Receipt:
        """Append ``record`` for a revocation without an entry and note its index, in one transaction."""

        def store(conn: Connection, receipts: list[Receipt]) -> None:
            changed = conn.execute(
                update(_t)
                .where(
                    _t.c.id == grant_id,
                    _t.c.revoked_at.is_not(None),
                    _t.c.revocation_ledger_index.is_(None),
                )
                .values(revocation_ledger_index=receipts[0].index, revocation_retry=False)
            ).rowcount
            if changed != 1:
                raise GrantAlreadyRevoked("the revocation was registered meanwhile", field="grant_id")

        return self.ledger.append_within([record], store)[0]
