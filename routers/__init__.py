"""Router registry: decorator registration, near-miss suggestions, user plug-ins.

Built-in families live one per module in this package. A user adds a router without editing the
package: a file that uses ``@register_router`` loaded with ``ROUTER_MODULE=path/to/file.py``, or a
package exposing a ``routing_harness.routers`` entry point.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.registry import Registry
from routers.base import Router, RouterContext, RoutingData  # noqa: F401

ROUTERS: Registry = Registry("router")
register_router = ROUTERS.register

_BUILTIN = ["routers.reference", "routers.classifier", "routers.lookahead", "routers.embedding", "routers.task_best"]
_loaded = False


def load_user_module(path: str) -> None:
    """Import a user's router file so its ``@register_router`` decorators run."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise HarnessError(f"ROUTER_MODULE={path}: file not found")
    name = f"user_router_{abs(hash(str(file.resolve())))}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except HarnessError:
        raise
    except Exception as exc:
        del sys.modules[name]
        raise HarnessError(f"ROUTER_MODULE={path}: import failed ({type(exc).__name__}: {exc})") from None


def load_all(user_modules: list[str] | None = None) -> None:
    """Register built-in routers, entry-point plug-ins and ``ROUTER_MODULE`` files (once)."""
    global _loaded
    if not _loaded:
        for module in _BUILTIN:
            importlib.import_module(module)
        for ep in entry_points(group="routing_harness.routers"):
            ep.load()
        _loaded = True
    env = os.environ.get("ROUTER_MODULE", "")
    for path in [*(user_modules or []), *[p for p in env.split(os.pathsep) if p]]:
        load_user_module(path)


def build_router(name: str, ctx: RouterContext) -> Router:
    load_all()
    factory, argument = ROUTERS.resolve(name)
    ctx.argument = argument
    return factory(ctx)
