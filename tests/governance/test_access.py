"""Access control: passwords, sessions, tokens, CSRF, rate limiting and the read policy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from itsdangerous import URLSafeTimedSerializer

from joinedup.governance import (
    TABLE_SCOPE,
    AccessDenied,
    AccessStore,
    AuditLog,
    AuthenticationError,
    GovernanceError,
    LoginRateLimiter,
    RateLimited,
    Role,
    can,
    can_read,
    require_read,
    row_filter,
)

PW = "correct horse battery"
#: argon2id with tiny costs: the same code path, fast enough for a test suite
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AccessStore]:
    s = AccessStore(tmp_path, audit=AuditLog(tmp_path), hasher=FAST)
    s.add_user("ana", PW, "benefits", "analyst", by="admin")
    s.add_user("sam", PW, "tax", Role.SERVICE_OWNER, by="admin")
    s.add_user("root", PW, "council", "administrator", by="admin")
    yield s


def test_default_hasher_is_argon2id(tmp_path: Path) -> None:
    s = AccessStore(tmp_path)
    s.add_user("ana", PW, "benefits", "analyst")
    with sqlite3.connect(s.path) as db:
        stored = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$v=19$m=65536")


def test_passwords_are_stored_as_argon2_hashes(store: AccessStore) -> None:
    with sqlite3.connect(store.path) as db:
        hashes = [r[0] for r in db.execute("SELECT password_hash FROM users")]
    assert all(h.startswith("$argon2id$") and PW not in h for h in hashes)
    assert store.authenticate("ana", PW).org == "benefits"
    assert (store.path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(("user", "pw"), [("ana", "wrong password!!"), ("nobody", PW)])
def test_wrong_password_or_user_gives_the_same_message(
    store: AccessStore, user: str, pw: str
) -> None:
    with pytest.raises(AuthenticationError, match=r"^wrong username or password$"):
        store.authenticate(user, pw)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad Name", PW, "tax", "analyst"), "username"),
        (("bob", "short", "tax", "analyst"), "at least 12"),
        (("bob", PW, "Tax Office", "analyst"), "organisation"),
        (("bob", PW, "tax", "king"), "role 'king'"),
        (("ana", PW, "tax", "analyst"), "already exists"),
    ],
)
def test_bad_users_are_refused(store: AccessStore, args: tuple, message: str) -> None:
    with pytest.raises(GovernanceError, match=message):
        store.add_user(*args)


def test_login_gives_a_session_that_logout_ends(store: AccessStore) -> None:
    cookie = store.login("ana", PW, address="10.0.0.1")
    assert store.session_user(cookie).username == "ana"
    store.logout(cookie)
    with pytest.raises(AuthenticationError, match="session has ended"):
        store.session_user(cookie)
    whats = [e.what for e in store.audit.entries()]  # type: ignore[union-attr]
    assert "login" in whats and "logout" in whats


def test_tampered_session_cookie_is_refused(store: AccessStore) -> None:
    cookie = store.login("ana", PW)
    payload, rest = cookie.split(".", 1)
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest
    with pytest.raises(AuthenticationError, match="altered or signed by another"):
        store.session_user(forged)


def test_cookie_signed_with_another_key_is_refused(store: AccessStore) -> None:
    other = URLSafeTimedSerializer("not the key", salt="joinedup.session")
    with pytest.raises(AuthenticationError, match="not valid"):
        store.session_user(other.dumps({"sid": "x"}))


def test_sessions_expire(tmp_path: Path) -> None:
    s = AccessStore(tmp_path, session_hours=0.0, hasher=FAST)
    s.add_user("ana", PW, "benefits", "analyst")
    cookie = s.login("ana", PW)
    with pytest.raises(AuthenticationError, match="expired"):
        s.session_user(cookie)


def test_password_change_ends_sessions(store: AccessStore) -> None:
    cookie = store.login("ana", PW)
    store.set_password("ana", "a brand new passphrase")
    with pytest.raises(AuthenticationError):
        store.session_user(cookie)
    assert store.authenticate("ana", "a brand new passphrase").username == "ana"


def test_signing_key_survives_reopening(store: AccessStore, tmp_path: Path) -> None:
    cookie = store.login("ana", PW)
    assert AccessStore(tmp_path, hasher=FAST).session_user(cookie).username == "ana"


def test_tokens_work_until_revoked(store: AccessStore) -> None:
    token = store.create_token("sam", "nightly export")
    assert store.token_user(token).username == "sam"
    with sqlite3.connect(store.path) as db:
        stored = db.execute("SELECT secret_sha256 FROM tokens").fetchone()[0]
    assert token.split("_", 2)[2] not in stored
    [rec] = store.tokens("sam")
    store.revoke_token(rec.token_id)
    with pytest.raises(AuthenticationError, match="revoked"):
        store.token_user(token)
    with pytest.raises(GovernanceError, match="no active API token"):
        store.revoke_token(rec.token_id)


def test_a_token_s_last_use_is_kept_to_the_minute(store: AccessStore) -> None:
    token = store.create_token("sam", "dashboard")

    def last_used() -> str | None:
        with sqlite3.connect(store.path) as db:
            return db.execute("SELECT last_used_at FROM tokens").fetchone()[0]

    assert last_used() is None
    store.token_user(token)
    first = last_used()
    assert first is not None
    store.token_user(token)
    assert last_used() == first  # a second use within the minute writes nothing
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE tokens SET last_used_at = '2020-01-01T00:00:00+00:00'")
    store.token_user(token)
    assert last_used() != "2020-01-01T00:00:00+00:00"


@pytest.mark.parametrize("bad", ["", "jdu_", "abc", "jdu_x_y", "jdu__y"])
def test_malformed_or_unknown_tokens(store: AccessStore, bad: str) -> None:
    with pytest.raises(AuthenticationError):
        store.token_user(bad)


def test_forged_secret_for_a_real_token_id(store: AccessStore) -> None:
    token = store.create_token("sam", "t")
    with pytest.raises(AuthenticationError, match="unknown API token"):
        store.token_user(token[:-4] + "abcd")


def test_expired_token(store: AccessStore) -> None:
    token = store.create_token("sam", "t", days=None)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE tokens SET expires_at = '2000-01-01T00:00:00+00:00'")
    with pytest.raises(AuthenticationError, match="expired on 2000-01-01"):
        store.token_user(token)


def test_token_of_a_deleted_user_is_refused(store: AccessStore) -> None:
    token = store.create_token("sam", "t")
    cookie = store.login("sam", PW)
    store.delete_user("sam", by="root")
    with pytest.raises(AuthenticationError, match="sam, who has been deleted"):
        store.token_user(token)
    with pytest.raises(AuthenticationError):
        store.session_user(cookie)
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        store.login("sam", PW)
    assert not store.user("sam").active


def test_csrf_token_is_bound_to_its_session(store: AccessStore) -> None:
    a = store.login("ana", PW)
    b = store.login("sam", PW)
    token = store.csrf_token(a)
    store.check_csrf(a, token)
    with pytest.raises(AuthenticationError, match="another session"):
        store.check_csrf(b, token)
    with pytest.raises(AuthenticationError, match="not valid"):
        store.check_csrf(a, token + "x")


def test_login_is_rate_limited(tmp_path: Path) -> None:
    now = [0.0]
    limiter = LoginRateLimiter(max_failures=3, window=60, clock=lambda: now[0])
    s = AccessStore(tmp_path, limiter=limiter, audit=AuditLog(tmp_path), hasher=FAST)
    s.add_user("ana", PW, "benefits", "analyst")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            s.login("ana", "not the password", address="1.2.3.4")
    with pytest.raises(RateLimited) as exc:
        s.login("ana", PW, address="1.2.3.4")  # even the right password waits
    assert 0 < exc.value.retry_after <= 60
    s.login("ana", PW, address="5.6.7.8")  # another address is not blocked
    now[0] = 61.0
    s.login("ana", PW, address="1.2.3.4")
    assert len(list(s.audit.entries(what="login.failed"))) == 3  # type: ignore[union-attr]


def test_rate_limiter_success_clears() -> None:
    limiter = LoginRateLimiter(max_failures=2, window=10, clock=lambda: 0.0)
    limiter.failure("k")
    limiter.success("k")
    limiter.failure("k")
    limiter.check("k")
    limiter.failure("k")
    with pytest.raises(RateLimited):
        limiter.check("k")
    with pytest.raises(ValueError):
        LoginRateLimiter(max_failures=0)


ORG_TABLES = [t for t, (scope, _) in TABLE_SCOPE.items() if scope == "org"]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("table", ORG_TABLES)
def test_own_rows_only_every_role(store: AccessStore, role: Role, table: str) -> None:
    from dataclasses import replace

    user = replace(store.user("ana"), role=role)
    assert can_read(user, table, "benefits", "row")
    assert not can_read(user, table, "tax", "row")
    assert not can_read(user, table, None, "row")
    assert can_read(user, table, "tax", "aggregate")
    with pytest.raises(AccessDenied, match="only disclosure-controlled aggregates"):
        require_read(user, table, "tax", "row")


@pytest.mark.parametrize("role", list(Role))
def test_joined_tables_are_aggregates_only(store: AccessStore, role: Role) -> None:
    from dataclasses import replace

    user = replace(store.user("ana"), role=role)
    for table in ("episodes", "episode_events"):
        assert not can_read(user, table, "benefits", "row")
        assert can_read(user, table, None, "aggregate")
    assert can_read(user, "unit_costs", "tax", "row")


def test_unknown_table_level_and_deleted_user(store: AccessStore) -> None:
    ana = store.user("ana")
    assert not can_read(ana, "secrets", "benefits", "row")
    assert not can_read(ana, "events", "benefits", "everything")  # type: ignore[arg-type]
    store.delete_user("ana")
    gone = store.user("ana")
    assert not can_read(gone, "events", "benefits", "row")
    assert not can_read(gone, "events", "tax", "aggregate")
    assert not can(gone, "export")


def test_role_actions(store: AccessStore) -> None:
    ana, sam, root = store.user("ana"), store.user("sam"), store.user("root")
    assert can(root, "manage_users") and not can(ana, "manage_users")
    assert can(root, "no_disclosure_control") and not can(sam, "no_disclosure_control")
    assert can(sam, "export") and not can(sam, "run")
    with pytest.raises(ValueError, match="unknown action"):
        can(ana, "fly")


def test_row_filter_keeps_only_own_rows(store: AccessStore, loaded_workspace_dir: Path) -> None:
    import duckdb

    ana = store.user("ana")
    con = duckdb.connect(str(loaded_workspace_dir / "joinedup.duckdb"), read_only=True)
    try:
        for table in ("events", "people", "quarantine"):
            where = row_filter(ana, table)
            total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            mine = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
            assert mine <= total
            if table != "quarantine":
                orgs = con.execute(f"SELECT DISTINCT org FROM {table} WHERE {where}").fetchall()
                assert orgs == [("benefits",)] and mine < total
    finally:
        con.close()
    with pytest.raises(AccessDenied):
        row_filter(ana, "episodes")
    assert row_filter(ana, "unit_costs") == "TRUE"


def test_request_user_from_header_or_cookie(store: AccessStore) -> None:
    token = store.create_token("sam", "script")
    cookie = store.login("ana", PW)
    assert store.request_user(authorization=f"Bearer {token}").username == "sam"
    assert store.request_user(cookie=cookie).username == "ana"
    assert store.request_user(cookie=cookie, authorization=f"bearer {token}").username == "sam"
    with pytest.raises(AuthenticationError, match="not logged in"):
        store.request_user()
    with pytest.raises(AuthenticationError, match="Bearer"):
        store.request_user(authorization=f"Basic {token}")


def test_every_table_a_workspace_holds_has_an_owner() -> None:
    from joinedup import model

    tables = {**model.STANDARD_TABLES, "value_ledger": model.VALUE_LEDGER}
    tables["cost_shunting"] = model.COST_SHUNTING
    missing = sorted(set(tables) - set(TABLE_SCOPE))
    assert not missing, f"add {missing} to governance.TABLE_SCOPE"
    for name, (scope, column) in TABLE_SCOPE.items():
        assert scope in {"org", "joined", "shared"}
        if column is not None:
            assert column in tables[name].names, f"{name} has no column {column}"


def test_a_wholly_quarantined_source_stays_its_organisations(
    store: AccessStore, tmp_path: Path
) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE sources (org VARCHAR, source VARCHAR)")
    con.execute("CREATE TABLE quarantine (source VARCHAR, reason VARCHAR)")
    con.execute("INSERT INTO sources VALUES ('benefits', 'b1'), ('tax', 't1')")
    con.execute("INSERT INTO quarantine VALUES ('b1', 'x'), ('t1', 'y'), ('t1', 'z')")
    where = row_filter(store.user("ana"), "quarantine")
    assert con.execute(f"SELECT reason FROM quarantine WHERE {where}").fetchall() == [("x",)]
    con.close()
