"""The console's routes: sign-in, the pages, the JSON the in-browser verifier reads, and the API docs.

Sessions are cookies holding a random token (see ``gateway.adapters.sql.console_sessions``):
``HttpOnly``, ``SameSite=Strict``, and ``Secure`` unless the console is reached on a loopback address.
Every POST carries a CSRF token: inside a session it is an HMAC of the session token, so it needs no
storage and dies with the session; on the sign-in form it is a double-submit value matched against a
short-lived cookie. Responses carry a Content-Security-Policy that allows scripts, styles, images and
connections from this origin only, with no inline script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.deps import services
from gateway.api.schemas.ledger import entry_page_response, entry_proof_response, subject_report_response
from gateway.console import charts
from gateway.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from gateway.console.views import (
    BASELINE_DAYS,
    SPIKE_FACTOR,
    SPIKE_MINIMUM,
    ConsoleViews,
)
from gateway.domain.detector import contains_identifier
from gateway.domain.ledger.records import KINDS as LEDGER_KINDS
from gateway.domain.ledger.terms import EntryFilter
from gateway.errors import (
    ConfigurationError,
    ConsoleLocked,
    ConsoleLoginRefused,
    ConsoleSessionExpired,
    GatewayError,
    IdentifierInText,
    InvalidRequest,
)
from gateway.ports import ConsoleUser
from gateway.services.audit import AuditService
from gateway.services.console_auth import STAGE_ENROL, ConsoleAuth

HERE = Path(__file__).parent
SESSION_COOKIE = "gw_console"
LOGIN_COOKIE = "gw_console_login"
LANG_COOKIE = "gw_lang"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The docs pages differ only in allowing the style elements the vendored Swagger UI and ReDoc insert.
DOCS_CSP = (
    CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
        "img-src 'self' data:", "img-src 'self' data: blob:"
    )
    + "; worker-src 'self' blob:"
)
KINDS = tuple(sorted(LEDGER_KINDS))
DECISIONS = ("allow", "deny", "error", "invalid")
REVIEWS = ("unreviewed", "reviewed", "flagged")
FILTER_FIELDS = (
    "since",
    "until",
    "kind",
    "client_id",
    "department",
    "purpose",
    "item",
    "decision",
    "reason",
    "review",
    "order",
    "limit",
)

templates = Jinja2Templates(directory=str(HERE / "templates"))


class LoginNeeded(Exception):
    """No live session: the person is sent to the sign-in page."""

    def __init__(self, expired: bool) -> None:
        super().__init__("sign-in needed")
        self.expired = expired


class ConsoleForbidden(Exception):
    """A signed-in person asked for something their role or the form does not allow."""

    def __init__(self, message_key: str, status: int = 403) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.status = status


def _page(audit: AuditService, query: EntryFilter) -> dict[str, Any]:
    """One page of entries in the API's JSON shape, which the templates read."""
    return entry_page_response(audit.list_entries(query)).model_dump(mode="json")


def security_headers(path: str) -> list[tuple[str, str]]:
    """Headers for every response: CSP, no sniffing, no referrer, no framing; console pages uncached."""
    docs = path in ("/docs", "/redoc")
    headers = [
        ("content-security-policy", DOCS_CSP if docs else CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ]
    if path.startswith("/console") and not path.startswith("/console/static"):
        headers.append(("cache-control", "no-store"))
    return headers


class SecurityHeaders:
    """Adds ``security_headers`` to every HTTP response, keeping any a route set itself.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs each request
    through an extra task and memory streams, a cost every query would pay for four headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _auth(request: Request) -> ConsoleAuth:
    auth = services(request).console_auth
    if auth is None:
        raise ConfigurationError("the gateway was started without the console")
    return auth


def _audit(request: Request) -> AuditService:
    return services(request).audit


def _views(request: Request) -> ConsoleViews:
    views = services(request).console_views
    if not isinstance(views, ConsoleViews):
        raise ConfigurationError("the gateway was started without the console")
    return views


AuthDep = Annotated[ConsoleAuth, Depends(_auth)]
AuditDep = Annotated[AuditService, Depends(_audit)]
ViewsDep = Annotated[ConsoleViews, Depends(_views)]


def _language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _loopback(request: Request) -> bool:
    host = request.url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=not _loopback(request),
    )


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from the session token, so it needs no storage."""
    return hmac.new(session_token.encode(), b"credit-gateway/console-csrf/v1", hashlib.sha256).hexdigest()


def current_user(request: Request, auth: AuthDep) -> ConsoleUser:
    """The signed-in person, or a redirect to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE)
    user = auth.session(token) if token else None
    if user is None:
        raise LoginNeeded(expired=token is not None)
    request.state.console_user = user
    request.state.session_token = token
    return user


UserDep = Annotated[ConsoleUser, Depends(current_user)]


def need(scope: str) -> Callable[..., Awaitable[ConsoleUser]]:
    """A dependency that insists the person's role carries ``scope``."""

    async def check(user: UserDep) -> ConsoleUser:
        if scope not in user.scopes:
            raise ConsoleForbidden("error.scope")
        return user

    return check


ReaderDep = Annotated[ConsoleUser, Depends(need("audit:read"))]
ReviewerDep = Annotated[ConsoleUser, Depends(need("audit:review"))]
ExporterDep = Annotated[ConsoleUser, Depends(need("audit:export"))]


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form, once its CSRF token matched this session's."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    token = request.cookies.get(SESSION_COOKIE, "")
    sent = values.get("csrf", "")
    if not token or not sent or not hmac.compare_digest(sent, csrf_token(token)):
        raise ConsoleForbidden("error.csrf")
    return values


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the person's language, with the CSRF token of their session."""
    lang = _language(request)
    token = getattr(request.state, "session_token", None)
    context.setdefault("user", getattr(request.state, "console_user", None))
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": lambda key, **values: translate(lang, key, **values),
            "csrf": csrf_token(token) if token else "",
            "path": request.url.path,
            **context,
        },
        status_code=status,
    )
    return response


