"""Named candidate pools and the candidates' sizes (for activated-parameter cost)."""
from __future__ import annotations

from harness.core.errors import HarnessError

PAPER5 = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Phi-3-medium-4k-instruct",
          "Llama-3.1-8B-Instruct", "Qwen2.5-Coder-7B-Instruct"]
PAPER8_EXTRA = ["deepseek-coder-6.7b-instruct", "Llama-3.2-3B-Instruct", "Qwen2.5-1.5B-Instruct"]

POOLS: dict[str, list[str]] = {
    "paper5": PAPER5,
    "paper3": PAPER5[:3],
    "paper8": PAPER5 + PAPER8_EXTRA,
}

# Billions of parameters, as the paper states them (gemma-2-9b-it: 9.2B).
MODEL_PARAMS_B: dict[str, float] = {
    "Yi-1.5-34B-Chat": 34.4, "internlm2_5-20b-chat": 19.9, "Phi-3-medium-4k-instruct": 14.0,
    "Llama-3.1-8B-Instruct": 8.0, "Qwen2.5-Coder-7B-Instruct": 7.6,
    "deepseek-coder-6.7b-instruct": 6.7, "Llama-3.2-3B-Instruct": 3.2, "Qwen2.5-1.5B-Instruct": 1.5,
    "gemma-2-9b-it": 9.2,
}


def resolve_pool(spec: str) -> tuple[str, list[str]]:
    """(pool label, models) for a pool name or a comma-separated model list."""
    spec = spec.strip()
    if spec in POOLS:
        return spec, list(POOLS[spec])
    models = [m.strip() for m in spec.split(",") if m.strip()]
    if len(models) < 2:
        raise HarnessError(f"POOL={spec!r}: a pool needs at least two models "
                           f"(or one of the names {', '.join(POOLS)})")
    for name, members in POOLS.items():
        if members == models:
            return name, models
    return ",".join(models), models
