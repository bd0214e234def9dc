"""Sign-in sessions: atomic rotation, reuse detection, revocation (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from warehouse.models import utcnow
from warehouse.sessions import EndReason, RefreshReused, SessionEnded, SessionStore

WEEK = timedelta(days=7)
MONTH = timedelta(days=30)


def _start(store: SessionStore, user: str = "ann", jti: str = "r1") -> str:
    return store.start(user, jti, utcnow() + WEEK, client="10.0.0.1", agent="curl/8")


def test_rotation_moves_the_session_to_the_new_token(database):
    store = SessionStore(database)
    sid = _start(store)
    store.rotate(sid, "r1", "r2", utcnow() + WEEK, max_age=MONTH)
    store.rotate(sid, "r2", "r3", utcnow() + WEEK, max_age=MONTH)
    info = store.get(sid)
    assert info is not None and info.active and info.refreshed_at >= info.created_at


def test_presenting_a_rotated_token_is_reuse(database):
    store = SessionStore(database)
    sid = _start(store)
    store.rotate(sid, "r1", "r2", utcnow() + WEEK, max_age=MONTH)
    with pytest.raises(RefreshReused) as reused:
        store.rotate(sid, "r1", "r9", utcnow() + WEEK, max_age=MONTH)
    assert (reused.value.sid, reused.value.username) == (sid, "ann")
    store.rotate(
        sid, "r2", "r3", utcnow() + WEEK, max_age=MONTH
    )  # the store only reports; the caller revokes


def test_an_ended_or_unknown_session_cannot_rotate(database):
    store = SessionStore(database)
    sid = _start(store)
    ended = store.revoke(sid, EndReason.REUSE)
    assert ended is not None and ended.revoked_reason == "refresh_reuse" and not ended.active
    again = store.revoke(sid, EndReason.LOGOUT)  # idempotent: the first reason stays
    assert again is not None and again.revoked_reason == "refresh_reuse"
    for presented in ("r1", "r0"):
        with pytest.raises(SessionEnded):
            store.rotate(sid, presented, "r2", utcnow() + WEEK, max_age=MONTH)
    with pytest.raises(SessionEnded):
        store.rotate("no-such-session", "r1", "r2", utcnow() + WEEK, max_age=MONTH)
    assert store.revoke("no-such-session", EndReason.ADMIN) is None


def test_of_concurrent_rotations_with_one_token_exactly_one_wins(database):
    store = SessionStore(database)
    sid = _start(store)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refresh(n: int) -> None:
        barrier.wait()
        try:
            store.rotate(sid, "r1", f"next-{n}", utcnow() + WEEK, max_age=MONTH)
            outcomes.append("rotated")
        except RefreshReused:
            outcomes.append("reused")

    threads = [threading.Thread(target=refresh, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["reused"] * 7 + ["rotated"]


def test_listing_shows_a_users_live_sessions_newest_first(database):
    store = SessionStore(database)
    first, second = _start(store), _start(store, jti="r5")
    _start(store, user="bob")
    store.revoke(first, EndReason.LOGOUT)
    assert [s.sid for s in store.of_user("ann")] == [second]
    everything = store.of_user("ann", include_ended=True)
    assert {s.sid for s in everything} == {first, second}
    expired = store.start("ann", "r7", utcnow() - timedelta(seconds=1), client="", agent="")
    assert expired not in {s.sid for s in store.of_user("ann")}
    store.purge_expired()
    assert store.get(expired) is None
