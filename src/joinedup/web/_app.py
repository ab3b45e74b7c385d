"""The web service: the report's views made interactive, a JSON API, and label review.

Everyone signs in (a session cookie for pages, a bearer token for the API). Aggregates
of every organisation are shown only after disclosure control; row-level data (events,
demand labels) only for the user's own organisation, as the governance policy decides.
Forms carry a CSRF token; sign-in is rate limited; every sign-in, data access and label
correction is written to the workspace's audit log.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from joinedup._version import __version__
from joinedup.governance import AccessDenied, AuditLog, AuthenticationError, RateLimited
from joinedup.governance._access import AccessStore
from joinedup.governance._policy import User, can, require_read
from joinedup.report import Filters, compute, publish
from joinedup.report import _cell as cell_filter
from joinedup.report._sections import SECTIONS
from joinedup.report._sections import headline as headline_section
from joinedup.web._assets import asset
from joinedup.web._audit import GroupCommit
from joinedup.web._page import Body, accepts_gzip
from joinedup.web._warm import Warmer
from joinedup.workspace import Workspace

COOKIE = "joinedup_session"
MAX_ROWS = 500
#: Filter views kept computed (each holds its figures and its page), besides the views
#: computed when the service starts (see ``warm`` in :func:`create_app`).
MAX_VIEWS = 64
#: After a label correction, the views computed at the start are computed again once
#: the workspace has had no correction for this many seconds (an analyst correcting a
#: batch of labels does not set off a computation for each).
REWARM_SECONDS = 60.0
#: A JSON body, like FastAPI's own responses.
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
log = logging.getLogger("joinedup.web")


@dataclass
class _View:
    """One filter view, as it is sent: ``page``, the dashboard page without the part
    that names who is signed in (rendered for each request and put in its place), and
    ``figures``, the body of ``/api/figures``. Both hold only what every signed-in user
    may see: published figures, nothing before disclosure control."""

    page: Body
    figures: Body


@dataclass
class _State:
    """What every request shares: the workspace (one connection, used under ``lock`` —
    DuckDB connections are not for concurrent use), the access store, the audit log
    (written through ``journal``, a batch of concurrent requests at a time) and the
    computed views (``cache``, under ``cache_lock``; ``making`` holds a lock per view
    being computed, so that requests for it wait for one computation)."""

    ws: Workspace
    access: AccessStore
    audit: AuditLog
    journal: GroupCommit
    #: The organisations, services and channels the events hold (the filters' lists),
    #: read once: the service does not change events.
    choices: dict[str, list[str]]
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)
    making: dict[tuple[Any, ...], threading.Lock] = field(default_factory=dict)
    #: Views kept whatever ``MAX_VIEWS`` says: those computed when the service starts.
    pinned: set[tuple[Any, ...]] = field(default_factory=set)
    warmer: Warmer[Filters] | None = None
    #: Counts the times the workspace changed under the service (a label correction):
    #: a view computed before a change is not kept.
    generation: int = 0


async def current_user(request: Request) -> User:
    """The signed-in user: a bearer API token, or the session cookie of a page.

    Run on the event loop: the access store's reads are short, and a thread for each
    would cost a busy service more than the reads do."""
    state: _State = request.app.state.joinedup
    header = request.headers.get("authorization", "")
    try:
        if header.lower().startswith("bearer "):
            return state.access.token_user(header[7:].strip())
        cookie = request.cookies.get(COOKIE)
        if cookie:
            return state.access.session_user(cookie)
    except AuthenticationError as exc:
        raise HTTPException(401, str(exc)) from exc
    raise HTTPException(401, "sign in first (or send an API token as a bearer token)")


UserDep = Annotated[User, Depends(current_user)]


def _env() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("joinedup.web", "templates"),
                PackageLoader("joinedup.report", "templates"),
            ]
        ),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates are the package's own: not checked for changes on each render.
        auto_reload=False,
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["cell"] = cell_filter
    return env


def create_app(
    workspace: Path | str,
    *,
    access: AccessStore | None = None,
    warm: bool = True,
    progress: Callable[[str], None] | None = None,
) -> FastAPI:
    """The web service for one workspace (which must exist).

    With ``warm``, the dashboard's views that every service is asked for first — the
    whole workspace and each organisation — are computed in a background thread as
    soon as the service starts, and kept while it runs, so that the first visitors of a
    large workspace do not wait for them. ``progress`` is told as each is ready (by
    default, the ``joinedup.web`` logger at INFO)."""
    ws = Workspace(workspace, create=False)
    audit = AuditLog(ws.path)
    state = _State(
        ws,
        access or AccessStore(ws.path, audit=audit),
        audit,
        GroupCommit(audit),
        _choices(ws),
    )
    env = _env()
    tell = progress or log.info
    starting = [("the whole workspace", Filters())] + [
        (org, Filters(orgs=(org,))) for org in state.choices["org"]
    ]
    if warm:
        state.pinned = {("views", f) for _, f in starting}
    warmer = Warmer(
        starting,
        lambda f: _views(f),
        lambda f: ("views", f) in state.cache,
        tell,
    )
    state.warmer = warmer

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            warmer.start()
        try:
            yield
        finally:
            warmer.stop()

    app = FastAPI(
        lifespan=lifespan,
        # The interactive docs pages load their scripts from a CDN: off. The schema is at
        # /openapi.json.
        docs_url=None,
        redoc_url=None,
        title="joinedup",
        version=__version__,
        description="Failure demand, journeys and value across organisations, "
        "disclosure-controlled.",
    )
    app.state.joinedup = state

    def csrf_for(request: Request) -> str | None:
        cookie = request.cookies.get(COOKIE)
        if cookie:
            try:
                return state.access.csrf_token(cookie)
            except AuthenticationError:
                return None
        return None

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(
            version=__version__, csrf=csrf_for(request), request=request, **context
        )
        return HTMLResponse(html, status_code=status)

    def send(request: Request, body: Body, media_type: str, part: bytes = b"") -> Response:
        """A kept body with the request's ``part``, gzip-compressed if the client takes
        it (every browser does). Private: it is sent only to a signed-in user, and a
        page names that user."""
        headers = {"Vary": "Accept-Encoding", "Cache-Control": "private"}
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(body.gzip(part), media_type=media_type, headers=headers)
        return Response(body.plain(part), media_type=media_type, headers=headers)

    @app.exception_handler(HTTPException)
    async def _errors(request: Request, exc: HTTPException) -> Any:
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_html and not request.url.path.startswith("/api"):
            return RedirectResponse("/login", status_code=303)
        if wants_html and not request.url.path.startswith("/api"):
            return page(request, "error.html.j2", exc.status_code, message=exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    # -- pages --------------------------------------------------------------------------

    @app.get("/health", response_class=PlainTextResponse, include_in_schema=False)
    def health() -> str:
        return "ok"

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> PlainTextResponse:
        kinds = {".css": "text/css", ".js": "text/javascript"}
        kind = next((v for k, v in kinds.items() if name.endswith(k)), None)
        if kind is None or "/" in name:
            raise HTTPException(404, "no such file")
        try:
            return PlainTextResponse(asset(name), media_type=kind)
        except Exception as exc:  # a file that is not shipped
            raise HTTPException(404, "no such file") from exc

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html.j2")

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Any:
        address = request.client.host if request.client else "-"
        try:
            cookie = state.access.login(username, password, address=address)
        except RateLimited as exc:
            return page(request, "login.html.j2", 429, error=str(exc))
        except AuthenticationError:
            return page(request, "login.html.j2", 401, error="Wrong username or password.")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, cookie, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, user: UserDep, csrf: Annotated[str, Form()]) -> Any:
        cookie = request.cookies.get(COOKIE, "")
        _check_csrf(cookie, csrf)
        state.access.logout(cookie)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def _check_csrf(cookie: str, token: str) -> None:
        try:
            state.access.check_csrf(cookie, token)
        except AuthenticationError as exc:
            raise HTTPException(403, str(exc)) from exc

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(
        request: Request,
        user: UserDep,
        org: str = "",
        service: str = "",
        channel: str = "",
        start: str = "",
        end: str = "",
    ) -> Response:
        filters = _filters(org, service, channel, start, end)
        view = await _view(filters)
        await state.journal.append_async(
            user.username, "web.view", {"page": "dashboard", **_asdict(filters)}
        )
        # The kept page, with who is signed in and this session's CSRF token put in.
        session = env.get_template("_session.html.j2").render(user=user, csrf=csrf_for(request))
        return send(request, view.page, _HTML, session.encode())

    def _filters(org: str, service: str, channel: str, start: str, end: str) -> Filters:
        try:
            first = date.fromisoformat(start) if start else None
            last = date.fromisoformat(end) if end else None
        except ValueError as exc:
            raise HTTPException(422, f"dates must be written yyyy-mm-dd: {exc}") from exc
        if first and last and first > last:
            raise HTTPException(422, "the period starts after it ends")
        # A filter names something the workspace holds: anything else is a mistake to
        # report, not a query to run.
        known = state.choices
        for name, value in (("org", org), ("service", service), ("channel", channel)):
            if value and value not in known[name]:
                shown = ", ".join(known[name][:20]) + (" …" if len(known[name]) > 20 else "")
                raise HTTPException(422, f"no {name} {value!r} in this workspace; {name}s: {shown}")
        return Filters(
            orgs=(org,) if org else (),
            services=(service,) if service else (),
            channels=(channel,) if channel else (),
            start=first,
            end=last,
        )

    def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """A value from the app's cache, made with the workspace's connection if missing.

        Only this process writes the workspace while it is served (DuckDB lets one
        process write a database file), so nothing changes underneath: a label
        correction empties the cache. The oldest views are dropped beyond ``MAX_VIEWS``.
        A kept view is answered without waiting for the connection, so one view being
        computed holds up only the requests for that view (and for rows)."""

        def kept() -> tuple[bool, Any]:
            with state.cache_lock:
                if key in state.cache:
                    state.cache.move_to_end(key)
                    return True, state.cache[key]
                return False, state.generation

        found, value = kept()
        if found:
            return value
        with state.cache_lock:
            making = state.making.setdefault(key, threading.Lock())
        with making:
            found, value = kept()
            if found:
                return value
            generation = value
            with state.lock:
                value = make()
            with state.cache_lock:
                state.making.pop(key, None)
                if state.generation == generation:
                    state.cache[key] = value
                    unpinned = [k for k in state.cache if k not in state.pinned]
                    for old in unpinned[: max(0, len(unpinned) - MAX_VIEWS)]:
                        del state.cache[old]
            return value

    async def _view(filters: Filters) -> _View:
        """A filter view: a kept one at once, else computed in a worker thread."""
        with state.cache_lock:
            kept: _View | None = state.cache.get(("views", filters))
            if kept is not None:
                state.cache.move_to_end(("views", filters))
                return kept
        return await run_in_threadpool(_views, filters)

    def _views(filters: Filters) -> _View:
        def make() -> _View:
            fig = compute(state.ws, filters)
            pub = publish(fig)
            sections = [s for s in (make(state.ws, fig, pub) for make in SECTIONS) if s]
            sections = [s for s in sections if s.id != "provenance"]
            # The headline reads what the other sections published, so it comes last.
            sections.insert(0, headline_section(state.ws, fig, pub))
            # The page is the same for every user but for who is signed in: rendered
            # once, with a mark where that goes, and kept in two parts around it.
            html = env.get_template("_sections.html.j2").render(fig=fig, pub=pub, sections=sections)
            mark = f"<!-- session {secrets.token_hex(16)} -->"
            whole = env.get_template("dashboard.html.j2").render(
                version=__version__,
                session=Markup(mark),
                fig=fig,
                pub=pub,
                sections_html=Markup(html),
                filters=filters,
                choices=state.choices,
            )
            head, tail = whole.split(mark)
            figures = json.dumps(
                jsonable_encoder(pub.as_dict()),
                ensure_ascii=False,
                allow_nan=False,
                separators=(",", ":"),
            )
            return _View(Body.around(head.encode(), tail.encode()), Body.around(figures.encode()))

        view: _View = _cached(("views", filters), make)
        return view

    # -- JSON API -------------------------------------------------------------------------

    @app.get("/api/figures", tags=["figures"], response_model=dict[str, Any])
    async def api_figures(
        request: Request,
        user: UserDep,
        org: str = "",
        service: str = "",
        channel: str = "",
        start: str = "",
        end: str = "",
    ) -> Response:
        """Disclosure-controlled figures for every organisation, with the same filters as
        the dashboard. Withheld values are null, with the footnotes in ``notes``."""
        filters = _filters(org, service, channel, start, end)
        view = await _view(filters)
        await state.journal.append_async(user.username, "api.figures", _asdict(filters))
        return send(request, view.figures, _JSON)

    @app.get("/api/events", tags=["rows"])
    def api_events(
        user: UserDep,
        org: str,
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Row-level events of one organisation: only the user's own."""
        _require(user, "events", org)
        with state.lock:
            ev = state.ws.engine.table("events")
            rows = ev.filter(ev.org == org).order_by(["occurred_at", "event_id"])
            data = state.ws.engine.to_arrow(rows.limit(limit, offset=offset))
        state.journal.append(user.username, "api.events", {"org": org, "rows": data.num_rows})
        return {"org": org, "offset": offset, "rows": _json_rows(data)}

    @app.get("/api/me", tags=["account"])
    def api_me(user: UserDep) -> dict[str, str]:
        """Who the request is signed in as."""
        return {"username": user.username, "org": user.org, "role": str(user.role)}

    def _require(user: User, table: str, org: str) -> None:
        try:
            require_read(user, table, org, "row")
        except AccessDenied as exc:
            state.journal.append(user.username, "access.denied", {"table": table, "org": org})
            raise HTTPException(403, str(exc)) from exc

    # -- demand label review ---------------------------------------------------------------

    @app.get("/labels", response_class=HTMLResponse, include_in_schema=False)
    def labels_page(request: Request, user: UserDep, offset: int = 0) -> HTMLResponse:
        from joinedup.model import TAXONOMY

        rows = _label_rows(user, offset)
        categories = [c.code for c in TAXONOMY]
        return page(
            request, "labels.html.j2", user=user, rows=rows, offset=offset, categories=categories
        )

    @app.post("/labels", include_in_schema=False)
    def correct_label(
        request: Request,
        user: UserDep,
        csrf: Annotated[str, Form()],
        event_id: Annotated[str, Form()],
        category: Annotated[str, Form()],
    ) -> Any:
        _check_csrf(request.cookies.get(COOKIE, ""), csrf)
        if not can(user, "correct_demand"):
            raise HTTPException(403, f"a {user.role} may not correct demand labels")
        _save_correction(user, event_id, category)
        return RedirectResponse("/labels", status_code=303)

    @app.get("/api/labels", tags=["rows"])
    def api_labels(user: UserDep) -> dict[str, Any]:
        """The corrections made by the user's organisation, to train the text model with
        (``joinedup demand train``)."""
        _require(user, "demand", user.org)
        with state.lock:
            t = state.ws.engine.table("label_corrections")
            data = state.ws.engine.to_arrow(t.filter(t.org == user.org))
        return {"org": user.org, "rows": _json_rows(data)}

    def _label_rows(user: User, offset: int) -> list[dict[str, Any]]:
        _require(user, "demand", user.org)
        with state.lock:
            eng = state.ws.engine
            ev, dm = eng.table("events"), eng.table("demand")
            joined = (
                ev.filter(ev.org == user.org)
                .join(dm, ev.event_id == dm.event_id)
                .select(
                    ev.event_id,
                    ev.occurred_at,
                    ev.channel,
                    ev.note,
                    dm.demand_type,
                    dm.category,
                    dm.confidence,
                    dm.decided_by,
                )
                .order_by(["confidence", "event_id"])
                .limit(50, offset=max(0, offset))
            )
            return eng.to_arrow(joined).to_pylist()

    def _save_correction(user: User, event_id: str, category: str) -> None:
        from joinedup.model import LABEL_CORRECTIONS, TAXONOMY

        known = {c.code: c for c in TAXONOMY}
        if category not in known:
            raise HTTPException(
                422, f"unknown category {category!r}; expected one of {sorted(known)}"
            )
        with state.lock:
            ev = state.ws.engine.table("events")
            owner = state.ws.engine.to_arrow(ev.filter(ev.event_id == event_id).select("org"))
            if owner.num_rows == 0:
                raise HTTPException(404, f"no contact {event_id}")
            _require(user, "events", owner.column("org")[0].as_py())
            row = {
                "event_id": [event_id],
                "org": [user.org],
                "category": [category],
                "demand_type": [str(known[category].demand_type)],
                "corrected_by": [user.username],
                "corrected_at": [datetime.now(UTC)],
            }
            state.ws.engine.write("label_corrections", pa.table(row, schema=LABEL_CORRECTIONS))
            with state.cache_lock:
                state.cache.clear()
                state.generation += 1
        # The views computed at the start include the fairness section's label figures:
        # computed again once the corrections stop for a while.
        if warm:
            warmer.changed(REWARM_SECONDS)
        state.journal.append(
            user.username, "demand.correct", {"event_id": event_id, "category": category}
        )

    return app


def _choices(ws: Workspace) -> dict[str, list[str]]:
    ev = ws.engine.table("events")
    out = {}
    for col in ("org", "service", "channel"):
        vals = ws.engine.to_arrow(ev.select(col).distinct()).column(col)
        out[col] = sorted(v for v in vals.to_pylist() if v)
    return out


def _asdict(filters: Filters) -> dict[str, Any]:
    return {
        "orgs": list(filters.orgs),
        "services": list(filters.services),
        "channels": list(filters.channels),
        "start": filters.start.isoformat() if filters.start else None,
        "end": filters.end.isoformat() if filters.end else None,
    }


def _json_rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for r in rows:
        for k, v in r.items():
            if isinstance(v, datetime | date):
                r[k] = v.isoformat()
    return rows
