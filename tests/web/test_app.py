"""The web service: sign-in, filters, disclosure control, and who may see what."""

from __future__ import annotations

import re

import pyarrow.compute as pc
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route
from tests.web.conftest import PASSWORD, USERS, Served, sign_in

from joinedup.workspace import Workspace

OPEN = {
    "/health",
    "/login",
    "/static/{name}",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}


def _get_routes(served: Served) -> list[str]:
    paths = []
    for r in served.client.app.routes:
        if isinstance(r, APIRoute | Route) and "GET" in (r.methods or set()):
            paths.append(r.path)
    return sorted(set(paths))


def test_pages_need_a_signed_in_user(served: Served) -> None:
    for path in _get_routes(served):
        if path in OPEN:
            continue
        r = served.client.get(
            path, headers={"accept": "application/json"}, params={"org": "council"}
        )
        assert r.status_code == 401, path
    page = served.client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"


def test_sign_in_with_a_wrong_password_is_refused_then_rate_limited(served: Served) -> None:
    served.access.add_user("eve.tax", PASSWORD, "tax", "analyst")
    client = served.client
    statuses = [
        client.post(
            "/login", data={"username": "eve.tax", "password": "nope nope nope"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429
    # Limited even with the right password until the window passes.
    r = client.post("/login", data={"username": "eve.tax", "password": PASSWORD})
    assert r.status_code == 429


def test_a_tampered_session_cookie_is_refused(served: Served) -> None:
    cookie = sign_in(served, "ana.council").cookies.get("joinedup_session")
    assert cookie
    ok = served.client.get("/api/me", headers={"cookie": f"joinedup_session={cookie}"})
    assert ok.status_code == 200
    # Change one character of the signature and, separately, of the signed value. (Not
    # the last character: in base64 it may carry only padding bits, so changing it can
    # leave the decoded signature as it was.)
    value, sep, signature = cookie.rpartition(".")
    swap = {"A": "B"}.get(signature[0], "A")
    forged = [value + sep + swap + signature[1:], ("B" if value[0] != "B" else "C") + cookie[1:]]
    for bad in forged:
        r = served.client.get("/api/me", headers={"cookie": f"joinedup_session={bad}"})
        assert r.status_code == 401, bad


def test_dashboard_filters_change_the_figures(served: Served) -> None:
    client = sign_in(served, "ana.council")
    whole = client.get("/api/figures").json()
    council = client.get("/api/figures", params={"org": "council"}).json()
    assert set(council["contacts_by_org"]) == {"council"}
    assert set(whole["contacts_by_org"]) >= {"council", "benefits", "tax", "health"}
    assert council["contacts"] < whole["contacts"]
    html = client.get("/", params={"org": "council"}).text
    assert 'data-figure="contacts:council"' in html and 'data-figure="contacts:tax"' not in html
    assert client.get("/api/figures", params={"start": "31/01/2025"}).status_code == 422


def test_published_figures_pass_disclosure_control(served: Served) -> None:
    client = sign_in(served, "ben.benefits")
    fig = client.get("/api/figures", params={"channel": "letter"}).json()
    numbers = [
        v
        for key in ("contacts_by_org_channel", "contacts_by_month", "quarantine_by_source")
        for inner in fig[key].values()
        for v in inner.values()
    ]
    assert numbers
    assert all(v is None or (v >= 10 and v % 5 == 0) for v in numbers)


@pytest.mark.parametrize(("username", "org", "role"), USERS)
def test_no_route_gives_another_organisations_rows(
    served: Served, username: str, org: str, role: str
) -> None:
    """Every GET route, asked for each organisation, never returns another's events."""
    with Workspace(served.path, create=False) as ws:
        events = ws.read("events")
    client = sign_in(served, username)
    for other in ("council", "benefits", "tax", "health"):
        if other == org:
            continue
        theirs = set(events.filter(pc.equal(events["org"], other))["event_id"].to_pylist())
        for path in _get_routes(served):
            if "{" in path:
                continue
            r = client.get(path, params={"org": other, "limit": 500})
            assert r.status_code in (200, 403, 404, 422), (path, r.status_code)
            ids = set(re.findall(r"[A-Za-z]+:[A-Za-z0-9/-]+", r.text))
            assert not (ids & theirs), (username, path, other)
    own = client.get("/api/events", params={"org": org, "limit": 5})
    assert own.status_code == 200 and {r["org"] for r in own.json()["rows"]} == {org}
    assert (
        client.get("/api/events", params={"org": "tax" if org != "tax" else "health"}).status_code
        == 403
    )


def test_an_api_token_works_until_its_user_is_deleted(served: Served) -> None:
    served.access.add_user("temp.tax", PASSWORD, "tax", "analyst")
    token = served.access.create_token("temp.tax", "test")
    headers = {"authorization": f"Bearer {token}"}
    assert served.client.get("/api/me", headers=headers).json()["org"] == "tax"
    served.access.delete_user("temp.tax")
    assert served.client.get("/api/me", headers=headers).status_code == 401


def test_correcting_a_label_needs_csrf_and_is_kept(served: Served) -> None:
    client = sign_in(served, "ana.council")
    page = client.get("/labels").text
    event_id = re.search(r'data-event="([^"]+)"', page)
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert event_id and token
    bad = client.post(
        "/labels", data={"csrf": "forged", "event_id": event_id.group(1), "category": "chase"}
    )
    assert bad.status_code == 403
    ok = client.post(
        "/labels",
        data={"csrf": token.group(1), "event_id": event_id.group(1), "category": "chase"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    kept = client.get("/api/labels").json()["rows"]
    assert [(r["event_id"], r["category"], r["corrected_by"]) for r in kept][-1] == (
        event_id.group(1),
        "chase",
        "ana.council",
    )


def test_another_organisations_contact_cannot_be_relabelled(served: Served) -> None:
    client = sign_in(served, "ana.council")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/labels").text)
    assert token
    with Workspace(served.path, create=False) as ws:
        events = ws.read("events")
    theirs = events.filter(pc.equal(events["org"], "tax"))["event_id"][0].as_py()
    r = client.post(
        "/labels", data={"csrf": token.group(1), "event_id": theirs, "category": "chase"}
    )
    assert r.status_code == 403


def test_a_filter_must_name_something_the_workspace_holds(served: Served) -> None:
    client = sign_in(served, "ana.council")
    r = client.get("/api/figures", params={"org": "nowhere"})
    assert r.status_code == 422 and "no org 'nowhere'" in r.json()["detail"]
    assert "council" in r.json()["detail"]
    # Found by fuzzing the schema: a NUL character once reached the SQL and failed there.
    assert client.get("/api/figures", params={"channel": "\x00"}).status_code == 422
    assert client.get("/", params={"service": "x'; DROP TABLE events; --"}).status_code == 422


def test_views_are_cached_up_to_a_bound(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from joinedup.web import _app

    monkeypatch.setattr(_app, "MAX_VIEWS", 3)
    client = sign_in(served, "ana.council")
    state = served.client.app.state.joinedup
    for org in ("council", "tax", "health", "benefits"):
        first = client.get("/api/figures", params={"org": org}).json()
        again = client.get("/api/figures", params={"org": org}).json()
        assert first == again
    views = [k for k in state.cache if k[0] == "views"]
    assert len(state.cache) <= 3 and len(views) >= 2
    # The newest views are the ones kept.
    assert views[-1][1].orgs == ("benefits",)


def test_a_kept_view_is_the_same_for_every_organisation_and_each_view_is_audited(
    served: Served,
) -> None:
    """One kept view serves every user: it holds only what each of them may see (the
    published aggregates), so a council user and a benefits user get the same figures,
    and each request is still written to the audit log."""
    from joinedup.governance import AuditLog

    council, benefits = sign_in(served, "ana.council"), sign_in(served, "ben.benefits")
    log = AuditLog(served.path)
    before = sum(1 for _ in log.entries(what="api.figures"))
    for params in ({}, {"org": "council"}, {"org": "benefits", "channel": "phone"}):
        mine = council.get("/api/figures", params=params).json()
        theirs = benefits.get("/api/figures", params=params).json()
        assert mine == theirs and mine["controlled"] is True
        # Counts are published rounded to the base (nothing unrounded from one org's rows).
        base = mine["rules"]["rounding_base"]
        for n in mine["contacts_by_org"].values():
            assert n is None or n % base == 0
    entries = list(log.entries(what="api.figures"))
    assert len(entries) - before == 6
    assert {e.who for e in entries[-6:]} == {"ana.council", "ben.benefits"}
    assert log.verify().ok


_BANNER = re.compile(r'<div class="govuk-phase-banner">.*?</form>\s*</div>', re.S)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_a_kept_page_shows_each_user_only_their_own_session(served: Served) -> None:
    """A view's page is kept once for everyone; what names the user and holds their
    session's CSRF token is put in for each request, so no user sees another's."""
    from joinedup.governance import AuthenticationError

    council, benefits = sign_in(served, "ana.council"), sign_in(served, "ben.benefits")
    cookies = {
        "ana.council": council.cookies["joinedup_session"],
        "ben.benefits": benefits.cookies["joinedup_session"],
    }
    for params in ({}, {"org": "council"}, {"org": "benefits"}):
        pages = {
            "ana.council": council.get("/", params=params),
            "ben.benefits": benefits.get("/", params=params),
        }
        for me, other in (("ana.council", "ben.benefits"), ("ben.benefits", "ana.council")):
            page = pages[me]
            assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
            banner = _BANNER.search(page.text)
            assert banner and f"<strong>{me}</strong>" in banner.group()
            assert other not in page.text
            token = _CSRF.search(banner.group())
            assert token and len(_CSRF.findall(page.text)) == 1
            served.access.check_csrf(cookies[me], token.group(1))  # its own session's
            with pytest.raises(AuthenticationError, match="another session"):
                served.access.check_csrf(cookies[other], token.group(1))
        # Apart from that part, both were sent the same page.
        council_page, benefits_page = (_BANNER.sub("", p.text) for p in pages.values())
        assert council_page == benefits_page
    # What is kept holds no one's name or session.
    kept = [v.page.plain() for k, v in served.client.app.state.joinedup.cache.items()]
    assert kept
    for body in kept:
        assert b"govuk-phase-banner" not in body and b'name="csrf"' not in body
        assert not any(username.encode() in body for username, _, _ in USERS)


def test_kept_bodies_are_sent_compressed_to_clients_that_take_them(served: Served) -> None:
    client = sign_in(served, "owen.council")
    plain_only = {"accept-encoding": "identity"}
    for path in ("/", "/api/figures"):
        packed = client.get(path, params={"channel": "phone"})
        plain = client.get(path, params={"channel": "phone"}, headers=plain_only)
        assert packed.status_code == plain.status_code == 200
        assert packed.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in plain.headers
        assert int(packed.headers["content-length"]) < len(plain.content) / 3
        for r in (packed, plain):
            assert r.headers["vary"] == "Accept-Encoding"
            assert r.headers["cache-control"] == "private"
        # The same content (the CSRF token is signed with the time, so it may differ).
        assert _CSRF.sub("", packed.text) == _CSRF.sub("", plain.text)
    assert packed.json() == plain.json()
    assert plain.headers["content-type"] == "application/json"


def test_every_dashboard_request_is_audited_though_the_page_is_kept(served: Served) -> None:
    from joinedup.governance import AuditLog

    log = AuditLog(served.path)
    before = sum(1 for _ in log.entries(what="web.view"))
    client = sign_in(served, "ada.council")
    for _ in range(5):
        assert client.get("/", params={"org": "tax"}).status_code == 200
    entries = list(log.entries(what="web.view"))[before:]
    assert [(e.who, e.details["orgs"]) for e in entries] == [("ada.council", ["tax"])] * 5
    assert log.verify().ok


def test_views_are_computed_when_the_service_starts_and_kept(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole workspace's and each organisation's views are computed in the
    background as the service starts, kept however many other views come and go, and
    computed again after a label correction."""
    import shutil

    from fastapi.testclient import TestClient
    from tests.report.pipeline import pipeline_workspace
    from tests.web.conftest import FAST

    from joinedup.governance._access import AccessStore
    from joinedup.report import Filters
    from joinedup.web import _app, create_app

    path = tmp_path_factory.mktemp("warm") / "ws"
    shutil.copytree(pipeline_workspace(tmp_path_factory), path)
    access = AccessStore(path, hasher=FAST)
    access.add_user("ana.council", PASSWORD, "council", "analyst")
    monkeypatch.setattr(_app, "MAX_VIEWS", 1)
    monkeypatch.setattr(_app, "REWARM_SECONDS", 0.0)
    told: list[str] = []
    app = create_app(path, access=access, progress=told.append)
    with TestClient(app) as client:
        state = app.state.joinedup
        assert state.warmer.idle.wait(600)
        orgs = state.choices["org"]
        wanted = {("views", Filters())} | {("views", Filters(orgs=(o,))) for o in orgs}
        assert set(state.cache) == wanted
        assert told[0] == (
            f"computing {len(wanted)} dashboard views in the background: "
            f"the whole workspace, {', '.join(orgs)}"
        )
        assert [t.split(" ready")[0] for t in told[1:]] == [
            f"view {i}/{len(wanted)} ({name})"
            for i, name in enumerate(["the whole workspace", *orgs], 1)
        ] + ["dashboard views"]

        r = client.post("/login", data={"username": "ana.council", "password": PASSWORD})
        assert r.status_code == 200  # followed to the dashboard, answered from the cache
        for channel in state.choices["channel"][:3]:
            assert client.get("/api/figures", params={"channel": channel}).status_code == 200
        others = set(state.cache) - wanted
        assert wanted <= set(state.cache) and len(others) == 1  # MAX_VIEWS other views

        labels = client.get("/labels").text
        event_id, token = re.search(r'data-event="([^"]+)"', labels), _CSRF.search(labels)
        assert event_id and token
        r = client.post(
            "/labels",
            data={"csrf": token.group(1), "event_id": event_id.group(1), "category": "chase"},
        )
        assert r.status_code == 200
        assert state.warmer.idle.wait(600)
        assert set(state.cache) == wanted and state.generation == 1
        assert told[-1].startswith("dashboard views ready")
