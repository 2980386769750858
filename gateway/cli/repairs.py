"""``gateway repairs export``: what each source department must apply to its own records (clause (12)).

The gateway applies a repair on the next query whatever the source says; the export lets the
source converge: it marks, stops sharing or deletes (delete mode says so) the records itself.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from gateway.errors import InvalidRequest


def run_repairs_export(config_file: Path, department: str, since: str | None, out: Path | None) -> int:
    """Write the department's effective repairs as JSON (to ``out`` or standard output)."""
    from gateway.adapters.policy.catalog_files import load_catalog
    from gateway.adapters.sql.repairs import SqlRepairStore
    from gateway.domain.times import rfc3339
    from gateway.services.repairs import export_repairs
    from gateway.settings import load_settings

    settings = load_settings(config_file)
    catalog = load_catalog(settings.policies_dir)
    if department not in catalog.departments:
        raise InvalidRequest("unknown department", field="department", accepted="a catalog department id")
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequest("since must be an RFC 3339 time", field="since") from None
        if start.tzinfo is None:
            raise InvalidRequest("since must carry a time zone", field="since")
    store = SqlRepairStore(settings.ledger_url)
    try:
        repairs = export_repairs(catalog, store, department, start)
    finally:
        store.close()
    document = {
        "department": department,
        "since": rfc3339(start) if start else None,
        "free_of_charge": True,
        "repairs": repairs,
    }
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if out is None:
        print(text, file=sys.stdout)
    else:
        out.write_text(text + "\n", encoding="utf-8")
    return 0
