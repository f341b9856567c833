"""Access tokens: HS256 JWTs from PyJWT, algorithm pinned at decode, every claim required."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

import jwt

from payments_core.config import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss", "jti"]
MIN_KEY_BYTES = 32  # RFC 8725 / OWASP: at least 256 bits for HMAC keys


class InvalidToken(Exception):
    pass


def _checked_key(key: str) -> bytes:
    raw = key.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError("JWT signing key must be at least 256 bits")
    return raw


def issue_token(user_id: str, *, key: str, settings: Settings, issued_at: datetime) -> str:
    claims = {
        "sub": user_id,
        "iat": issued_at,
        "exp": issued_at + timedelta(seconds=settings.jwt_ttl_seconds),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, _checked_key(key), algorithm=ALGORITHM)


class Verified(NamedTuple):  # not a frozen dataclass: cheaper to create in init
    user_id: str
    expires_at: int  # the token's ``exp`` (epoch seconds)


def verify_token(token: str, *, key: str, settings: Settings) -> Verified:
    """The token's subject and expiry; raises ``InvalidToken`` for anything but a valid, current token
    of ours."""
    try:
        claims = jwt.decode(
            token,
            _checked_key(key),
            algorithms=[ALGORITHM],  # pinned: the header's "alg" is never trusted
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(type(error).__name__) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("sub")
    return Verified(subject, int(claims["exp"]))