def _parse_day(text: str, field: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidRequest(f"{field} must be a date", field=field, accepted="YYYY-MM-DD") from exc
    if not end:
        return day
    try:
        return day + timedelta(days=1)
    except OverflowError:  # 9999-12-31: the end of that day is past the last representable time
        raise InvalidRequest(
            f"{field} is out of range", field=field, accepted="YYYY-MM-DD before 9999-12-31"
        ) from None


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidRequest(f"unknown {field}", field=field, accepted=", ".join(allowed))
    return value


def _text(value: str, field: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if len(value) > 200:
        raise InvalidRequest(f"{field} is too long", field=field, accepted="at most 200 characters")
    if contains_identifier(value):
        # The same rule as the API's filters: these values travel in the page's URL.
        raise IdentifierInText(f"{field} holds a personal identifier", field=field, accepted="a code or name")
    return value


def entry_filter(values: dict[str, str]) -> EntryFilter:
    """The ledger filter the page's fields describe (the same filters the audit API takes)."""
    try:
        limit = int(values.get("limit") or 50)
        cursor = int(values["cursor"]) if values.get("cursor") else None
    except ValueError as exc:
        raise InvalidRequest("limit and cursor are numbers", field="limit") from exc
    return EntryFilter(
        since=_parse_day(values.get("since", ""), "since", end=False),
        until=_parse_day(values.get("until", ""), "until", end=True),
        kind=_choice(values.get("kind", ""), KINDS, "kind"),
        client_id=_text(values.get("client_id", ""), "client_id"),
        department=_text(values.get("department", ""), "department"),
        purpose=_text(values.get("purpose", ""), "purpose"),
        item=_text(values.get("item", ""), "item"),
        decision=_choice(values.get("decision", ""), DECISIONS, "decision"),
        reason=_text(values.get("reason", ""), "reason"),
        review=_choice(values.get("review", ""), REVIEWS, "review"),
        after=cursor,
        descending=values.get("order", "desc") != "asc",
        limit=max(1, min(limit, 500)),
    )


def _filters_of(values: dict[str, str]) -> dict[str, str]:
    return {k: values[k] for k in FILTER_FIELDS if values.get(k)}


router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/console")
def home() -> RedirectResponse:
    return RedirectResponse("/console/overview", status_code=303)


@router.get("/console/lang/{language}")
def set_language(request: Request, language: str, next: str = "/console/overview") -> RedirectResponse:
    # Only paths inside the console: ``next`` must not send the person to another site.
    target = (
        next
        if next.startswith("/console/") and "//" not in next and "\\" not in next
        else "/console/overview"
    )
    response = RedirectResponse(target, status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, path="/", samesite="strict")
    return response


@router.get("/console/login")
def login_page(request: Request, problem: str = "") -> HTMLResponse:
    value = secrets.token_urlsafe(24)
    keys = {"refused": "login.refused", "locked": "login.locked", "expired": "login.expired"}
    response = render(request, "login.html", problem=keys.get(problem), login_csrf=value)
    _set_cookie(request, response, LOGIN_COOKIE, value, 600)
    return response


@router.post("/console/login")
async def login(request: Request, auth: AuthDep) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(values.get("csrf", ""), expected):
        raise ConsoleForbidden("error.csrf")
    try:
        session = auth.login(
            values.get("username", "")[:64], values.get("password", "")[:256], values.get("code", "")[:16]
        )
    except (ConsoleLoginRefused, ConsoleLocked, ConsoleSessionExpired) as exc:
        problem = "locked" if isinstance(exc, ConsoleLocked) else "refused"
        return RedirectResponse(f"/console/login?problem={problem}", status_code=303)
    target = "/console/enrol" if session.stage == STAGE_ENROL else "/console/overview"
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, session.token, None)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def _enrolling(request: Request, auth: ConsoleAuth) -> tuple[str, ConsoleUser]:
    token = request.cookies.get(SESSION_COOKIE, "")
    user = auth.session(token, STAGE_ENROL) if token else None
    if user is None:
        raise LoginNeeded(expired=True)
    request.state.session_token = token
    return token, user


@router.get("/console/enrol")
def enrol_page(request: Request, auth: AuthDep, problem: str = "") -> HTMLResponse:
    _, user = _enrolling(request, auth)
    uri = auth.enrolment_uri(user)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False, dark="#000")
    qr = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
    seed = uri.split("secret=", 1)[1].split("&", 1)[0]
    return render(
        request, "enrol.html", qr=qr, seed=seed, problem="login.refused" if problem else None, enrolling=True
    )


