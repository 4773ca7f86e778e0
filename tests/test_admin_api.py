"""The admin REST API under /admin/api, served over loopback with a SQLite database."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.routing import Mount

from teamgate.api.admin.app import ROUTERS
from teamgate.api.app import build_gateway, create_app
from teamgate.config.keys import build_keyring
from teamgate.fake import FakeGemini, RunningServer
from tests.support import ADMIN_KEY, gateway_settings, serve_in_thread

MESSAGES: Any = [{"role": "user", "content": "Hi"}]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Admin:
    url: str
    app: Starlette
    admin_api: FastAPI

    def call(
        self,
        method: str,
        path: str,
        key: str | None = ADMIN_KEY,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request to /admin/api with the stdlib client, so any Host header can be set."""
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        sent = dict(headers or {})
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            connection.request(method, f"/admin/api{path}", body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        parsed = json.loads(raw) if raw else None
        return Reply(response.status, parsed, {k.lower(): v for k, v in response.getheaders()})

    def ok(self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Any:
        reply = self.call(method, path, key, body)
        assert reply.status in (200, 201), reply.body
        return reply.body

    def new_user(self, name: str, role: str = "member", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.ok("POST", "/users", {"name": name, "role": role, **fields})
        return body

    def new_key(self, user_id: int, **fields: Any) -> tuple[str, dict[str, Any]]:
        created = self.ok("POST", "/keys", {"user_id": user_id, **fields})
        return created["key"], created


@pytest.fixture(scope="module")
def admin(fake_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    data_dir = tmp_path_factory.mktemp("admin")
    settings = gateway_settings(fake_server.base_url)
    gateway = build_gateway(settings, build_keyring(settings, data_dir))
    app = create_app(gateway, accounting=(settings.accounting, data_dir))
    mount = next(
        route for route in app.routes if isinstance(route, Mount) and route.path == "/admin/api"
    )
    assert isinstance(mount.app, FastAPI)
    with serve_in_thread(app) as url:
        yield Admin(url, app, mount.app)


@pytest.fixture(scope="module")
def member_key(admin: Admin) -> str:
    user = admin.new_user("member-mia")
    key, _ = admin.new_key(user["id"])
    return key


@pytest.fixture(scope="module")
def admin_key(admin: Admin) -> tuple[str, dict[str, Any]]:
    user = admin.new_user("admin-ada", role="admin")
    key, _ = admin.new_key(user["id"])
    return key, user


def chat_client(admin: Admin, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{admin.url}/v1", api_key=key, max_retries=0)


def admin_routes(app: FastAPI) -> list[APIRoute]:
    """Return the app's own routes and those of its routers (FastAPI wraps included routers)."""
    routes = [route for router in ROUTERS for route in router.routes]
    routes += app.routes
    return [route for route in routes if isinstance(route, APIRoute)]


def concrete_paths(app: FastAPI) -> list[tuple[str, str]]:
    """List (method, path) for every route, with each path parameter set to 1."""
    pairs = []
    for route in admin_routes(app):
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        pairs += [(method, path) for method in sorted(route.methods or ())]
    return pairs


def test_auth_matrix(admin: Admin, member_key: str, admin_key: tuple[str, Any]) -> None:
    revoked_user = admin.new_user("admin-revoked", role="admin")
    revoked, created = admin.new_key(revoked_user["id"])
    admin.ok("POST", f"/keys/{created['id']}/revoke")
    expired_user = admin.new_user("admin-expired", role="admin")
    expired, created = admin.new_key(expired_user["id"])
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    admin.ok("PATCH", f"/keys/{created['id']}", {"expires_at": past})

    cases = [
        (None, 401, "missing_api_key"),
        ("sk-tg-not-a-real-key-0123456789", 401, "invalid_api_key"),
        (revoked, 401, "invalid_api_key"),
        (expired, 401, "invalid_api_key"),
        (member_key, 403, "admin_required"),
        (admin_key[0], 200, None),
        (ADMIN_KEY, 200, None),
    ]
    for key, status, code in cases:
        reply = admin.call("GET", "/groups", key)
        assert reply.status == status, (key, reply.body)
        if code is not None:
            assert reply.body["error"]["code"] == code
            assert set(reply.body["error"]) >= {"message", "type", "code"}


def test_x_api_key_header(admin: Admin, admin_key: tuple[str, Any]) -> None:
    reply = admin.call("GET", "/me", None, headers={"x-api-key": admin_key[0]})
    assert reply.status == 200
    assert reply.body["kind"] == "personal_key"
    assert reply.body["user"]["name"] == "admin-ada"


def test_me_for_config_key(admin: Admin) -> None:
    body = admin.ok("GET", "/me")
    assert body == {"kind": "config_admin_key", "user": None, "key_id": None, "key_prefix": None}


def test_host_header_does_not_change_auth(admin: Admin, member_key: str) -> None:
    hosts = ["evil.example", "127.0.0.1", "localhost:1", "admin.internal/admin/api", "a" * 300]
    for host in hosts:
        headers = {"Host": host}
        assert admin.call("GET", "/me", None, headers=headers).status == 401
        assert admin.call("GET", "/me", member_key, headers=headers).status == 403
        assert admin.call("GET", "/me", ADMIN_KEY, headers=headers).status == 200


def test_trailing_slash_is_404_not_redirect(admin: Admin) -> None:
    reply = admin.call("GET", "/groups/", headers={"Host": "evil.example"})
    assert reply.status == 404
    assert "location" not in reply.headers


def test_member_gets_403_on_every_route(admin: Admin, member_key: str) -> None:
    pairs = concrete_paths(admin.admin_api)
    assert len(pairs) >= 18
    for method, path in pairs:
        reply = admin.call(
            method, path, member_key, body={} if method in ("POST", "PATCH") else None
        )
        assert reply.status == 403, (method, path, reply.body)


def test_no_key_gets_401_on_every_route(admin: Admin) -> None:
    for method, path in concrete_paths(admin.admin_api):
        assert admin.call(method, path, None).status == 401, (method, path)


def test_openapi_lists_every_route(admin: Admin, member_key: str) -> None:
    schema = admin.ok("GET", "/openapi.json")
    listed = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    routes = {
        (method, route.path)
        for route in admin_routes(admin.admin_api)
        if route.include_in_schema
        for method in route.methods or ()
    }
    assert routes == listed
    assert len(routes) == 20
    assert schema["servers"] == [{"url": "/admin/api"}]
    assert admin.call("GET", "/openapi.json", member_key).status == 403
    assert admin.call("GET", "/docs").status == 404


def test_group_user_key_round_trip(admin: Admin, fake: FakeGemini) -> None:
    group = admin.ok(
        "POST",
        "/groups",
        {"name": "research", "price_multiplier": "1.5", "budget_usd": "12.50", "rpm": 60},
    )
    assert group["price_multiplier"] == "1.5"
    assert group["budget_usd"] == "12.50"
    assert admin.ok("GET", f"/groups/{group['id']}")["rpm"] == 60
    user = admin.new_user(
        "ren", group_id=group["id"], email="ren@example.com", password="s3cret-pass"
    )
    assert user["group_id"] == group["id"]
    assert user["has_password"] is True
    assert not {"password", "password_hash"} & set(user)

    plaintext, created = admin.new_key(
        user["id"], name="laptop", allowed_models=["gemini-2.5-flash"]
    )
    assert plaintext.startswith(created["prefix"])
    assert len(created["prefix"]) < len(plaintext)

    reply = chat_client(admin, plaintext).chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES
    )
    assert reply.choices[0].message.content

    listing = admin.call("GET", f"/keys?user_id={user['id']}")
    assert listing.status == 200
    assert [key["prefix"] for key in listing.body] == [created["prefix"]]
    text = json.dumps(listing.body)
    assert plaintext not in text
    assert "key_hash" not in text
    assert "key" not in listing.body[0]


def test_patch_budget_then_chat_is_429(admin: Admin, fake: FakeGemini) -> None:
    user = admin.new_user("budget-bea")
    key, created = admin.new_key(user["id"])
    client = chat_client(admin, key)
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)

    patched = admin.ok(
        "PATCH", f"/keys/{created['id']}", {"budget_usd": "0.000002", "budget_period": "daily"}
    )
    assert patched["budget_usd"] == "0.000002"
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert caught.value.code == "insufficient_quota"

    cleared = admin.ok("PATCH", f"/keys/{created['id']}", {"budget_usd": None})
    assert cleared["budget_usd"] is None


def test_revoke_then_chat_is_401(admin: Admin, fake: FakeGemini) -> None:
    user = admin.new_user("revoked-rob")
    key, created = admin.new_key(user["id"])
    client = chat_client(admin, key)
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)

    revoked = admin.ok("POST", f"/keys/{created['id']}/revoke")
    assert revoked["status"] == "revoked"
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert "revoked" in caught.value.message
    reply = admin.call("PATCH", f"/keys/{created['id']}", body={"enabled": True})
    assert reply.status == 409


def test_disable_key_and_user(admin: Admin, fake: FakeGemini) -> None:
    user = admin.new_user("paused-pat")
    key, created = admin.new_key(user["id"])
    client = chat_client(admin, key)
    admin.ok("PATCH", f"/keys/{created['id']}", {"enabled": False})
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    admin.ok("PATCH", f"/keys/{created['id']}", {"enabled": True})
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)

    assert admin.ok("POST", f"/users/{user['id']}/disable")["status"] == "disabled"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)


