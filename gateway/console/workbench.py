"""The console's policy workbench pages (role ``security``: scope ``policy:admin``).

Drafts are pushed from the command line or the API; here a security-team member checks one (tests
with coverage), tries inputs on it, replays past decisions under it, and another member approves
and activates it. Every action goes through the same service as the API, so the two-person rule and
the readiness rules are the same; a refusal is shown on the page, in the person's language.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gateway.api.deps import services
from gateway.console import charts
from gateway.console.i18n import translate
from gateway.console.web import FormDep, need, render
from gateway.domain.policy_bundle import CHANGE_ORDER, DANGEROUS
from gateway.errors import ConfigurationError, GatewayError, InvalidRequest
from gateway.ports import ConsoleUser
from gateway.services.policy_workbench import PolicyWorkbench

router = APIRouter(include_in_schema=False)
AdminDep = Annotated[ConsoleUser, Depends(need("policy:admin"))]
MAX_INPUT = 100_000


def _workbench(request: Request) -> PolicyWorkbench:
    workbench = services(request).workbench
    if workbench is None:
        raise ConfigurationError("the gateway was started without the policy workbench")
    return workbench


WorkbenchDep = Annotated[PolicyWorkbench, Depends(_workbench)]


def _lang(request: Request) -> str:
    return "en" if request.cookies.get("gw_lang") == "en" else "zh"


@router.get("/console/policy")
def policy_home(request: Request, user: AdminDep, workbench: WorkbenchDep, problem: str = "") -> HTMLResponse:
    return render(
        request,
        "policy.html",
        active=workbench.active_bundle(),
        drafts=workbench.drafts(),
        history=workbench.history(),
        problem=problem[:300] or None,
    )


@router.get("/console/policy/new")
def new_draft(request: Request, user: AdminDep, workbench: WorkbenchDep, file: str = "") -> HTMLResponse:
    active = workbench.active_bundle()
    names = sorted(active.files)
    chosen = file if file in active.files else names[0]
    return render(
        request,
        "new_draft.html",
        names=names,
        chosen=chosen,
        content=active.files[chosen].decode("utf-8"),
        problem=None,
    )


@router.post("/console/policy/drafts")
def push_draft(request: Request, user: AdminDep, workbench: WorkbenchDep, form: FormDep) -> Response:
    """A draft of the active bundle with one file edited in the page (the editor is its author)."""
    active = workbench.active_bundle()
    name = form.get("file", "")
    if name not in active.files:
        raise InvalidRequest("unknown bundle file", field="file", accepted=", ".join(sorted(active.files)))
    # Browsers send textarea lines with CRLF; the files keep the bundle's own line ends.
    content = form.get("content", "").replace("\r\n", "\n")
    files = dict(active.files) | {name: content.encode("utf-8")}
    try:
        draft = workbench.push(user.actor, files)
    except GatewayError as exc:
        names = sorted(active.files)
        return render(
            request,
            "new_draft.html",
            status=exc.status,
            names=names,
            chosen=name,
            content=content,
            problem=exc.detail,
        )
    return RedirectResponse(f"/console/policy/drafts/{draft.id}", status_code=303)


def _draft_page(
    request: Request, workbench: PolicyWorkbench, draft_id: int, status: int = 200, **extra: Any
) -> HTMLResponse:
    bundle = workbench.bundle(draft_id)
    lang = _lang(request)
    report = bundle.check_report
    replay = bundle.replay_report
    coverage_chart = None
    replay_chart = None
    if report and report.get("coverage"):
        coverage_chart = charts.horizontal(
            translate(lang, "draft.coverage"),
            [(c["file"], int(c["percent"])) for c in report["coverage"]],
        )
    if replay:
        replay_chart = charts.horizontal(
            translate(lang, "draft.by_kind"),
            [(translate(lang, f"kind.{k}"), len(replay["by_kind"].get(str(k), []))) for k in CHANGE_ORDER],
            "bar-deny",
        )
    return render(
        request,
        "draft.html",
        status=status,
        d=bundle,
        blocking=workbench.readiness(bundle),
        report=report,
        replay=replay,
        kinds=[str(k) for k in CHANGE_ORDER],
        dangerous=[str(k) for k in DANGEROUS],
        coverage_chart=coverage_chart,
        replay_chart=replay_chart,
        **({"whatif": None, "problem": None} | extra),
    )


@router.get("/console/policy/drafts/{draft_id}")
def draft_page(request: Request, draft_id: int, user: AdminDep, workbench: WorkbenchDep) -> HTMLResponse:
    return _draft_page(request, workbench, draft_id)


def _attempt(request: Request, workbench: PolicyWorkbench, draft_id: int, action: Any) -> Response:
    """Run ``action``; back to the draft page, or the page again with the refusal shown."""
    try:
        action()
    except GatewayError as exc:
        return _draft_page(request, workbench, draft_id, status=exc.status, problem=exc.detail)
    return RedirectResponse(f"/console/policy/drafts/{draft_id}", status_code=303)


@router.post("/console/policy/drafts/{draft_id}/check")
def check(
    request: Request, draft_id: int, user: AdminDep, workbench: WorkbenchDep, form: FormDep
) -> Response:
    return _attempt(request, workbench, draft_id, lambda: workbench.check(draft_id))


@router.post("/console/policy/drafts/{draft_id}/replay")
def replay(
    request: Request, draft_id: int, user: AdminDep, workbench: WorkbenchDep, form: FormDep
) -> Response:
    try:
        last = int(form.get("last") or 10000)
    except ValueError:
        last = 0
    return _attempt(request, workbench, draft_id, lambda: workbench.replay(draft_id, last=last))


@router.post("/console/policy/drafts/{draft_id}/approve")
def approve(
    request: Request, draft_id: int, user: AdminDep, workbench: WorkbenchDep, form: FormDep
) -> Response:
    return _attempt(request, workbench, draft_id, lambda: workbench.approve(draft_id, user.actor))


@router.post("/console/policy/drafts/{draft_id}/activate")
def activate(
    request: Request, draft_id: int, user: AdminDep, workbench: WorkbenchDep, form: FormDep
) -> Response:
    return _attempt(request, workbench, draft_id, lambda: workbench.activate(draft_id, user.actor))


@router.post("/console/policy/drafts/{draft_id}/what-if")
def what_if(
    request: Request, draft_id: int, user: AdminDep, workbench: WorkbenchDep, form: FormDep
) -> Response:
    try:
        index_text = form.get("ledger_index", "").strip()
        input_text = form.get("input", "").strip()[:MAX_INPUT]
        if index_text:
            result = workbench.what_if(draft_id, ledger_index=int(index_text))
        else:
            try:
                document = json.loads(input_text or "{}")
            except ValueError as exc:
                raise InvalidRequest(
                    "the input is not JSON", field="input", accepted="a JSON object"
                ) from exc
            if not isinstance(document, dict):
                raise InvalidRequest(
                    "the input must be a JSON object", field="input", accepted="a JSON object"
                )
            result = workbench.what_if(draft_id, input_document=document)
    except ValueError:
        return _draft_page(request, workbench, draft_id, status=422, problem="ledger_index must be a number")
    except GatewayError as exc:
        return _draft_page(request, workbench, draft_id, status=exc.status, problem=exc.detail)
    return _draft_page(
        request,
        workbench,
        draft_id,
        whatif={
            "active": _pretty(result.active),
            "draft": _pretty(result.draft),
            "kinds": [str(k) for k in result.kinds],
            "difference": result.difference,
            "active_revision": result.active_revision,
            "draft_revision": result.draft_revision,
        },
    )


@router.post("/console/policy/rollback")
def rollback(request: Request, user: AdminDep, workbench: WorkbenchDep, form: FormDep) -> Response:
    try:
        workbench.rollback(user.actor)
    except GatewayError as exc:
        return RedirectResponse("/console/policy?" + _query(problem=exc.detail), status_code=303)
    return RedirectResponse("/console/policy", status_code=303)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _query(**values: str) -> str:
    from urllib.parse import urlencode

    return urlencode(values)
