"""The embedded token denylist: revoked JWT ids, revoked subjects and ended sessions in the SQL
database (REDIS_URL unset)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from warehouse.db import Database
from warehouse.models import AuthSession, RevokedSubject, RevokedToken, utcnow

_TOKENS: Final = RevokedToken.__table__
_SUBJECTS: Final = RevokedSubject.__table__
_SESSIONS: Final = AuthSession.__table__
# One round trip answers the three questions a request asks.
_CHECK: Final = select(
    select(_TOKENS.c.expires_at).where(_TOKENS.c.jti == bindparam("jti")).scalar_subquery(),
    select(_SUBJECTS.c.issued_before)
    .where(_SUBJECTS.c.subject == bindparam("subject"))
    .scalar_subquery(),
    select(_SESSIONS.c.revoked_at).where(_SESSIONS.c.sid == bindparam("sid")).scalar_subquery(),
)


class SqlDenylist:
    def __init__(self, db: Database) -> None:
        self.db = db

    def revoke(self, jti: str, expires_at: datetime) -> None:
        """Remember ``jti`` until it would have expired anyway."""
        try:
            with self.db.transaction() as session:
                session.add(RevokedToken(jti=jti, expires_at=expires_at))
        except IntegrityError:
            pass  # already revoked
        self.purge_expired()

    def revoke_subject(self, subject: str, issued_before: datetime, expires_at: datetime) -> None:
        """Revoke every token of ``subject`` issued at or before ``issued_before``; remember it
        until ``expires_at``, when none of them can be valid any more."""
        with self.db.transaction() as session:
            session.merge(
                RevokedSubject(subject=subject, issued_before=issued_before, expires_at=expires_at)
            )
        self.purge_expired()

    def revoke_session(self, sid: str, expires_at: datetime) -> None:
        """Nothing to add: the session's own row (``auth_sessions.revoked_at``, written by
        :class:`warehouse.sessions.SessionStore` first) is what :meth:`is_revoked` reads."""

    def is_revoked(self, jti: str, subject: str, sid: str, issued_at: datetime) -> bool:
        now = utcnow()
        params = {"jti": jti, "subject": subject, "sid": sid}
        token_until, subject_before, session_ended = self.db.read(
            lambda c: c.execute(_CHECK, params).one()
        )
        return (
            (token_until is not None and token_until > now)
            or (subject_before is not None and issued_at <= subject_before)
            or session_ended is not None
        )

    def purge_expired(self) -> int:
        now = utcnow()
        with self.db.transaction() as session:
            tokens = session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
            subjects = session.execute(
                delete(RevokedSubject).where(RevokedSubject.expires_at <= now)
            )
            return sum(int(getattr(r, "rowcount", 0) or 0) for r in (tokens, subjects))

    def ping(self) -> None:
        self.db.ping()
