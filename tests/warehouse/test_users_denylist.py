from datetime import timedelta

import pytest

from warehouse.denylist import SqlDenylist
from warehouse.models import utcnow
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
    denylist.revoke("live", utcnow() + timedelta(minutes=5))
    denylist.revoke("live", utcnow() + timedelta(minutes=5))  # twice is fine
    denylist.revoke("dead", utcnow() - timedelta(seconds=1))
    assert denylist.is_revoked("live")
    assert not denylist.is_revoked("dead")
    assert not denylist.is_revoked("never")
    denylist.ping()
