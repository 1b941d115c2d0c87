"""The serve config file: which upstream OpenAI-compatible endpoint answers for each candidate.

YAML (``.yaml``/``.yml``) or JSON (any other suffix)::

    candidates:
      Yi-1.5-34B-Chat:                        # a candidate of the served router's pool
        base_url: https://llm.example/v1      # OpenAI-compatible endpoint (up to /v1)
        model: 01-ai/Yi-1.5-34B-Chat          # the upstream's model name (default: the candidate's)
        api_key_env: EXAMPLE_API_KEY          # environment variable holding its key (default: no key)
        price: 0.9                            # USD per 1M tokens, for cost-aware routing (optional)
        timeout: 120                          # seconds per attempt (default 120)
    default_lambda: 0.0                       # willingness to pay when a request names none
    max_batch: 32                             # most prompts scored in one router call

Unknown keys are errors (a typo must not silently drop a setting). Keys are read from the
environment at load time and never shown by ``/info``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core.errors import HarnessError


class CandidateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=1)
    model: str | None = None
    api_key_env: str | None = None
    price: float | None = Field(default=None, ge=0)
    timeout: float = Field(default=120.0, gt=0)


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: dict[str, CandidateConfig] = Field(min_length=1)
    default_lambda: float = Field(default=0.0, ge=0)
    max_batch: int = Field(default=32, ge=1)


@dataclass(frozen=True)
class Candidate:
    """One candidate, resolved: its upstream model name and key are final."""

    name: str
    base_url: str
    model: str
    api_key: str | None
    price: float | None
    timeout: float

    def public(self) -> dict[str, Any]:
        """What ``/info`` shows (never the key)."""
        return {"name": self.name, "base_url": self.base_url, "upstream_model": self.model,
                "price_usd_per_1m_tokens": self.price, "has_key": self.api_key is not None}


@dataclass(frozen=True)
class ServeConfig:
    candidates: dict[str, Candidate]
    default_lambda: float = 0.0
    max_batch: int = 32
    source: str = "<memory>"


def _read(path: Path) -> Any:
    if not path.is_file():
        raise HarnessError(f"serve config {path}: file not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # extra 'serve' (pyyaml)

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError: both mean the file is not readable
        raise HarnessError(f"serve config {path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {err['msg']}"


def parse(raw: Any, source: str = "<memory>", environ: dict[str, str] | None = None) -> ServeConfig:
    """Validate a config's contents and resolve keys from ``environ`` (default: the process's)."""
    env = os.environ if environ is None else environ
    try:
        cfg = FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise HarnessError(f"serve config {source}: {_first_error(exc)}") from None
    candidates = {}
    for name, c in cfg.candidates.items():
        if not c.base_url.startswith(("http://", "https://")):
            raise HarnessError(f"serve config {source}: candidates.{name}.base_url {c.base_url!r}: expected http(s)://...")
        key = None
        if c.api_key_env:
            key = env.get(c.api_key_env)
            if not key:
                raise HarnessError(f"serve config {source}: candidates.{name}.api_key_env: "
                                   f"environment variable {c.api_key_env} is not set")
        candidates[name] = Candidate(name=name, base_url=c.base_url.rstrip("/"), model=c.model or name,
                                     api_key=key, price=c.price, timeout=c.timeout)
    return ServeConfig(candidates=candidates, default_lambda=cfg.default_lambda, max_batch=cfg.max_batch,
                       source=source)


def load(path: str | os.PathLike) -> ServeConfig:
    file = Path(path).expanduser()
    return parse(_read(file), str(file))


def check_pool(cfg: ServeConfig, models: list[str], router: str) -> None:
    """Every candidate a router can choose must have an upstream."""
    missing = [m for m in models if m not in cfg.candidates]
    if missing:
        raise HarnessError(f"serve config {cfg.source}: router '{router}' can route to {', '.join(missing)}, "
                           f"which have no entry under candidates")
