"""The gateway's per-process state and client authentication."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.requests import Request

from teamgate.accounting.service import AccountService
from teamgate.config.keys import KeyRing, digest
from teamgate.config.schema import Settings
from teamgate.core.errors import AuthenticationFailed
from teamgate.providers.base import Provider
from teamgate.providers.http import HttpClients
from teamgate.routing import ModelRouter


@dataclass
class Gateway:
    settings: Settings
    keyring: KeyRing
    router: ModelRouter
    http: HttpClients
    providers: dict[str, Provider]
    models_body: bytes = b""
    model_bodies: dict[str, bytes] = field(default_factory=dict)
    encode: Callable[[Any], bytes] = orjson.dumps
    accounts: AccountService | None = None
    _filtered_models: dict[frozenset[str], bytes] = field(default_factory=dict)

    def models_for(self, allowed: frozenset[str] | None) -> bytes:
        """Return the model list as JSON, limited to `allowed` when a key has a model list.

        Each distinct list is rendered once, because Open WebUI requests it every few seconds.
        """
        if allowed is None:
            return self.models_body
        body = self._filtered_models.get(allowed)
        if body is None:
            data = [
                orjson.loads(item) for name, item in self.model_bodies.items() if name in allowed
            ]
            body = self._filtered_models[allowed] = orjson.dumps({"object": "list", "data": data})
        return body


def bearer_key(request: Request) -> str | None:
    """Return the client's key from `Authorization: Bearer`, `x-api-key` or `x-goog-api-key`."""
    headers = request.headers
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get("x-api-key") or headers.get("x-goog-api-key")


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client's key and where it comes from: the configuration file or the database."""

    value: str
    kind: Literal["admin", "config", "personal"]


async def authenticate(request: Request, gateway: Gateway) -> ClientKey:
    """Check the client's key and return it with its kind; raise AuthenticationFailed otherwise."""
    key = bearer_key(request)
    if key is None:
        scheme = request.headers.get("authorization", "").partition(" ")[0]
        if scheme and scheme.lower() != "bearer":
            raise AuthenticationFailed(
                f"unsupported Authorization scheme {scheme[:20]!r}; "
                "send the key as 'Authorization: Bearer <key>'"
            )
        raise AuthenticationFailed(
            "missing API key; send it as 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    if gateway.keyring.accepts(key):
        admin = hmac.compare_digest(digest(key), gateway.keyring.admin_digest)
        return ClientKey(key, "admin" if admin else "config")
    if gateway.accounts is None:
        raise AuthenticationFailed("invalid API key")
    await gateway.accounts.check_key(key)
    return ClientKey(key, "personal")