@router.post("/console/enrol")
async def enrol(request: Request, auth: AuthDep, form: FormDep) -> Response:
    token, _ = _enrolling(request, auth)
    try:
        session = auth.enrol(token, form.get("code", "")[:16])
    except (ConsoleLoginRefused, ConsoleLocked, ConsoleSessionExpired) as exc:
        if isinstance(exc, ConsoleSessionExpired):
            raise LoginNeeded(expired=True) from exc
        return RedirectResponse("/console/enrol?problem=1", status_code=303)
    response = RedirectResponse("/console/overview", status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, session.token, None)
    return response


@router.post("/console/logout")
def logout(request: Request, user: UserDep, auth: AuthDep, form: FormDep) -> Response:
    auth.logout(request.cookies.get(SESSION_COOKIE, ""), user)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/console/overview")
def overview(request: Request, user: ReaderDep, views: ViewsDep, auth: AuthDep) -> HTMLResponse:
    lang = _language(request)
    data = views.overview(auth.clock.now())
    return render(
        request,
        "overview.html",
        o=data,
        chart_days=charts.stacked_days(translate(lang, "overview.by_day"), data.days, data.by_day_decision),
        chart_department=charts.horizontal(
            translate(lang, "overview.by_department"), list(data.by_department.items())
        ),
        chart_purpose=charts.horizontal(
            translate(lang, "overview.by_purpose"), list(data.by_purpose.items())
        ),
        chart_reasons=charts.horizontal(
            translate(lang, "overview.reasons"), data.refusal_reasons, "bar-deny"
        ),
        rule={"minimum": SPIKE_MINIMUM, "factor": SPIKE_FACTOR, "days": BASELINE_DAYS},
        today=auth.clock.now().astimezone(UTC).date().isoformat(),
        decisions=charts.DECISION_CLASSES,
    )


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    record = view["record"]
    return {
        "index": view["index"],
        "logged_at": view["logged_at"],
        "kind": record.get("kind"),
        "client_id": record.get("client_id"),
        "department": record.get("department"),
        "purpose": record.get("purpose"),
        "decision": record.get("decision"),
        "event": record.get("event") or record.get("status") or record.get("action"),
        "reasons": ", ".join(str(c) for c in record.get("reason_codes") or []),
        "catalog_items": ", ".join(
            str(i.get("item")) for i in record.get("items") or [] if isinstance(i, dict)
        ),
    }


@router.get("/console/ledger")
def ledger(request: Request, user: ReaderDep, audit: AuditDep) -> HTMLResponse:
    values = dict(request.query_params)
    problem = None
    try:
        page = entry_page_response(audit.list_entries(entry_filter(values))).model_dump(mode="json")
    except GatewayError as exc:
        problem = exc.detail
        page = {"entries": [], "next_cursor": None}
    filters = _filters_of(values)
    next_url = None
    if page["next_cursor"] is not None:
        next_url = "/console/ledger?" + urlencode({**filters, "cursor": page["next_cursor"]})
    return render(
        request,
        "ledger.html",
        rows=[_summary(v) for v in page["entries"]],
        f=values,
        filters=filters,
        next_url=next_url,
        problem=problem,
        kinds=KINDS,
        decisions=DECISIONS,
        reviews=REVIEWS,
    )


@router.get("/console/entries/{index}")
def entry_page(request: Request, index: int, user: ReaderDep, audit: AuditDep) -> HTMLResponse:
    view = entry_proof_response(audit.entry(index)).model_dump(mode="json")
    return render(request, "entry.html", e=_summary(view), view=view, index=index)


