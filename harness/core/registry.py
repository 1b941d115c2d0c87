"""Decorator registration with near-miss suggestions, shared by routers and benchmarks."""
from __future__ import annotations

import difflib
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

    def register(self, name: str, *, parametrised: bool = False) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise HarnessError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            if parametrised:
                self._parametrised.add(name)
            return obj

        return decorator

    def names(self) -> list[str]:
        return sorted(self._entries)

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
