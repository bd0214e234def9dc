"""Revoked-token storage: Redis when ``REDIS_URL`` is set, else the SQL database.

Three kinds of entry: one token (its ``jti``), one session (its ``sid``: every access and
refresh token of one sign-in — logout, refresh-token reuse, an admin's revoke) and one subject
(every token of a user issued up to a moment: a disabled user). Each request asks about all
three in one round trip, so a token's role and its user's standing need no database lookup per
request.

Redis fails closed: when it cannot be reached, every check raises :class:`DenylistUnavailable`
and protected calls answer 503 with Retry-After (never 200 on a possibly revoked token, never
500); the client reconnects on the next request, so service resumes by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final, Protocol

import redis

from warehouse.db import Database
from warehouse.denylist import SqlDenylist
from warehouse.models import utcnow

KEY_PREFIX: Final = "driftwatch:revoked:"
SUBJECT_PREFIX: Final = "driftwatch:revoked-subject:"
SESSION_PREFIX: Final = "driftwatch:revoked-session:"


class DenylistUnavailable(RuntimeError):
    """The denylist cannot answer; the caller must refuse the request (fail closed)."""


Answer = Callable[[], bool]
"""Whether the token asked about is revoked: read when called (DenylistUnavailable if the
denylist cannot say), so the caller can do its own I/O while the question is in flight."""


class Denylist(Protocol):
    backend: str

    def revoke(self, jti: str, expires_at: datetime) -> None: ...

    def revoke_session(self, sid: str, expires_at: datetime) -> None: ...

    def revoke_subject(
        self, subject: str, issued_before: datetime, expires_at: datetime
    ) -> None: ...

    def is_revoked(self, jti: str, subject: str, sid: str, issued_at: datetime) -> bool: ...

    def ask(self, jti: str, subject: str, sid: str, issued_at: datetime) -> Answer:
        """Send the question now; the returned :data:`Answer` must be called exactly once."""
        ...

    def ping(self) -> None: ...


class RedisDenylist:
    backend = "redis"

    def __init__(self, url: str, timeout: float) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )

    def _set(self, key: str, value: str, expires_at: datetime) -> None:
        # Each entry lives exactly as long as what it revokes could: its remaining lifetime.
        ttl = int((expires_at - utcnow()).total_seconds()) + 1
        if ttl <= 0:
            return
        try:
            self.client.set(key, value, ex=ttl)
        except redis.RedisError as exc:
            raise DenylistUnavailable(f"redis: {exc}") from None

    def revoke(self, jti: str, expires_at: datetime) -> None:
        self._set(KEY_PREFIX + jti, "1", expires_at)

    def revoke_session(self, sid: str, expires_at: datetime) -> None:
        self._set(SESSION_PREFIX + sid, "1", expires_at)

    def revoke_subject(self, subject: str, issued_before: datetime, expires_at: datetime) -> None:
        self._set(SUBJECT_PREFIX + subject, repr(issued_before.timestamp()), expires_at)

    def is_revoked(self, jti: str, subject: str, sid: str, issued_at: datetime) -> bool:
        return self.ask(jti, subject, sid, issued_at)()

    def ask(self, jti: str, subject: str, sid: str, issued_at: datetime) -> Answer:
        """MGET of the token's, the session's and the subject's keys, written to a pooled
        connection now and read back when the answer is called: a safe read overlaps its
        database round trip with this one."""
        pool = self.client.connection_pool
        keys = (KEY_PREFIX + jti, SESSION_PREFIX + sid, SUBJECT_PREFIX + subject)
        try:
            connection = pool.get_connection()
        except (redis.RedisError, OSError) as exc:
            raise DenylistUnavailable(f"redis: {exc}") from None
        try:
            connection.send_command("MGET", *keys)
        except (redis.RedisError, OSError) as exc:
            connection.disconnect()
            pool.release(connection)
            raise DenylistUnavailable(f"redis: {exc}") from None

        def answer() -> bool:
            try:
                token, session, subject_before = connection.read_response()
            except (redis.RedisError, OSError) as exc:
                connection.disconnect()  # a reply may still be on its way: never reuse it
                raise DenylistUnavailable(f"redis: {exc}") from None
            finally:
                pool.release(connection)
            if token is not None or session is not None:
                return True
            return subject_before is not None and issued_at.timestamp() <= float(subject_before)

        return answer

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

    def revoke_session(self, sid: str, expires_at: datetime) -> None:
        self.store.revoke_session(sid, expires_at)

    def revoke_subject(self, subject: str, issued_before: datetime, expires_at: datetime) -> None:
        self.store.revoke_subject(subject, issued_before, expires_at)

    def is_revoked(self, jti: str, subject: str, sid: str, issued_at: datetime) -> bool:
        return self.store.is_revoked(jti, subject, sid, issued_at)

    def ask(self, jti: str, subject: str, sid: str, issued_at: datetime) -> Answer:
        """Answered at once: the question shares the request's database connection."""
        revoked = self.is_revoked(jti, subject, sid, issued_at)
        return lambda: revoked

    def ping(self) -> None:
        self.store.ping()


def make_denylist(redis_url: str | None, db: Database, timeout: float) -> Denylist:
    if redis_url:
        return RedisDenylist(redis_url, timeout)
    return EmbeddedDenylist(db)