def test_own_role_change_is_403(admin: Admin, admin_key: tuple[str, dict[str, Any]]) -> None:
    key, user = admin_key
    reply = admin.call("PATCH", f"/users/{user['id']}", key, {"role": "member"})
    assert reply.status == 403
    assert reply.body["error"]["code"] == "own_role"
    assert admin.ok("GET", f"/users/{user['id']}")["role"] == "admin"
    same = admin.call("PATCH", f"/users/{user['id']}", key, {"role": "admin", "rpm": 30})
    assert same.status == 200
    other = admin.new_user("promoted-pia")
    assert admin.ok("PATCH", f"/users/{other['id']}", {"role": "admin"}, key=key)["role"] == "admin"


def test_unknown_field_is_422(admin: Admin) -> None:
    reply = admin.call("POST", "/groups", body={"name": "extra", "is_admin": True})
    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_error"
    assert "is_admin" in reply.body["error"]["message"]
    assert admin.call("PATCH", "/users/1", body={"password_hash": "x"}).status == 422


def test_invalid_values_are_422(admin: Admin) -> None:
    cases = [
        ("POST", "/groups", {"name": "bad-money", "budget_usd": "12.5.0"}, "budget_usd"),
        ("POST", "/groups", {"name": "float-money", "budget_usd": 12.5}, "budget_usd"),
        ("POST", "/groups", {"name": "tiny", "budget_usd": "0.0000001"}, "6 decimal places"),
        ("POST", "/groups", {"name": "neg", "price_multiplier": "-1"}, "price_multiplier"),
        ("POST", "/users", {"name": "bad-mail", "email": "nope"}, "email"),
        ("POST", "/users", {"name": "bad-role", "role": "owner"}, "role"),
        ("PATCH", "/users/1", {"role": None}, "role cannot be null"),
        ("POST", "/keys", {"user_id": 1, "expires_at": "2020-01-01T00:00:00Z"}, "in the past"),
        ("POST", "/keys", {"user_id": 1, "expires_at": "2030-01-01T00:00:00"}, "timezone"),
    ]
    for method, path, body, expected in cases:
        reply = admin.call(method, path, body=body)
        assert reply.status == 422, (body, reply.body)
        assert expected in reply.body["error"]["message"], reply.body


