from datetime import timedelta

import pytest
from sqlalchemy import select

from warehouse.denylist import SqlDenylist
from warehouse.models import RevokedSubject, utcnow
from warehouse.sessions import EndReason, SessionStore
from warehouse.users import Role, UserExists, UserNotFound, UserStore


def test_users(database):
    users = UserStore(database)
    users.create("alice", "hash", Role.RESPONDER)
    with pytest.raises(UserExists):
        users.create("alice", "other", Role.ADMIN)
    assert users.get("alice").role == "responder"
    assert users.get("nobody") is None
    users.set_active("alice", False)
    assert users.get("alice").active is False
    with pytest.raises(UserNotFound):
        users.set_active("nobody", False)
    assert [u.username for u in users.list()] == ["alice"]


def test_roles_nest():
    assert Role.ADMIN.allows(Role.RESPONDER) and Role.ADMIN.allows(Role.VIEWER)
    assert Role.RESPONDER.allows(Role.VIEWER) and not Role.RESPONDER.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.RESPONDER)


def test_sql_denylist_remembers_until_expiry(database):
    denylist = SqlDenylist(database)
    now = utcnow()
    denylist.revoke("live", now + timedelta(minutes=5))
    denylist.revoke("live", now + timedelta(minutes=5))  # twice is fine
    denylist.revoke("dead", now - timedelta(seconds=1))
    assert denylist.is_revoked("live", "ann", "no-session", now)
    assert not denylist.is_revoked("dead", "ann", "no-session", now)
    assert not denylist.is_revoked("never", "ann", "no-session", now)
    denylist.ping()


def test_sql_denylist_revokes_a_subjects_tokens_issued_until_then(database):
    denylist = SqlDenylist(database)
    at = utcnow()
    denylist.revoke_subject("ann", at, at + timedelta(days=7))
    denylist.revoke_subject("ann", at, at + timedelta(days=7))  # again: one entry, no error
    assert denylist.is_revoked("j1", "ann", "no-session", at - timedelta(minutes=5))
    assert denylist.is_revoked("j2", "ann", "no-session", at)  # issued in the same instant: revoked
    assert not denylist.is_revoked("j3", "ann", "no-session", at + timedelta(seconds=1))
    before = at - timedelta(minutes=5)
    assert not denylist.is_revoked("j1", "bob", "no-session", before)  # only ann's
    denylist.revoke_subject("old", at - timedelta(days=8), at - timedelta(days=1))
    with database.reads() as session:  # each write purges what expired: "old" is gone
        assert session.scalars(select(RevokedSubject.subject)).all() == ["ann"]
    assert denylist.is_revoked("j1", "ann", "no-session", at - timedelta(minutes=5))


def test_sql_denylist_refuses_the_tokens_of_an_ended_session(database):
    sessions, denylist = SessionStore(database), SqlDenylist(database)
    now = utcnow()
    sid = sessions.start("ann", "r1", now + timedelta(days=7), client="10.0.0.1", agent="t")
    assert not denylist.is_revoked("a1", "ann", sid, now)
    sessions.revoke(sid, EndReason.LOGOUT)
    denylist.revoke_session(sid, now + timedelta(days=7))
    assert denylist.is_revoked("a1", "ann", sid, now)
    assert not denylist.is_revoked("a1", "ann", "another-session", now)
