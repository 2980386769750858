"""``gateway policy draft push|list|check|replay``: the workbench from a shell, on the gateway database.

Pushing, checking and replaying need the database only (whoever may run this may write it);
approving and activating need an authenticated second person, so they are the API's and the
console's alone.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from gateway.ports import Actor
from gateway.services.policy_workbench import PolicyWorkbench


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@contextmanager
def workbench_for(config: Path) -> Iterator[PolicyWorkbench]:
    """The workbench on the database of a settings file (closed afterwards)."""
    from gateway.adapters.key_files import FileKeyStore
    from gateway.adapters.policy.workbench import PolicyWorkbenchLab, read_bundle
    from gateway.adapters.sql.engine import make_engine
    from gateway.adapters.sql.ledger import SqlLedger
    from gateway.adapters.sql.policy_bundles import SqlPolicyStore
    from gateway.settings import load_settings

    settings = load_settings(config)
    database = make_engine(settings.ledger_url)
    clock = _Clock()
    ledger = SqlLedger(
        settings.ledger_url,
        FileKeyStore(settings.keys_dir),
        origin=settings.ledger_origin,
        clock=clock,
        engine=database,
    )
    store = SqlPolicyStore(settings.ledger_url, engine=database)
    try:
        workbench = PolicyWorkbench(
            store=store, inputs=store, lab=PolicyWorkbenchLab(), ledger=ledger, clock=clock
        )
        workbench.ensure_base(read_bundle(settings.policies_dir))
        yield workbench
    finally:
        ledger.close()
        database.dispose()


def cmd_push(args: argparse.Namespace) -> int:
    from gateway.adapters.policy.workbench import read_bundle

    with workbench_for(Path(args.config)) as workbench:
        draft = workbench.push(Actor(args.author, args.department), read_bundle(Path(args.dir)))
    print(f"draft {draft.id}  revision {draft.revision}  parent {draft.parent_revision}")
    print(draft.diff or "(no change to the active bundle)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with workbench_for(Path(args.config)) as workbench:
        for b in workbench.drafts():
            print(f"{b.id:>5}  {b.status:<8}  {b.revision}  {b.author}  check={b.check_ok}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    with workbench_for(Path(args.config)) as workbench:
        report = workbench.check(args.id)
    for t in report["tests"]:
        if not t["passed"]:
            print(f"FAIL {t['package']}.{t['name']}  ({t['error']})")
    for c in report["compile"]:
        print(f"compile {c['engine']}: {c['status']}" + (f" ({c['error']})" if c["error"] else ""))
    for cov in report["coverage"]:
        print(f"coverage {cov['percent']:>5}%  {cov['file']}  missed lines {cov['not_covered']}")
    for p in report["catalog"]:
        print(f"catalog {p['file']}: {p['path']}: {p['message']}")
    verdict = "OK" if report["ok"] else "NOT OK"
    print(f"{report['tests_passed']} passed, {report['tests_failed']} failed; {verdict}")
    return 0 if report["ok"] else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with (
        workbench_for(Path(args.config)) as workbench,
        Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        ) as progress,
    ):
        task = progress.add_task("replaying", total=None)
        report = workbench.replay(
            args.id,
            last=args.last,
            first_index=args.first_index,
            last_index=args.last_index,
            on_total=lambda n: progress.update(task, total=n),
            progress=lambda n: progress.advance(task, n),
        )
    summary = {k: report[k] for k in ("total", "unchanged", "changed", "errors", "dangerous")}
    print(json.dumps(summary))
    for kind, indexes in report["by_kind"].items():
        if indexes:
            print(f"{kind}: {len(indexes)}  e.g. ledger entries {indexes[:10]}")
    return 0


def add_policy_draft_parser(policy: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``gateway policy draft ...``."""
    draft = policy.add_parser("draft", help="policy drafts (the workbench)").add_subparsers(
        dest="draft_cmd", required=True
    )
    push = draft.add_parser("push", help="store DIR as a draft of the active bundle")
    push.add_argument("dir")
    push.add_argument("--config", required=True)
    push.add_argument("--author", required=True, help="who wrote it (the approver must be someone else)")
    push.add_argument("--department", default="security")
    push.set_defaults(func=cmd_push)
    listing = draft.add_parser("list", help="bundles and drafts, newest first")
    listing.add_argument("--config", required=True)
    listing.set_defaults(func=cmd_list)
    check = draft.add_parser("check", help="compile, test with coverage, check the catalog")
    check.add_argument("id", type=int)
    check.add_argument("--config", required=True)
    check.set_defaults(func=cmd_check)
    replay = draft.add_parser("replay", help="replay kept decisions under the draft")
    replay.add_argument("id", type=int)
    replay.add_argument("--config", required=True)
    replay.add_argument("--last", type=int)
    replay.add_argument("--first-index", type=int)
    replay.add_argument("--last-index", type=int)
    replay.set_defaults(func=cmd_replay)
