"""Password hashing: bcrypt at cost 12 over a SHA-256 pre-hash.

bcrypt reads at most 72 bytes (bcrypt 5 raises beyond that), and 128 multibyte characters can
be 512 bytes; hashing base64(SHA-256(password)) first (the ``bcrypt_sha256`` scheme) gives
every accepted password its full strength. Unknown users are checked against a dummy hash, so
a login costs the same whether or not the name exists.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Final

import bcrypt

ROUNDS: Final = 12
MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 128


class WeakPassword(ValueError):
    pass


def check_policy(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"password must be {MIN_LENGTH} to {MAX_LENGTH} characters")


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str) -> str:
    check_policy(password)
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(ROUNDS)).decode()


@functools.cache
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(_prehash("not a real password"), bcrypt.gensalt(ROUNDS))


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Constant work whether or not a user (``stored_hash``) exists."""
    candidate = _prehash(password[: MAX_LENGTH * 4])
    if stored_hash is None:
        bcrypt.checkpw(candidate, _dummy_hash())
        return False
    try:
        return bcrypt.checkpw(candidate, stored_hash.encode())
    except ValueError:  # a corrupt stored hash is a failed login, not a 500
        return False
