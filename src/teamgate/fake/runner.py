"""Serve a FakeGemini with uvicorn, in a background thread or as a process."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from teamgate.fake.app import FakeGemini
from teamgate.fake.transport import DroppedConnectionFilter

_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 10.0


def install_drop_log_filter() -> None:
    """Keep uvicorn from logging a traceback for each connection a script drops on purpose."""
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(item, DroppedConnectionFilter) for item in error_logger.filters):
        error_logger.addFilter(DroppedConnectionFilter())


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port``; port 0 lets the OS pick a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def server_config(fake: FakeGemini, log_level: str = "warning") -> uvicorn.Config:
    """Build the uvicorn config the runners share."""
    return uvicorn.Config(fake.app, log_level=log_level, lifespan="off", access_log=False)


class RunningServer:
    """A uvicorn server running a FakeGemini in a daemon thread; stops on context exit."""

    def __init__(self, fake: FakeGemini, sock: socket.socket) -> None:
        self.fake = fake
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port
        self._server = uvicorn.Server(server_config(fake))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-gemini", daemon=True
        )

    @property
    def base_url(self) -> str:
        """Root URL without a trailing slash, for example ``http://127.0.0.1:40123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Start serving and wait until uvicorn reports that it has started."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError(f"fake Gemini did not start on {self.base_url}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread to finish."""
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_SECONDS)
        self._socket.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(fake: FakeGemini, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start ``fake`` on ``host:port`` in a daemon thread and return the running server.

    The server is already accepting connections when this returns; use it as a context
    manager, or call ``stop()``, to shut it down.
    """
    install_drop_log_filter()
    server = RunningServer(fake, bind_socket(host, port))
    server.start()
    return server
