"""argon2id password hashing (argon2-cffi) at OWASP's minimum: m = 19 MiB, t = 2, p = 1."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(32))


def burn_verification(password: str) -> None:
    """Spend the time a real verification takes, so an unknown email answers as slowly as a known one."""
    verify_password(_dummy_hash(), password)
