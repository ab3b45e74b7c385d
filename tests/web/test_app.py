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
