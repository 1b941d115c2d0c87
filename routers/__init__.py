"""Router registry: decorator registration, near-miss suggestions, user plug-ins.

Built-in families live one per module in this package. A user adds a router without editing the
package: a file that uses ``@register_router`` loaded with ``ROUTER_MODULE=path/to/file.py``, or a
package exposing a ``routing_harness.routers`` entry point.
"""
from __future__ import annotations

import hashlib
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

# Imported on first use, so that a run of a reference or plug-in router never imports torch or
# scikit-learn (tests/test_registry.py checks this table against what each module registers).
LAZY_BUILTIN: dict[str, list[str]] = {
    "routers.classifier": ["mlc", "routerdc", "zooter"],
    "routers.lookahead": ["lookahead_mlm", "lookahead_mlm_nocurr", "lookahead_mlm_nolm",
                          "lookahead_mlm_randmask", "lookahead_mlm_separate", "lookahead_mlm_startmask"],
    "routers.lookahead_clm": ["lookahead_clm"],
    "routers.embedding": ["kmeans", "knn", "smoothie"],
    "routers.task_best": ["task_best"],
    "routers.task_rules": ["task_rules"],
}
BUILTIN_MODULES = ["routers.reference", *LAZY_BUILTIN]
_loaded = False
_USER_SOURCES: dict[str, bytes] = {}  # module name -> source it was imported from


def load_user_module(path: str) -> None:
    """Import a user's router file so its ``@register_router`` decorators run."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise HarnessError(f"ROUTER_MODULE={path}: file not found")
    source = file.read_bytes()
    name = "user_router_" + hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    if _USER_SOURCES.get(name) == source:
        return  # already imported, unchanged (an edited file is imported again: it re-registers)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        _USER_SOURCES[name] = source
    except HarnessError:
        del sys.modules[name]
        raise
    except Exception as exc:
        del sys.modules[name]
        raise HarnessError(f"ROUTER_MODULE={path}: import failed ({type(exc).__name__}: {exc})") from None


def load_all(user_modules: list[str] | None = None) -> None:
    """Register built-in routers, entry-point plug-ins and ``ROUTER_MODULE`` files (once)."""
    global _loaded
    if not _loaded:
        importlib.import_module("routers.reference")  # cheap: numpy only
        ROUTERS.register_lazy(LAZY_BUILTIN)
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