@router.get("/console/api/entries/{index}")
def entry_json(index: int, user: ReaderDep, views: ViewsDep) -> dict[str, Any]:
    return views.entry_proof(index)


@router.get("/console/api/checkpoints")
def checkpoints_json(user: ReaderDep, views: ViewsDep) -> list[dict[str, Any]]:
    return views.checkpoints()


@router.get("/console/api/consistency")
def consistency_json(first: int, second: int, user: ReaderDep, views: ViewsDep) -> dict[str, Any]:
    return views.consistency(first, second)


@router.get("/console/consistency")
def consistency_page(request: Request, user: ReaderDep, views: ViewsDep) -> HTMLResponse:
    return render(request, "consistency.html", checkpoints=views.checkpoints())


@router.post("/console/entries/{index}/review")
def review(index: int, user: ReviewerDep, audit: AuditDep, form: FormDep) -> Response:
    status = form.get("status", "")
    if status not in ("reviewed", "flagged"):
        raise InvalidRequest("unknown review status", field="status", accepted="reviewed, flagged")
    audit.review(index, status, form.get("comment", "")[:2000], user.actor)
    return RedirectResponse(f"/console/entries/{index}", status_code=303)


@router.get("/console/review")
def review_queue(request: Request, user: ReaderDep, audit: AuditDep) -> HTMLResponse:
    flagged = _page(audit, EntryFilter(kind="query", review="flagged", descending=True, limit=100))
    fresh = _page(audit, EntryFilter(kind="query", review="unreviewed", descending=True, limit=100))
    return render(
        request,
        "review.html",
        flagged=[_summary(v) for v in flagged["entries"]],
        unreviewed=[_summary(v) for v in fresh["entries"]],
    )


@router.get("/console/subject")
def subject_form(request: Request, user: ReaderDep) -> HTMLResponse:
    return render(request, "subject.html", report=None, problem=None)


@router.post("/console/subject")
def subject_report(request: Request, user: ReaderDep, audit: AuditDep, form: FormDep) -> HTMLResponse:
    id_type = form.get("id_type", "")
    if id_type not in ("resident_id", "uscc"):
        return render(request, "subject.html", status=422, report=None, problem="id_type")
    try:
        report = subject_report_response(
            audit.subject_report(id_type, form.get("value", "")[:64], user.actor)
        ).model_dump(mode="json")
    except GatewayError as exc:
        # The detail never echoes the value typed.
        return render(request, "subject.html", status=422, report=None, problem=exc.detail)
    rows = [_summary(v) | {"grant_id": v["record"].get("grant_id")} for v in report["entries"]]
    return render(request, "subject.html", report=report, rows=rows, problem=None)


@router.get("/console/grants")
def grants_page(request: Request, user: ReaderDep, views: ViewsDep, auth: AuthDep) -> HTMLResponse:
    rows = views.grants(auth.clock.now())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return render(request, "grants.html", rows=rows, counts=counts)


@router.post("/console/export")
def export(user: ExporterDep, views: ViewsDep, auth: AuthDep, form: FormDep) -> StreamingResponse:
    fmt = form.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise InvalidRequest("unknown export format", field="format", accepted="csv, jsonl")
    query = entry_filter(form)
    signed, body = views.export(query, fmt)
    # Registered before the first byte leaves: an export the ledger cannot record is not made.
    auth.record("export", user, {"format": fmt, "filters": _filters_of(form), "checkpoint_size": signed.size})
    name = f"ledger-{signed.size}.{fmt}"
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/jsonl"
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "x-ledger-checkpoint-size": str(signed.size),
        },
    )


@router.get("/docs")
def swagger_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "swagger.html", {})


@router.get("/redoc")
def redoc_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "redoc.html", {})


def _error_page(request: Request, key: str, status: int) -> HTMLResponse:
    return render(request, "error.html", status=status, message=translate(_language(request), key))


def install_console(app: FastAPI) -> None:
    """Add the console's routes, static files, error pages and security headers to ``app``."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    async def login_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginNeeded)  # noqa: S101 - registered for this class only
        if request.url.path.startswith("/console/api/"):
            return JSONResponse({"code": "console_login_needed"}, status_code=401)
        target = "/console/login?problem=expired" if exc.expired else "/console/login"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleForbidden)  # noqa: S101 - registered for this class only
        return _error_page(request, exc.message_key, exc.status)

    app.add_exception_handler(LoginNeeded, login_needed)
    app.add_exception_handler(ConsoleForbidden, forbidden)

    app.add_middleware(SecurityHeaders)
