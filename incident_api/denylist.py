"""Revoked-token storage: Redis when ``REDIS_URL`` is set, else the SQL database.

Redis fails closed: when it cannot be reached, every check raises :class:`DenylistUnavailable`
and protected calls answer 503 with Retry-After (never 200 on a possibly revoked token, never
500); the client reconnects on the next request, so service resumes by itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

import redis

from warehouse.db import Database
from warehouse.denylist import SqlDenylist
from warehouse.models import utcnow

KEY_PREFIX: Final = "driftwatch:revoked:"


class DenylistUnavailable(RuntimeError):
    """The denylist cannot answer; the caller must refuse the request (fail closed)."""


class Denylist(Protocol):
    backend: str

    def revoke(self, jti: str, expires_at: datetime) -> None: ...

    def is_revoked(self, jti: str) -> bool: ...

    def ping(self) -> None: ...


class RedisDenylist:
    backend = "redis"

    def __init__(self, url: str, timeout: float) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )

    def revoke(self, jti: str, expires_at: datetime) -> None:
        # Each JTI lives exactly as long as the token would have: its own remaining lifetime.
        ttl = int((expires_at - utcnow()).total_seconds()) + 1
        if ttl <= 0:
            return
        try:
            self.client.set(KEY_PREFIX + jti, b"1", ex=ttl)
        except redis.RedisError as exc:
            raise DenylistUnavailable(f"redis: {exc}") from None

    def is_revoked(self, jti: str) -> bool:
        try:
            return bool(self.client.exists(KEY_PREFIX + jti))
        except redis.RedisError as exc:
            raise DenylistUnavailable(f"redis: {exc}") from None

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise DenylistUnavailable(f"redis: {exc}") from None


class EmbeddedDenylist:
    """The SQL denylist, with database errors reported the same way as Redis's."""

    backend = "database"

    def __init__(self, db: Database) -> None:
        self.store = SqlDenylist(db)

    def revoke(self, jti: str, expires_at: datetime) -> None:
        self.store.revoke(jti, expires_at)

    def is_revoked(self, jti: str) -> bool:
        return self.store.is_revoked(jti)

    def ping(self) -> None:
        self.store.ping()


def make_denylist(redis_url: str | None, db: Database, timeout: float) -> Denylist:
    if redis_url:
        return RedisDenylist(redis_url, timeout)
    return EmbeddedDenylist(db)
