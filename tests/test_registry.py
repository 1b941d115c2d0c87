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


def test_redefining_the_same_class_replaces_it_with_a_warning():
    registry: Registry = Registry("thing")

    def define():
        class Plugin:  # the same qualified name each time: a notebook cell run again
            pass
        return Plugin

    first, second = define(), define()
    registry.register("plug")(first)
    with pytest.warns(UserWarning, match="re-defined"):
        registry.register("plug")(second)
    assert registry.resolve("plug")[0] is second

    class Other:
        pass
    with pytest.raises(HarnessError, match="registered twice"):
        registry.register("plug")(Other)


def test_lazy_table_matches_what_each_builtin_module_registers():
    """Built-in routers are imported on first use; the table naming them must be complete."""
    import subprocess
    import sys

    from routers import LAZY_BUILTIN

    code = ("import importlib, json, sys\nfrom routers import ROUTERS\nmod = sys.argv[1]\n"
            "importlib.import_module(mod)\n"
            "print(json.dumps(sorted(n for n, f in ROUTERS._entries.items() if f.__module__ == mod)))")
    for module, names in LAZY_BUILTIN.items():
        out = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, check=True)
        assert sorted(names) == __import__("json").loads(out.stdout.strip().splitlines()[-1]), module


def test_a_reference_run_imports_neither_torch_nor_sklearn():
    import subprocess
    import sys

    code = ("import sys\nfrom routers import build_router, load_all\nfrom routers.base import RouterContext\n"
            "load_all()\nbuild_router('oracle', RouterContext(models=['a', 'b']))\n"
            "print([m for m in ('torch', 'sklearn', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_learned_routers_refuse_an_unknown_option():
    from harness.core.pools import PAPER5

    with pytest.raises(HarnessError, match="unknown option 'kk'"):
        build_router("mlc", RouterContext(models=list(PAPER5), profile="smoke", options={"kk": "3"}))
    build_router("mlc", RouterContext(models=list(PAPER5), profile="smoke", options={"lr": "1e-4"}))  # a real one
