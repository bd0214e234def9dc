"""Sign-in sessions: the token families of the API (one row per sign-in, ``sid``).

Rotation is one conditional UPDATE (``WHERE refresh_jti = :presented``), so of concurrent
refreshes with one token the database lets exactly one through, on SQLite and PostgreSQL
alike; the others find the session moved on, which is exactly what a stolen token raced by
its owner looks like: :class:`RefreshReused`, and the caller revokes the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import delete, select, update

from warehouse.db import Database
from warehouse.models import AuthSession, utcnow

MAX_LISTED: Final = 200


class EndReason(StrEnum):
    LOGOUT = "logout"
    REUSE = "refresh_reuse"
    ADMIN = "admin"
    DISABLED = "user_disabled"
    CREDENTIAL_CHANGED = "password_changed"
    ROLE = "role_changed"
    MAX_AGE = "max_age"


class SessionEnded(LookupError):
    """The session is unknown, expired or revoked: its tokens are dead."""


class RefreshReused(RuntimeError):
    """A refresh token the session has already rotated away was presented again."""

    def __init__(self, sid: str, username: str) -> None:
        super().__init__(f"refresh token reused in session {sid}")
        self.sid = sid
        self.username = username


@dataclass(frozen=True)
class SessionInfo:
    sid: str
    username: str
    created_at: datetime
    refreshed_at: datetime
    expires_at: datetime
    client: str
    user_agent: str
    revoked_at: datetime | None
    revoked_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()


def _info(row: AuthSession) -> SessionInfo:
    return SessionInfo(**{f.name: getattr(row, f.name) for f in fields(SessionInfo)})


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self, username: str, refresh_jti: str, expires_at: datetime, *, client: str, agent: str
    ) -> str:
        """A new session whose current refresh token is ``refresh_jti``; its ``sid``."""
        sid = uuid.uuid4().hex
        now = utcnow()
        with self.db.transaction() as session:
            session.add(
                AuthSession(
                    sid=sid,
                    username=username,
                    refresh_jti=refresh_jti,
                    created_at=now,
                    refreshed_at=now,
                    expires_at=expires_at,
                    client=client[:64],
                    user_agent=agent[:200],
                )
            )
        self.purge_expired()
        return sid

    def rotate(
        self,
        sid: str,
        presented: str,
        successor: str,
        expires_at: datetime,
        *,
        max_age: timedelta,
    ) -> datetime:
        """Make ``successor`` the session's refresh token if ``presented`` still is; the
        session's new expiry, never later than ``max_age`` after its sign-in (rotation does not
        keep a session alive for ever). Raises :class:`SessionEnded` for a dead or too old
        session and :class:`RefreshReused` when ``presented`` was rotated away before (the
        caller revokes the session)."""
        now = utcnow()
        raise_after: Exception
        with self.db.transaction() as session:
            row = session.get(AuthSession, sid)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise SessionEnded(sid)
            ends = row.created_at + max_age
            if ends <= now:
                row.revoked_at, row.revoked_reason = now, EndReason.MAX_AGE.value
                raise_after = SessionEnded(sid)
            else:
                capped = min(expires_at, ends)
                rotated = (
                    update(AuthSession)
                    .where(
                        AuthSession.sid == sid,
                        AuthSession.refresh_jti == presented,
                        AuthSession.revoked_at.is_(None),
                        AuthSession.expires_at > now,
                    )
                    .values(refresh_jti=successor, refreshed_at=now, expires_at=capped)
                )
                if session.execute(rotated).rowcount == 1:  # type: ignore[attr-defined]
                    return capped
                raise_after = RefreshReused(sid, row.username)
        raise raise_after

    def revoke_user(self, username: str, reason: EndReason) -> int:
        """End every live session of ``username`` in one statement, however many there are;
        how many it ended."""
        now = utcnow()
        ended = (
            update(AuthSession)
            .where(
                AuthSession.username == username,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
            )
            .values(revoked_at=now, revoked_reason=reason.value)
        )
        with self.db.transaction() as session:
            return int(session.execute(ended).rowcount)  # type: ignore[attr-defined]

    def revoke(self, sid: str, reason: EndReason) -> SessionInfo | None:
        """End the session (idempotent: the first reason stays); the session, or None if
        it never existed."""
        now = utcnow()
        with self.db.transaction() as session:
            session.execute(
                update(AuthSession)
                .where(AuthSession.sid == sid, AuthSession.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason.value)
            )
            row = session.get(AuthSession, sid)
            return None if row is None else _info(row)

    def get(self, sid: str) -> SessionInfo | None:
        with self.db.reads() as session:
            row = session.get(AuthSession, sid)
            return None if row is None else _info(row)

    def of_user(self, username: str, *, include_ended: bool = False) -> list[SessionInfo]:
        """The user's sessions, newest first (active ones only unless ``include_ended``)."""
        query = select(AuthSession).where(AuthSession.username == username)
        if not include_ended:
            query = query.where(AuthSession.revoked_at.is_(None), AuthSession.expires_at > utcnow())
        query = query.order_by(AuthSession.created_at.desc()).limit(MAX_LISTED)
        with self.db.reads() as session:
            return [_info(row) for row in session.scalars(query)]

    def purge_expired(self) -> int:
        with self.db.transaction() as session:
            result = session.execute(delete(AuthSession).where(AuthSession.expires_at <= utcnow()))
            return int(getattr(result, "rowcount", 0) or 0)
