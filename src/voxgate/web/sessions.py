"""Sessions of the web administration (ADMIN-4): server-side, in memory, with explicit time.

A session is known to the browser only by a random id (256 bits) in a cookie; everything
else stays here: who, which role, the CSRF token, since when and the last request.  A
session ends after ``idle_timeout`` seconds without a request, at logout, or when its
account changes: at once when an administrator of this server deletes or disables it, gives
it another role or sets its password (the account service calls :meth:`SessionStore.close_user`),
and at its next request when the CLI did (the server checks the account at each request; until
then the session holds its seat).  Opening one more than
the limits allow — in total, or for the role — is refused with a message that names the
limit; expired sessions are let go first, so a forgotten browser tab does not hold a seat
for longer than the idle timeout.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

#: Bytes of randomness in a session id and in a CSRF token.
TOKEN_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Most sessions open at once: in total, of system and of group administrators."""

    total: int = 50
    system: int = 5
    group: int = 5


class SessionLimitError(Exception):
    """Opening a session would pass a limit; the message names it, for the person refused."""


@dataclass(slots=True)
class Session:
    """One logged-in browser or API client."""

    id: str
    username: str
    role: str
    csrf_token: str
    source: str
    created: float
    last_seen: float
    must_change: bool
    #: The account's password_changed_at when the session was opened (or the password last
    #: changed through it): a password set elsewhere since ends the session.
    password_changed_at: datetime

    def csrf_matches(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant time)."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf_token.encode())


class SessionStore:
    """The open sessions, their idle timeout and their limits."""

    def __init__(self, idle_timeout: float, limits: SessionLimits | None = None) -> None:
        self.idle_timeout = idle_timeout
        self.limits = limits or SessionLimits()
        self._sessions: dict[str, Session] = {}

    def open(
        self, username: str, role: str, source: str, now: float, *, must_change: bool,
        password_changed_at: datetime,
    ) -> Session:  # fmt: skip
        """A new session; :class:`SessionLimitError` when a limit is reached."""
        self.purge(now)
        limits = self.limits
        if len(self._sessions) >= limits.total:
            raise SessionLimitError(
                f"the limit of {limits.total} sessions open at once is reached "
                "(admin.max_sessions): log out elsewhere, or wait for a session to time out")
        per_role = {"system": (limits.system, "system administrator", "max_system_sessions"),
                    "group": (limits.group, "group administrator", "max_group_sessions")}
        if role in per_role:
            limit, name, key = per_role[role]
            if self.count(role) >= limit:
                raise SessionLimitError(
                    f"the limit of {limit} {name} sessions open at once is reached "
                    f"(admin.{key}): log out elsewhere, or wait for a session to time out")
        session = Session(
            secrets.token_urlsafe(TOKEN_BYTES), username, role,
            secrets.token_urlsafe(TOKEN_BYTES), source, now, now, must_change,
            password_changed_at,
        )  # fmt: skip
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None, now: float) -> Session | None:
        """The live session ``session_id`` (its idle time starts again), or ``None``: unknown
        or timed out (then it is closed)."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now - session.last_seen >= self.idle_timeout:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def peek(self, session_id: str | None) -> Session | None:
        """The session ``session_id`` as it is (no idle-time check, no touch)."""
        return self._sessions.get(session_id) if session_id else None

    def close(self, session_id: str) -> Session | None:
        """End one session; the session it was, if any."""
        return self._sessions.pop(session_id, None)

    def close_user(self, username: str) -> int:
        """End every session of ``username``; how many."""
        ids = [s.id for s in self._sessions.values() if s.username == username]
        for session_id in ids:
            del self._sessions[session_id]
        return len(ids)

    def purge(self, now: float) -> int:
        """Forget the timed-out sessions; how many."""
        gone = [s.id for s in self._sessions.values() if now - s.last_seen >= self.idle_timeout]
        for session_id in gone:
            del self._sessions[session_id]
        return len(gone)

    def count(self, role: str | None = None) -> int:
        """Sessions open (of ``role``), timed-out ones not yet purged included."""
        if role is None:
            return len(self._sessions)
        return sum(1 for s in self._sessions.values() if s.role == role)
