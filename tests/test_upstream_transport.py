"""How the gateway reaches Gemini: base URL prefixes, proxies, timeouts and refused connections."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from teamgate.api.app import build_gateway, create_app
from teamgate.config.keys import build_keyring
from teamgate.config.loader import validate_settings
from teamgate.fake import FakeGemini, Reply, resource_exhausted
from tests.support import ADMIN_KEY, UPSTREAM_KEY, serve_in_thread

MESSAGES: Any = [{"role": "user", "content": "Hi"}]


@contextmanager
def gateway_for(credential: dict[str, Any], data_dir: Path) -> Iterator[openai.OpenAI]:
    raw = {
        "admin_key": ADMIN_KEY,
        "credentials": [{"id": "c1", "api_key": UPSTREAM_KEY, **credential}],
        "models": [{"name": "gemini-2.5-flash", "upstream_model": "gemini-2.5-flash"}],
    }
    settings = validate_settings(raw, {}, source="test", resolve_secrets=False)
    gateway = build_gateway(settings, build_keyring(settings, data_dir))
    with serve_in_thread(create_app(gateway)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=ADMIN_KEY, max_retries=0)


def test_base_url_with_path_prefix(fake: FakeGemini, tmp_path: Path) -> None:
    # A reverse proxy that serves Google's API under /google.
    proxy_app = Starlette(routes=[Mount("/google", app=fake.app)])
    with (
        serve_in_thread(proxy_app) as upstream,
        gateway_for({"base_url": f"{upstream}/google/"}, tmp_path) as client,
    ):
        result = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert result.choices[0].message.content
    assert fake.requests[-1].path.endswith("/v1beta/models/gemini-2.5-flash:generateContent")


def test_read_timeout_is_504(fake: FakeGemini, fake_server: Any, tmp_path: Path) -> None:
    fake.enqueue(Reply(delay_before=3.0))
    credential = {"base_url": fake_server.base_url, "timeouts": {"connect": 2, "read": 0.5}}
    with (
        gateway_for(credential, tmp_path) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert caught.value.status_code == 504


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_refused_connection_is_502(tmp_path: Path) -> None:
    credential = {"base_url": f"http://127.0.0.1:{closed_port()}"}
    with gateway_for(credential, tmp_path) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
        assert caught.value.status_code == 502
        with pytest.raises(openai.APIStatusError) as in_stream:
            client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True)
        assert in_stream.value.status_code == 502


class LoopbackProxy:
    """A minimal proxy on loopback that records each tunnel it opened.

    Subclasses read the client's handshake and return the target host and
    port; only loopback targets are accepted.
    """

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoopbackProxy:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self) -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int] | None:
        raise NotImplementedError

    async def _accept(self, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = await self._handshake(reader, writer)
        if target is None or target[0] != "127.0.0.1":
            writer.close()
            return
        self.tunnels.append(f"{target[0]}:{target[1]}")
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        await self._accept(writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()


class ConnectProxy(LoopbackProxy):
    """HTTP proxy: `CONNECT host:port HTTP/1.1`."""

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int] | None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n")[0].decode().split(" ")
        if method != "CONNECT":
            return None
        host, port = target.rsplit(":", 1)
        return host, int(port)

    async def _accept(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")


class Socks5Proxy(LoopbackProxy):
    """SOCKS5 without authentication, CONNECT to an IPv4 address or a domain name."""

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int] | None:
        version, method_count = await reader.readexactly(2)
        methods = await reader.readexactly(method_count)
        if version != 5 or 0 not in methods:
            return None
        writer.write(b"\x05\x00")
        _, command, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif address_type == 3:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode()
        else:
            return None
        port = int.from_bytes(await reader.readexactly(2), "big")
        return (host, port) if command == 1 else None

    async def _accept(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")


@pytest.mark.parametrize(
    ("proxy_class", "scheme"),
    [(ConnectProxy, "http"), (Socks5Proxy, "socks5"), (Socks5Proxy, "socks5h")],
)
def test_proxy_per_credential(
    fake: FakeGemini,
    fake_server: Any,
    tmp_path: Path,
    proxy_class: type[LoopbackProxy],
    scheme: str,
) -> None:
    with proxy_class() as proxy:
        credential = {
            "base_url": fake_server.base_url,
            "proxy": f"{scheme}://127.0.0.1:{proxy.port}",
        }
        with gateway_for(credential, tmp_path) as client:
            result = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
            stream = client.chat.completions.create(
                model="gemini-2.5-flash", messages=MESSAGES, stream=True
            )
            pieces = [c.delta.content for chunk in stream for c in chunk.choices if c.delta.content]
    assert result.choices[0].message.content
    assert pieces
    assert proxy.tunnels
    assert all(tunnel == f"127.0.0.1:{fake_server.port}" for tunnel in proxy.tunnels)


def odd_upstream(status: int, body: bytes, content_type: str) -> Starlette:
    """An upstream that answers every model call with the same raw response."""

    async def answer(request: Request) -> Response:
        return Response(body, status_code=status, media_type=content_type)

    return Starlette(routes=[Route("/v1beta/models/{call:path}", answer, methods=["POST"])])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_error_envelope_with_status_200(tmp_path: Path, stream: bool) -> None:
    # Some reverse proxies pass Google's error envelope on with HTTP 200.
    body = orjson.dumps(resource_exhausted())
    with (
        serve_in_thread(odd_upstream(200, body, "application/json")) as upstream,
        gateway_for({"base_url": upstream}, tmp_path) as client,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=stream)
    assert caught.value.response.headers["retry-after"] == "26"


def test_html_page_instead_of_stream_is_502(tmp_path: Path) -> None:
    page = b"<html><body>Welcome to nginx</body></html>"
    with (
        serve_in_thread(odd_upstream(200, page, "text/html")) as upstream,
        gateway_for({"base_url": upstream}, tmp_path) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True)
    assert caught.value.status_code == 502
    assert "text/event-stream" in caught.value.message


def test_proxy_bad_gateway_page_is_502(tmp_path: Path) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    with (
        serve_in_thread(odd_upstream(502, page, "text/html")) as upstream,
        gateway_for({"base_url": upstream}, tmp_path) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert caught.value.status_code == 502


def test_unreachable_proxy_is_502(fake_server: Any, tmp_path: Path) -> None:
    credential = {
        "base_url": fake_server.base_url,
        "proxy": f"http://user:proxy-password@127.0.0.1:{closed_port()}",
    }
    with (
        gateway_for(credential, tmp_path) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert "proxy-password" not in caught.value.response.text
