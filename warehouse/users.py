"""Users: who may sign in, with which role. Password hashing is the API's concern; this stores
the hash it is given."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from warehouse.db import Database
from warehouse.models import User, utcnow


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Roles nest: admin ⊇ responder ⊇ viewer."""
        order = [Role.VIEWER, Role.RESPONDER, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class UserExists(ValueError):
    pass


class UserNotFound(LookupError):
    pass


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, username: str, password_hash: str, role: Role) -> User:
        user = User(
            username=username,
            password_hash=password_hash,
            role=Role(role).value,
            active=True,
            created_at=utcnow(),
        )
        try:
            with self.db.transaction() as session:
                session.add(user)
        except IntegrityError:
            raise UserExists(f"user {username!r} already exists") from None
        return user

    def get(self, username: str) -> User | None:
        with self.db.reads() as session:
            return session.scalars(select(User).where(User.username == username)).first()

    def list(self) -> list[User]:
        with self.db.reads() as session:
            return list(session.scalars(select(User).order_by(User.username)))

    def _change(self, username: str, **values: object) -> User:
        with self.db.transaction() as session:
            user = session.scalars(select(User).where(User.username == username)).first()
            if user is None:
                raise UserNotFound(f"no user {username!r}")
            for name, value in values.items():
                setattr(user, name, value)
            return user

    def set_active(self, username: str, active: bool) -> User:
        return self._change(username, active=active)

    def set_password(self, username: str, password_hash: str) -> User:
        return self._change(username, password_hash=password_hash)

    def set_role(self, username: str, role: Role) -> User:
        return self._change(username, role=Role(role).value)
