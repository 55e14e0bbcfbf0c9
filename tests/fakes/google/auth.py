"""The fake's OAuth: service-account keys made by the test, the JWT grant, expiring bearer tokens.

google-auth signs its JWT for the audience https://oauth2.googleapis.com/token whatever the
key's token_uri says, so that is the audience checked here; the JWT's own times are checked
against the real clock (google-auth stamps them from it), the tokens' expiry against the fake's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@cache
def _private_key() -> rsa.RSAPrivateKey:
    """One RSA key per test process: generating one takes a while."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(
    email: str, token_uri: str, *, project: str = "roadmap-test", forged: bool = False
) -> dict[str, Any]:
    """A key file's contents, as Google Cloud gives them; `forged` signs with a key the fake
    does not know (its public half is not the account's)."""
    key = _other_key() if forged else _private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(int.from_bytes(secrets.token_bytes(8), "big")),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }


def public_key() -> rsa.RSAPublicKey:
    return _private_key().public_key()


class GrantError(Exception):
    """An OAuth error answer: {"error": ..., "error_description": ...} with status 400."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(assertion: str, accounts: dict[str, rsa.RSAPublicKey]) -> dict[str, Any]:
    """Check a service account's JWT (RS256, signature, issuer, audience, times); its claims."""
    try:
        header_b64, payload_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64(header_b64))
        claims = json.loads(_b64(payload_b64))
        signature = _b64(signature_b64)
    except (ValueError, json.JSONDecodeError):
        raise GrantError("invalid_grant", "Invalid JWT: malformed assertion.") from None
    if header.get("alg") != "RS256":
        raise GrantError("invalid_grant", "Invalid JWT: unsupported algorithm.")
    key = accounts.get(str(claims.get("iss", "")))
    if key is None:
        raise GrantError("invalid_grant", "Invalid grant: account not found")
    try:
        key.verify(
            signature,
            f"{header_b64}.{payload_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise GrantError("invalid_grant", "Invalid JWT Signature.") from None
    if claims.get("aud") != GOOGLE_AUDIENCE:
        raise GrantError("invalid_grant", "Invalid JWT: audience must be the token endpoint.")
    now = time.time()
    iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
    if not (iat - 300 <= now < exp and exp - iat <= 3600):
        raise GrantError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable"
            " timeframe. Check your iat and exp values in the JWT claim.",
        )
    if not str(claims.get("scope", "")).strip():
        raise GrantError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return claims


@dataclass
class Token:
    email: str
    scopes: frozenset[str]
    expires: float  # fake-clock seconds
    client: str = ""  # the OAuth client a person's token was issued to ("" for a service account)


# --- a person signing in: OAuth 2.0 for installed apps -------------------------------------

CODE_GRANT = "authorization_code"
REFRESH_GRANT = "refresh_token"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"
REVOKED = "Token has been expired or revoked."


@dataclass
class OAuthClient:
    """A "Desktop app" OAuth client of a Cloud project (what client_secret_*.json describes)."""

    client_id: str
    secret: str


@dataclass
class AuthCode:
    """An authorization code handed to the loopback redirect, good once for ten minutes."""

    client_id: str
    email: str
    scopes: frozenset[str]
    redirect_uri: str
    challenge: str
    method: str
    expires: float


@dataclass
class Refresh:
    """A refresh token: lives until revoked (or the password changes)."""

    client_id: str
    email: str
    scopes: frozenset[str]
    revoked: bool = False


def client_secret_json(client: OAuthClient, base_url: str) -> dict[str, Any]:
    """The client secret file Google Cloud gives for a Desktop app, pointing at this fake."""
    return {
        "installed": {
            "client_id": client.client_id,
            "project_id": "roadmap-test",
            "auth_uri": f"{base_url}/o/oauth2/auth",
            "token_uri": f"{base_url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": client.secret,
            "redirect_uris": ["http://localhost"],
        }
    }


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636: the code_verifier sent to the token endpoint matches the code_challenge."""
    if not challenge:
        return True  # Google accepts a flow without PKCE
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    return verifier == challenge


def new_code() -> str:
    return "4/0Afake-" + secrets.token_urlsafe(24)


def new_refresh() -> str:
    return "1//0fake-" + secrets.token_urlsafe(32)


def new_client() -> OAuthClient:
    return OAuthClient(
        f"{secrets.randbelow(10**12):012d}-fake.apps.googleusercontent.com",
        "GOCSPX-" + secrets.token_urlsafe(21),
    )


def new_token() -> str:
    return "ya29.fake-" + secrets.token_urlsafe(32)
