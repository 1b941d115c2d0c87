from __future__ import annotations

import pytest

from harness.core.errors import HarnessError
from harness.core.registry import Registry
from routers import build_router
from routers.base import RouterContext


def test_unknown_router_suggests_near_misses():
    with pytest.raises(HarnessError) as exc:
        build_router("orcale", RouterContext(models=["a", "b"]))
    message = str(exc.value)
    assert "unknown router 'orcale'" in message and "did you mean oracle" in message
    assert "\n" not in message


def test_parametrised_names():
    registry: Registry = Registry("thing")
    registry.register("fixed", parametrised=True)(lambda: None)
    registry.register("plain")(lambda: None)
    assert registry.resolve("fixed:abc")[1] == "abc"
    assert registry.resolve("plain")[1] is None
    with pytest.raises(HarnessError, match="needs an argument"):
        registry.resolve("fixed")
    with pytest.raises(HarnessError, match="registered twice"):
        registry.register("plain")(lambda: 1)


def test_fixed_router_needs_a_pool_model():
    with pytest.raises(HarnessError, match="not in the pool"):
        build_router("fixed:gpt-5", RouterContext(models=["a", "b"]))
