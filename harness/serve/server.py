"""Running the app under uvicorn: in the foreground (``routing-harness serve``) or in a background
thread of the current process (tests, the bench's fake upstreams, notebooks)."""
from __future__ import annotations

import socket
import sys
import threading
import time
from typing import Any

import uvicorn

from harness.core.errors import HarnessError
from harness.serve import loading, settings
from harness.serve.app import Service, create_app


def build_service(config_path: str, specs: list[loading.RouterSpec]) -> Service:
    """Load the config, then fit or load every router (slow for learned routers: it prints progress)."""
    cfg = settings.load(config_path)
    routers: dict[str, loading.ServedRouter] = {}
    for spec in specs:
        served = loading.load(spec)
        if served.model_id in routers:
            raise HarnessError(f"serve: router '{served.name}' named twice")
        settings.check_pool(cfg, served.models, served.name)
        routers[served.model_id] = served
        trained = served.provenance["trained_on"]
        print(f"serve: {served.model_id} ready in {served.provenance['load_seconds']} s "
              f"(trained on: {trained.get('source')}, {trained.get('n_items', '-')} items)", file=sys.stderr)
    return Service(config=cfg, routers=routers)


def loopback_socket(port: int = 0) -> socket.socket:
    """A socket bound to 127.0.0.1 (port 0: any free port), ready to hand to uvicorn."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _uvicorn_config(app: Any, **kwargs: Any) -> uvicorn.Config:
    # access logs off: at load-test rates they cost more CPU than the routing itself
    return uvicorn.Config(app, log_level=kwargs.pop("log_level", "warning"), access_log=False,
                          timeout_graceful_shutdown=5, **kwargs)


def run(service: Service, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve until interrupted."""
    print(f"serve: http://{host}:{port}/v1 (models: {', '.join([*service.routers, *service.config.candidates])})",
          file=sys.stderr)
    try:
        uvicorn.Server(_uvicorn_config(create_app(service), host=host, port=port, log_level=log_level)).run()
    except OSError as exc:
        raise HarnessError(f"serve: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


class BackgroundServer:
    """An ASGI app served on 127.0.0.1 from a daemon thread: ``with BackgroundServer(app) as s: s.url``."""

    def __init__(self, app: Any, port: int = 0, start_timeout: float = 30.0):
        self.sock = loopback_socket(port)
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(_uvicorn_config(app))
        self.start_timeout = start_timeout
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BackgroundServer":
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
