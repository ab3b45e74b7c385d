"""Users, passwords, sessions and API tokens of one workspace.

They live in ``<workspace>/access.sqlite``, not in the workspace's analytical database:
credentials must not travel with the data when tables are copied to another engine
(Spark) or exported; the web service needs many small concurrent transactions, which
SQLite does well and an analytical database does not; and the file can be given tighter
permissions (owner only) than the data. Passwords are hashed with argon2id; sessions
and CSRF tokens are signed with a key kept in the same file; API tokens are random and
only their SHA-256 is stored, so the file never holds anything that logs a person in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from joinedup.governance._audit import AuditLog, _os_user
from joinedup.governance._errors import AccessDenied, AuthenticationError, GovernanceError
from joinedup.governance._policy import Role, User, can
from joinedup.governance._ratelimit import LoginRateLimiter

__all__ = ["AccessStore", "ApiToken", "acting_user", "control_off_by"]

ACCESS_FILE = "access.sqlite"
MIN_PASSWORD = 12  # NCSC password guidance: length, not composition rules
#: How finely a token's last use is recorded (see AccessStore.token_user).
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
_ORG = re.compile(r"^[a-z][a-z0-9_]*$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username),
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class ApiToken:
    """An API token's record (never its secret)."""

    token_id: str
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class AccessStore:
    """The users of a workspace and the ways they prove who they are."""

    def __init__(
        self,
        folder: Path | str,
        *,
        session_hours: float = 8.0,
        audit: AuditLog | None = None,
        limiter: LoginRateLimiter | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / ACCESS_FILE
        self._local = threading.local()
        self.session_seconds = int(session_hours * 3600)
        self.audit = audit
        self.limiter = limiter or LoginRateLimiter()
        # argon2id with the library's RFC 9106 low-memory defaults unless told otherwise
        # (tests pass a cheaper one; a stored hash carries its own parameters)
        self._hasher = hasher or PasswordHasher()
        fresh = not self.path.exists()
        with self._db() as db:
            db.executescript(_SCHEMA)
            if db.execute("SELECT 1 FROM settings WHERE key = 'signing_key'").fetchone() is None:
                db.execute(
                    "INSERT INTO settings VALUES ('signing_key', ?)", (secrets.token_hex(32),)
                )
        if fresh:
            os.chmod(self.path, 0o600)
        with self._db() as db:
            key = db.execute("SELECT value FROM settings WHERE key = 'signing_key'").fetchone()[0]
        self._sessions = URLSafeTimedSerializer(key, salt="joinedup.session")
        self._csrf = URLSafeTimedSerializer(key, salt="joinedup.csrf")
        self._dummy_hash: str | None = None

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # One connection per thread, kept open: opening one per query was the largest
        # cost of a signed-in web request (a session check opened two). Each use is
        # still its own transaction.
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10)
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
        with db:
            yield db

    def _dummy(self) -> str:
        """A hash to verify against when the username is unknown, so that both cases
        take the same time and a caller cannot tell which names exist."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        return self._dummy_hash

    def _log(self, who: str | None, what: str, details: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.append(who, what, details)

    # users ---------------------------------------------------------------------------

    def add_user(
        self, username: str, password: str, org: str, role: Role | str, *, by: str | None = None
    ) -> User:
        """Create a user; the password is stored only as an argon2 hash."""
        if not _USERNAME.match(username):
            raise GovernanceError(
                f"username {username!r}: use 2-64 lower-case letters, digits and . _ @ -"
            )
        if not _ORG.match(org):
            raise GovernanceError(f"organisation {org!r} must be a code like benefits or tax")
        try:
            role = Role(role)
        except ValueError:
            raise GovernanceError(
                f"role {role!r}: expected one of {', '.join(r.value for r in Role)}"
            ) from None
        _check_password(password)
        now = _now()
        with self._db() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise GovernanceError(f"user {username} already exists")
            db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, NULL)",
                (username, org, role.value, self._hasher.hash(password), now.isoformat()),
            )
        self._log(by, "user.add", {"username": username, "org": org, "role": role.value})
        return User(username, org, role, now)

    def _row_user(self, row: tuple[Any, ...]) -> User:
        return User(row[0], row[1], Role(row[2]), _ts(row[3]) or _now(), _ts(row[4]))

    def user(self, username: str) -> User:
        """A user by name (deleted users too: check ``active``)."""
        with self._db() as db:
            row = db.execute(
                "SELECT username, org, role, created_at, deleted_at FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            raise AuthenticationError(f"no user called {username}")
        return self._row_user(row)

    def users(self) -> list[User]:
        """Every user, deleted ones included, by name."""
        with self._db() as db:
            rows = db.execute(
                "SELECT username, org, role, created_at, deleted_at FROM users ORDER BY 1"
            ).fetchall()
        return [self._row_user(r) for r in rows]

    def set_password(self, username: str, password: str, *, by: str | None = None) -> None:
        """Replace a user's password and end their sessions."""
        _check_password(password)
        self._active(username)
        with self._db() as db:
            db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                (self._hasher.hash(password), username),
            )
            db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                (_now().isoformat(), username),
            )
        self._log(by or username, "user.password", {"username": username})

    def delete_user(self, username: str, *, by: str | None = None) -> None:
        """Delete a user: kept for the audit trail, but their sessions and tokens stop."""
        self._active(username)
        now = _now().isoformat()
        with self._db() as db:
            db.execute("UPDATE users SET deleted_at = ? WHERE username = ?", (now, username))
            for table in ("sessions", "tokens"):
                db.execute(
                    f"UPDATE {table} SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                    (now, username),
                )
        self._log(by, "user.delete", {"username": username})

    def _active(self, username: str) -> User:
        user = self.user(username)
        if not user.active:
            raise AuthenticationError(f"user {username} has been deleted")
        return user

    # passwords and sessions -------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> User:
        """The user, if the password is right; no hint whether the name exists."""
        with self._db() as db:
            row = db.execute(
                "SELECT password_hash, deleted_at FROM users WHERE username = ?", (username,)
            ).fetchone()
        stored = row[0] if row and row[1] is None else self._dummy()
        try:
            self._hasher.verify(stored, password)
            ok = row is not None and row[1] is None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise AuthenticationError("wrong username or password")
        if self._hasher.check_needs_rehash(stored):
            with self._db() as db:
                db.execute(
                    "UPDATE users SET password_hash = ? WHERE username = ?",
                    (self._hasher.hash(password), username),
                )
        return self.user(username)

    def login(self, username: str, password: str, *, address: str = "-") -> str:
        """Check the password (rate-limited per username and address) and return a
        signed session cookie value that expires after ``session_hours``."""
        key = f"{username}@{address}"
        self.limiter.check(key)
        try:
            user = self.authenticate(username, password)
        except AuthenticationError:
            self.limiter.failure(key)
            self._log(username, "login.failed", {"address": address})
            raise
        self.limiter.success(key)
        sid = secrets.token_urlsafe(24)
        now = _now()
        with self._db() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, NULL)",
                (
                    sid,
                    user.username,
                    now.isoformat(),
                    (now + timedelta(seconds=self.session_seconds)).isoformat(),
                ),
            )
        self._log(user.username, "login", {"address": address, "org": user.org})
        return self._sessions.dumps({"sid": sid})

    def _session_id(self, cookie: str) -> str:
        try:
            data = self._sessions.loads(cookie, max_age=self.session_seconds)
        except SignatureExpired:
            raise AuthenticationError("the session has expired: log in again") from None
        except BadSignature:
            raise AuthenticationError(
                "the session cookie is not valid: it was altered or signed by another workspace"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise AuthenticationError("the session cookie is not valid")
        return str(data["sid"])

    def session_user(self, cookie: str) -> User:
        """The user a session cookie belongs to, if it is genuine, current and open."""
        sid = self._session_id(cookie)
        with self._db() as db:
            row = db.execute(
                "SELECT username, expires_at, revoked_at FROM sessions WHERE session_id = ?",
                (sid,),
            ).fetchone()
        if row is None:
            raise AuthenticationError("unknown session: log in again")
        if row[2] is not None:
            raise AuthenticationError("the session has ended: log in again")
        if (_ts(row[1]) or _now()) <= _now():
            raise AuthenticationError("the session has expired: log in again")
        return self._active(row[0])

    def logout(self, cookie: str) -> None:
        """End a session."""
        sid = self._session_id(cookie)
        with self._db() as db:
            row = db.execute(
                "SELECT username FROM sessions WHERE session_id = ?", (sid,)
            ).fetchone()
            db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
                (_now().isoformat(), sid),
            )
        self._log(row[0] if row else None, "logout", {})

    def csrf_token(self, cookie: str) -> str:
        """A token for a form, bound to the session, to send back with the form."""
        return self._csrf.dumps(self._session_id(cookie))

    def check_csrf(self, cookie: str, token: str) -> None:
        """Refuse a form whose CSRF token is missing, forged or from another session."""
        try:
            bound = self._csrf.loads(token, max_age=self.session_seconds)
        except BadSignature:
            raise AuthenticationError(
                "the form's CSRF token is not valid: reload the page"
            ) from None
        if not hmac.compare_digest(str(bound), self._session_id(cookie)):
            raise AuthenticationError("the form's CSRF token belongs to another session")

    def request_user(self, *, cookie: str | None = None, authorization: str | None = None) -> User:
        """The user behind a web request: an ``Authorization: Bearer jdu_…`` header (for
        scripts) or else the session cookie (for browsers). Neither is refused."""
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise AuthenticationError("expected 'Authorization: Bearer <API token>'")
            return self.token_user(credential.strip())
        if cookie:
            return self.session_user(cookie)
        raise AuthenticationError("not logged in: log in, or send an API token")

    # API tokens -------------------------------------------------------------------------

    def create_token(
        self, username: str, name: str, *, days: int | None = 90, by: str | None = None
    ) -> str:
        """A new API token for ``username``, shown once: only its hash is kept.

        The secret is 256 random bits, so a fast hash is enough: a slow password hash
        protects guessable secrets, which this is not.
        """
        self._active(username)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = _now()
        expires = (now + timedelta(days=days)).isoformat() if days else None
        with self._db() as db:
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (token_id, username, name, _sha256(secret), now.isoformat(), expires),
            )
        self._log(by or username, "token.create", {"token_id": token_id, "name": name})
        return f"jdu_{token_id}_{secret}"

    def token_user(self, token: str) -> User:
        """The user an API token belongs to, if it is genuine, current and not revoked."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "jdu" or not parts[1] or not parts[2]:
            raise AuthenticationError("not a joinedup API token (expected jdu_<id>_<secret>)")
        _, token_id, secret = parts
        with self._db() as db:
            row = db.execute(
                "SELECT username, secret_sha256, expires_at, revoked_at, last_used_at "
                "FROM tokens WHERE token_id = ?",
                (token_id,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[1], _sha256(secret)):
            raise AuthenticationError("unknown API token")
        user = self.user(row[0])
        if not user.active:
            raise AuthenticationError(
                f"the API token belongs to {user.username}, who has been deleted"
            )
        if row[3] is not None:
            raise AuthenticationError(f"API token {token_id} was revoked on {row[3][:10]}")
        if row[2] is not None and (_ts(row[2]) or _now()) <= _now():
            raise AuthenticationError(f"API token {token_id} expired on {row[2][:10]}")
        # When a token was last used is kept to the minute: writing it on every request
        # would make each API call wait for a database write.
        now = _now()
        last = _ts(row[4])
        if last is None or now - last >= TOKEN_USE_RESOLUTION:
            with self._db() as db:
                db.execute(
                    "UPDATE tokens SET last_used_at = ? WHERE token_id = ?",
                    (now.isoformat(), token_id),
                )
        return user

    def revoke_token(self, token_id: str, *, by: str | None = None) -> None:
        """Stop an API token from working."""
        with self._db() as db:
            done = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (_now().isoformat(), token_id),
            ).rowcount
        if not done:
            raise GovernanceError(f"no active API token {token_id}")
        self._log(by, "token.revoke", {"token_id": token_id})

    def tokens(self, username: str | None = None) -> list[ApiToken]:
        """API tokens' records (not their secrets), optionally one user's."""
        query = "SELECT token_id, username, name, created_at, expires_at, revoked_at FROM tokens"
        args: tuple[str, ...] = ()
        if username is not None:
            query += " WHERE username = ?"
            args = (username,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY created_at", args).fetchall()
        return [ApiToken(r[0], r[1], r[2], _ts(r[3]) or _now(), _ts(r[4]), _ts(r[5])) for r in rows]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise GovernanceError(f"a password needs at least {MIN_PASSWORD} characters")


def acting_user(folder: Path | str, who: str | None = None) -> str | User:
    """Who a command-line command acts as: ``who`` (its ``--as``), else the
    operating-system user.

    In a workspace with users (``access.sqlite``) the name must be one of them and not
    deleted; the :class:`User` is returned, so that their role is checked where it
    matters (only an administrator may turn disclosure control off). A workspace without
    users has one analyst inside a secure setting, who is trusted with its files anyway:
    the name is returned as it is, to be recorded in the audit log.
    """
    name = who or _os_user()
    if not (Path(folder) / ACCESS_FILE).exists():
        return name
    store = AccessStore(folder)
    try:
        user = store.user(name)
    except AuthenticationError:
        raise AccessDenied(
            f"{name} is not a user of the workspace {folder}: pass --as with your user "
            "name, or ask an administrator to add you (joinedup access user-add)"
        ) from None
    if not user.active:
        raise AccessDenied(f"user {name} has been deleted")
    return user


def control_off_by(folder: Path | str, who: str | None = None) -> str:
    """The name under which a command-line command turns disclosure control off, for
    the audit log: :func:`acting_user`, refused with :class:`AccessDenied` where the
    workspace has users and that user is not an administrator."""
    user = acting_user(folder, who)
    if isinstance(user, str):
        return user
    if not can(user, "no_disclosure_control"):
        raise AccessDenied(
            f"{user.username} ({user.role.value}) may not turn disclosure control off: only "
            "an administrator, inside the secure setting"
        )
    return user.username
