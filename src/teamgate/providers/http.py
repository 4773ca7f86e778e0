"""Shared aiohttp client sessions, one per outbound proxy."""

from __future__ import annotations

import aiohttp

from teamgate.config.schema import Timeouts


class HttpClients:
    """Keeps one pooled `ClientSession` per proxy URL (None for direct connections).

    Sessions are created lazily inside the running event loop and closed by
    `close()` on shutdown.
    """

    def __init__(self) -> None:
        self._sessions: dict[str | None, aiohttp.ClientSession] = {}

    def session(self, proxy: str | None) -> aiohttp.ClientSession:
        session = self._sessions.get(proxy)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=self._connector(proxy),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "teamgate"},
            )
            self._sessions[proxy] = session
        return session

    @staticmethod
    def _connector(proxy: str | None) -> aiohttp.BaseConnector:
        # limit=0: the per-request semaphore of aiohttp would only add queueing;
        # keep-alive connections are reused for 60 s.
        if proxy is None:
            return aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=300)
        from aiohttp_socks import ProxyConnector

        # aiohttp-socks spells "let the proxy resolve names" as rdns=True, not socks5h.
        remote_dns = proxy.startswith("socks5h://")
        url = "socks5://" + proxy.removeprefix("socks5h://") if remote_dns else proxy
        connector: aiohttp.BaseConnector = ProxyConnector.from_url(
            url, limit=0, keepalive_timeout=60, rdns=True if remote_dns else None
        )
        return connector

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.read)
