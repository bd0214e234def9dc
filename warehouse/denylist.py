"""The embedded token denylist: revoked JWT ids in the SQL database (REDIS_URL unset)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from warehouse.db import Database
from warehouse.models import RevokedToken, utcnow


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

    def is_revoked(self, jti: str) -> bool:
        with self.db.reads() as session:
            found = session.scalar(select(RevokedToken.expires_at).where(RevokedToken.jti == jti))
        return found is not None and found > utcnow()

    def purge_expired(self) -> int:
        with self.db.transaction() as session:
            result = session.execute(
                delete(RevokedToken).where(RevokedToken.expires_at <= utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def ping(self) -> None:
        self.db.ping()
