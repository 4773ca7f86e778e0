"""Run the fake Gemini API as a standalone process: ``python -m teamgate.fake --port N --key K``."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from teamgate.fake.app import FakeGemini
from teamgate.fake.runner import bind_socket, install_drop_log_filter, server_config

logger = logging.getLogger("teamgate.fake")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m teamgate.fake",
        description="Serve a scripted fake of the Gemini API (generativelanguage v1beta).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, loopback only)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (default: 0)"
    )
    parser.add_argument(
        "--key",
        action="append",
        required=True,
        help="an API key the fake accepts; repeat the option for several keys",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default: info)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    install_drop_log_filter()
    fake = FakeGemini(api_keys=set(args.key))
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    # The port line is printed first so a parent process can read the chosen port.
    print(f"fake Gemini listening on http://{host}:{port}", flush=True)
    server = uvicorn.Server(server_config(fake, log_level=args.log_level))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        logger.info("fake Gemini on port %d stopped", port)


if __name__ == "__main__":
    main()
