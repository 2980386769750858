"""Policy bundles, the active bundle and the kept policy inputs, in the gateway database.

The active bundle is one row every worker of every replica polls (``adapters/policy/hot.py``), so an
activation is one transaction here and reaches them all within their polling interval. The kept
inputs are written after their ledger entry (they need its index); the entry carries their digest,
so an input edited afterwards no longer matches the entry it claims to belong to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import policy_active, policy_bundles, policy_history, policy_inputs
from gateway.errors import PolicyStoreError
from gateway.ports import PolicyBundle, PolicyHistoryEntry

_ACTIVE_ROW = 1


def _files_text(files: Mapping[str, bytes]) -> str:
    return json.dumps({k: files[k].decode("utf-8") for k in sorted(files)}, ensure_ascii=False)


def _bundle(row: Row[Any], *, with_files: bool = True) -> PolicyBundle:
    m = row._mapping
    files = {k: v.encode("utf-8") for k, v in json.loads(m["files"]).items()} if with_files else {}
    return PolicyBundle(
        id=m["id"],
        revision=m["revision"],
        content_digest=m["content_digest"],
        parent_revision=m["parent_revision"],
        author=m["author"],
        department=m["department"],
        created_at=m["created_at"],
        files=files,
        diff=m["diff"],
        status=m["status"],
        approver=m["approver"],
        check_ok=m["check_ok"],
        check_report=None if m["check_report"] is None else json.loads(m["check_report"]),
        replay_report=None if m["replay_report"] is None else json.loads(m["replay_report"]),
        replay_digest=m["replay_digest"],
    )


class SqlPolicyStore:
    """PolicyBundleStore and PolicyInputStore on the gateway database (schema from the migrations)."""

    def __init__(self, url: str, *, schema: str | None = None, engine: Engine | None = None) -> None:
        self.engine: Engine = migrate.migrated_engine(url, schema=schema, engine=engine)
        self._owned = engine is None

    def close(self) -> None:
        """Release the connection pool, if this store made it."""
        if self._owned:
            self.engine.dispose()

    @staticmethod
    @contextmanager
    def _guard(what: str) -> Iterator[None]:
        with map_sql_errors(PolicyStoreError, f"the policy store could not {what}"):
            yield

    # --- bundles ---

    def add(self, bundle: PolicyBundle) -> int:
        """Store a bundle and return its id."""
        values = {
            "revision": bundle.revision,
            "content_digest": bundle.content_digest,
            "parent_revision": bundle.parent_revision,
            "author": bundle.author,
            "department": bundle.department,
            "created_at": bundle.created_at,
            "files": _files_text(bundle.files),
            "diff": bundle.diff,
            "status": bundle.status,
        }
        with self._guard("store the bundle"), write_connection(self.engine) as conn, conn.begin():
            result = conn.execute(insert(policy_bundles).values(**values))
            key = result.inserted_primary_key
            assert key is not None  # noqa: S101 - an insert always has one
            return int(key[0])

    def get(self, bundle_id: int) -> PolicyBundle | None:
        """The bundle with this id."""
        with self._guard("read the bundle"), self.engine.connect() as conn:
            row = conn.execute(select(policy_bundles).where(policy_bundles.c.id == bundle_id)).first()
        return None if row is None else _bundle(row)

    def recent(self, limit: int = 100) -> list[PolicyBundle]:
        """The latest bundles, newest first (without their files)."""
        with self._guard("list the bundles"), self.engine.connect() as conn:
            rows = conn.execute(select(policy_bundles).order_by(policy_bundles.c.id.desc()).limit(limit))
            return [_bundle(r, with_files=False) for r in rows]

    def _update(self, bundle_id: int, what: str, **values: Any) -> None:
        with self._guard(what), write_connection(self.engine) as conn, conn.begin():
            conn.execute(update(policy_bundles).where(policy_bundles.c.id == bundle_id).values(**values))

    def save_check(self, bundle_id: int, ok: bool, report: Mapping[str, Any]) -> None:
        """Keep the outcome of the checks."""
        self._update(
            bundle_id, "store the check", check_ok=ok, check_report=json.dumps(report, ensure_ascii=False)
        )

    def save_replay(self, bundle_id: int, report: Mapping[str, Any], digest: str) -> None:
        """Keep the latest replay report."""
        text = json.dumps(report, ensure_ascii=False)
        self._update(bundle_id, "store the replay", replay_report=text, replay_digest=digest)

    def set_status(self, bundle_id: int, status: str, approver: str | None = None) -> None:
        """Change the status (and approver, when given)."""
        values: dict[str, Any] = {"status": status}
        if approver is not None:
            values["approver"] = approver
        self._update(bundle_id, "change the bundle", **values)

    # --- the active bundle ---

    def active(self) -> tuple[int, str] | None:
        """(bundle id, revision) serving now; one indexed read, cheap enough to poll every second."""
        with self._guard("read the active bundle"), self.engine.connect() as conn:
            row = conn.execute(
                select(policy_active.c.bundle_id, policy_active.c.revision).where(
                    policy_active.c.id == _ACTIVE_ROW
                )
            ).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def set_active(self, bundle_id: int, revision: str, now: datetime) -> bool:
        """Set the first active bundle; False when another worker already did."""
        try:
            with self._guard("set the active bundle"), write_connection(self.engine) as conn, conn.begin():
                if conn.execute(select(policy_active.c.id)).first() is not None:
                    return False
                conn.execute(
                    insert(policy_active).values(
                        id=_ACTIVE_ROW, bundle_id=bundle_id, revision=revision, changed_at=now
                    )
                )
                conn.execute(
                    update(policy_bundles).where(policy_bundles.c.id == bundle_id).values(status="active")
                )
        except PolicyStoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False  # a concurrent first start won
            raise
        return True

    def switch(self, entry: PolicyHistoryEntry, previous_bundle: int | None) -> None:
        """Point the active row at ``entry``'s bundle, mark statuses, record the history row."""
        with self._guard("switch the active bundle"), write_connection(self.engine) as conn, conn.begin():
            conn.execute(
                update(policy_active)
                .where(policy_active.c.id == _ACTIVE_ROW)
                .values(bundle_id=entry.bundle_id, revision=entry.revision, changed_at=entry.at)
            )
            if previous_bundle is not None and previous_bundle != entry.bundle_id:
                conn.execute(
                    update(policy_bundles)
                    .where(policy_bundles.c.id == previous_bundle)
                    .values(status="retired")
                )
            conn.execute(
                update(policy_bundles).where(policy_bundles.c.id == entry.bundle_id).values(status="active")
            )
            conn.execute(
                insert(policy_history).values(
                    action=entry.action,
                    bundle_id=entry.bundle_id,
                    revision=entry.revision,
                    parent_revision=entry.parent_revision,
                    author=entry.author,
                    approver=entry.approver,
                    at=entry.at,
                    ledger_index=entry.ledger_index,
                )
            )

    def history(self, limit: int = 100) -> list[PolicyHistoryEntry]:
        """Activations and rollbacks, newest first."""
        with self._guard("read the history"), self.engine.connect() as conn:
            rows = conn.execute(select(policy_history).order_by(policy_history.c.seq.desc()).limit(limit))
            return [PolicyHistoryEntry(**dict(r._mapping)) for r in rows]

    # --- kept inputs ---

    def keep(self, ledger_index: int, digest: str, input_json: str) -> None:
        """Keep one input beside its entry."""
        with self._guard("keep the policy input"), write_connection(self.engine) as conn, conn.begin():
            conn.execute(
                insert(policy_inputs).values(ledger_index=ledger_index, input_digest=digest, input=input_json)
            )

    def get_input(self, ledger_index: int) -> str | None:
        """The input kept with this entry."""
        with self._guard("read the policy input"), self.engine.connect() as conn:
            row = conn.execute(
                select(policy_inputs.c.input).where(policy_inputs.c.ledger_index == ledger_index)
            ).first()
        return None if row is None else str(row[0])

    def select(
        self, *, last: int | None = None, first_index: int | None = None, last_index: int | None = None
    ) -> list[tuple[int, str]]:
        """The last ``last`` inputs, or those with ``first_index <= index <= last_index``, ascending."""
        query = select(policy_inputs.c.ledger_index, policy_inputs.c.input)
        if first_index is not None:
            query = query.where(policy_inputs.c.ledger_index >= first_index)
        if last_index is not None:
            query = query.where(policy_inputs.c.ledger_index <= last_index)
        if last is not None:
            query = query.order_by(policy_inputs.c.ledger_index.desc()).limit(last)
        else:
            query = query.order_by(policy_inputs.c.ledger_index)
        with self._guard("read the policy inputs"), self.engine.connect() as conn:
            rows = [(int(r[0]), str(r[1])) for r in conn.execute(query)]
        rows.sort()
        return rows
