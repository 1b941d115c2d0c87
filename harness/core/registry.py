"""Decorator registration with near-miss suggestions, shared by routers and benchmarks."""
from __future__ import annotations

import difflib
import warnings
from typing import Callable, Generic, Iterator, TypeVar

from harness.core.errors import HarnessError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories. ``kind`` names what is registered, for error messages.

    A name may be registered as a *prefix* (``fixed:``): then ``fixed:Yi-1.5-34B-Chat`` finds the
    ``fixed`` factory and passes the part after the colon as its argument.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._parametrised: set[str] = set()
        self._lazy: dict[str, str] = {}  # name -> module that registers it when imported

    def register_lazy(self, modules: dict[str, list[str]]) -> None:
        """Names whose module is imported only when one of them is used (so a run that needs no
        torch never imports it)."""
        for module, names in modules.items():
            for name in names:
                self._lazy.setdefault(name, module)

    def register(self, name: str, *, parametrised: bool = False) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            old = self._entries.get(name)
            if old is not None and old is not obj:
                if not _same_definition(old, obj):
                    raise HarnessError(f"{self.kind} '{name}' is registered twice ({_where(old)} and {_where(obj)})")
                # the same class defined again (a notebook cell re-run, an edited plug-in reloaded)
                warnings.warn(f"{self.kind} '{name}' re-defined: the new definition replaces the old one",
                              stacklevel=2)
            self._entries[name] = obj
            if parametrised:
                self._parametrised.add(name)
            return obj

        return decorator

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._lazy))

    def __contains__(self, name: str) -> bool:
        try:
            self.resolve(name)
        except HarnessError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def resolve(self, name: str) -> tuple[T, str | None]:
        """Return (factory, argument) for ``name``; the argument is set for ``prefix:arg`` names."""
        module = self._lazy.pop(name, None)
        if module is not None and name not in self._entries:
            import importlib

            importlib.import_module(module)
            for other in [n for n, m in self._lazy.items() if m == module]:
                del self._lazy[other]  # that import registered them all
        if name in self._entries and name not in self._parametrised:
            return self._entries[name], None
        base, sep, arg = name.partition(":")
        if sep and base in self._parametrised:
            if not arg:
                raise HarnessError(f"{self.kind} '{base}:' needs an argument after the colon")
            return self._entries[base], arg
        if name in self._parametrised:
            raise HarnessError(f"{self.kind} '{name}' needs an argument: '{name}:<value>'")
        shown = [n + (":<arg>" if n in self._parametrised else "") for n in self.names()]
        close = difflib.get_close_matches(base, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise HarnessError(f"unknown {self.kind} '{name}'{hint} (known: {', '.join(shown)})")


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _same_definition(old: object, new: object) -> bool:
    """The same class defined again (same module and qualified name), not two different things."""
    return isinstance(old, type) and isinstance(new, type) and _where(old) == _where(new)