def test_missing_rows_are_404_and_duplicates_409(admin: Admin) -> None:
    for path in ("/groups/99999", "/users/99999", "/credits/99999/forecast"):
        reply = admin.call("GET", path)
        assert reply.status == 404, path
        assert reply.body["error"]["code"] == "not_found"
    assert admin.call("POST", "/keys", body={"user_id": 99999}).status == 404
    admin.new_user("twin")
    assert admin.call("POST", "/users", body={"name": "twin"}).status == 409


def wait_for_records(admin: Admin, query: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        records: list[dict[str, Any]] = admin.ok("GET", f"/usage/records?{query}")["records"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def test_usage_summary_and_records(admin: Admin, fake: FakeGemini) -> None:
    user = admin.new_user("usage-uma")
    key, created = admin.new_key(user["id"])
    client = chat_client(admin, key)
    for _ in range(3):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)

    records = wait_for_records(admin, f"user_id={user['id']}", 3)
    assert len(records) == 3
    times = [record["created_at"] for record in records]
    assert times == sorted(times, reverse=True)
    assert {record["api_key_id"] for record in records} == {created["id"]}
    assert all(record["http_status"] == 200 for record in records)
    assert all(re.fullmatch(r"\d+\.\d{6}", record["cost_usd"]) for record in records)
    page = admin.ok("GET", f"/usage/records?user_id={user['id']}&limit=2&offset=2")
    assert [record["request_id"] for record in page["records"]] == [records[2]["request_id"]]
    assert admin.call("GET", "/usage/records?limit=1001").status == 422

    by_user = admin.ok("GET", "/usage?by=user")
    row = next(row for row in by_user["rows"] if row["key"] == user["id"])
    assert row["requests"] == 3
    assert row["cost_usd"] != "0.000000"
    today = datetime.now(UTC).date().isoformat()
    by_day = admin.ok("GET", f"/usage?by=day&since={today}&until={today}")
    assert today in [row["key"] for row in by_day["rows"]]
    by_model = admin.ok("GET", "/usage?by=model")
    assert "gemini-2.5-flash" in [row["key"] for row in by_model["rows"]]
    assert admin.call("GET", "/usage?since=2025-02-02&until=2025-01-01").status == 422


def test_credit_forecast(admin: Admin, fake: FakeGemini) -> None:
    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    credit = admin.ok(
        "POST",
        "/credits",
        {"name": "trial", "credit_usd": "300", "starts_at": start, "credential_ids": ["fake-1"]},
    )
    assert credit["credit_usd"] == "300.00"
    assert [item["name"] for item in admin.ok("GET", "/credits")] == ["trial"]
    user = admin.new_user("credit-cal")
    key, _ = admin.new_key(user["id"])
    chat_client(admin, key).chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    wait_for_records(admin, f"user_id={user['id']}", 1)

    forecast = admin.ok("GET", f"/credits/{credit['id']}/forecast")
    assert forecast["credit_usd"] == "300.000000"
    assert forecast["spent_usd"] != "0.000000"
    assert forecast["runs_out_at"] is not None
    assert forecast["expires_first"] is False


def test_end_users_of_trusted_app(admin: Admin, fake: FakeGemini) -> None:
    owner = admin.new_user("webui-owner")
    key, created = admin.new_key(owner["id"], trusted_app=True)
    assert created["trusted_app"] is True
    client = openai.OpenAI(
        base_url=f"{admin.url}/v1",
        api_key=key,
        max_retries=0,
        default_headers={"X-OpenWebUI-User-Id": "u-42", "X-OpenWebUI-User-Email": "li@example.com"},
    )
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    people = admin.ok("GET", f"/end-users?app_owner_user_id={owner['id']}")
    assert [(person["external_id"], person["email"]) for person in people] == [
        ("u-42", "li@example.com")
    ]
    assert admin.call("GET", "/end-users").status == 422


def test_group_patch_applies_to_members(admin: Admin, fake: FakeGemini) -> None:
    group = admin.ok("POST", "/groups", {"name": "limited"})
    user = admin.new_user("grouped-gus", group_id=group["id"])
    key, _ = admin.new_key(user["id"])
    client = chat_client(admin, key)
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)

    admin.ok("PATCH", f"/groups/{group['id']}", {"allowed_models": ["gemini-2.5-pro"]})
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)


def test_restricted_admin_key_cannot_manage(admin: Admin) -> None:
    user = admin.new_user("admin-restricted", role="admin")
    key, _ = admin.new_key(user["id"], allowed_models=["gemini-2.5-flash-lite"], rpm=1)
    reply = admin.call("POST", "/keys", key, {"user_id": user["id"]})
    assert reply.status == 403
    assert reply.body["error"]["code"] == "restricted_key"
