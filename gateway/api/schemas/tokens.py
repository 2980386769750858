"""The OAuth 2.0 token endpoint, key set and metadata documents (RFC 6749, RFC 7517, RFC 8414)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TokenResponse(BaseModel):
    """RFC 6749 §5.1: a bearer JWT access token (RFC 9068) and what it grants."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthErrorResponse(BaseModel):
    """RFC 6749 §5.2: the token endpoint's errors keep OAuth's shape, which OAuth clients parse."""

    error: str
    error_description: str | None = None
    error_uri: str | None = None


class JwkSetResponse(BaseModel):
    """The public keys access tokens are verified with, current first (RFC 7517)."""

    keys: list[dict[str, Any]]


class AuthorizationServerMetadataResponse(BaseModel):
    """Where the token endpoint and keys are, and what the server supports (RFC 8414)."""

    model_config = ConfigDict(extra="allow")

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    response_types_supported: list[str]
