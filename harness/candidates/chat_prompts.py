"""The chat benchmarks' own prompts and generation settings, for answers from an OpenAI-compatible
endpoint. Items come from the cache (the store's item tables: the same ids the judge files use).

* **AlpacaEval**: alpaca_eval's model config ``gpt4_1106_preview`` (the reference model's own: its
  ``chatml_prompt.txt``, a system line and the instruction, turned into chat messages by alpaca_eval's
  ``prompt_to_chatml``; ``max_tokens`` from its ``completions_kwargs``).
* **Arena-Hard**: arena-hard-auto's ``gen_answer``: the question as the one user turn, temperature
  0 and at most 4096 new tokens (its ``gen_answer_config.yaml`` defaults).
* **MT-Bench**: FastChat's ``gen_model_answer`` / ``gen_api_answer`` flow: the model's FastChat
  conversation template (``get_conversation_template``, or ``--conv-template``), both turns in one
  conversation (turn 2 sees turn 1's answer), temperature per category from FastChat's
  ``temperature_config`` (0.7 for categories it does not name), at most 1024 new tokens. fschat 0.2.36
  installs cleanly beside openai >= 1 (pip check), so its templates are used; its own request code
  (``chat_completion_openai``) is written for openai < 1, so the requests are the harness's.

``--max-tokens`` caps and ``--temperature`` replaces these per-benchmark settings; every answer file
records what was sent.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.errors import HarnessError

ALPACA_MODEL_CONFIG = "gpt4_1106_preview"
ARENA_HARD = {"temperature": 0.0, "max_tokens": 4096}  # arena-hard-auto gen_answer_config.yaml
MTBENCH_MAX_TOKENS = 1024  # FastChat gen_model_answer --max-new-token default
MTBENCH_DEFAULT_TEMPERATURE = 0.7  # FastChat: categories outside temperature_config


@dataclass
class ChatItem:
    benchmark: str
    id: str
    turns: list[str]  # the user turns (MT-Bench: two)
    category: str = ""


def items(benchmark: str, limit: int | None) -> list[ChatItem]:
    """The first ``limit`` items (all when None) in the cache's order."""
    from benchmarks import get_benchmark
    from harness.core import data, store

    data.ensure()
    table = store.read_items(get_benchmark(benchmark))
    n = len(table.ids) if limit is None else min(limit, len(table.ids))
    out = []
    for i in range(n):
        turns = [table.prompts[i]]
        if benchmark == "mtbench":
            turns.append(table.meta["turn2"][i])
        out.append(ChatItem(benchmark, table.ids[i], turns, str(table.meta.get("category", [""] * n)[i])))
    return out


# ---------------------------------------------------------------------------------------------
# AlpacaEval

@lru_cache(maxsize=1)
def alpaca_model_config(name: str = ALPACA_MODEL_CONFIG) -> tuple[str, dict]:
    """(prompt template text, completions_kwargs) of one of alpaca_eval's model configs."""
    import yaml
    import alpaca_eval

    base = Path(alpaca_eval.__file__).parent / "models_configs"
    cfg = yaml.safe_load((base / name / "configs.yaml").read_text(encoding="utf-8"))[name]
    return (base / cfg["prompt_template"]).read_text(encoding="utf-8"), dict(cfg.get("completions_kwargs") or {})


def alpaca_messages(instruction: str) -> list[dict]:
    from alpaca_eval.utils import prompt_to_chatml

    template, _ = alpaca_model_config()
    return prompt_to_chatml(template.replace("{instruction}", instruction))


# ---------------------------------------------------------------------------------------------
# MT-Bench (FastChat)

def fastchat_conversation(model: str, template: str | None):
    """A fresh FastChat conversation: the template named, or FastChat's choice for the model name."""
    try:
        from fastchat.conversation import conv_templates, get_conv_template
        from fastchat.model.model_adapter import get_conversation_template
    except ImportError as exc:
        raise HarnessError(f"MT-Bench answers use FastChat's conversation templates: fschat is missing or broken "
                           f"({exc}); pip install -e '.[candidates]'") from None
    if template:
        if template not in conv_templates:
            raise HarnessError(f"--conv-template {template}: not a FastChat template (e.g. chatgpt, zero_shot, "
                               "llama-3, qwen-7b-chat)")
        return get_conv_template(template)
    return get_conversation_template(model)


@lru_cache(maxsize=1)
def fastchat_temperatures() -> dict[str, float]:
    """FastChat's per-category temperatures (``fastchat.llm_judge.common.temperature_config``), read
    from its file: importing that module also imports anthropic and FastChat's openai < 1 request code."""
    spec = importlib.util.find_spec("fastchat")
    path = Path(spec.origin).parent / "llm_judge" / "common.py" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise HarnessError("fschat is not installed (pip install -e '.[candidates]'): MT-Bench needs its "
                           "llm_judge/common.py temperature_config")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "temperature_config" for t in node.targets):
            return {str(k): float(v) for k, v in ast.literal_eval(node.value).items()}
    raise HarnessError(f"{path}: no temperature_config")


# ---------------------------------------------------------------------------------------------
# settings per benchmark

def settings(benchmark: str, item: ChatItem, max_tokens: int | None, temperature: float | None) -> dict:
    """What is sent with each request of ``item``: {"temperature", "max_tokens"} (None: not sent)."""
    if benchmark == "alpacaeval":
        _, kw = alpaca_model_config()
        base = {"temperature": kw.get("temperature"), "max_tokens": kw.get("max_tokens")}
    elif benchmark == "arenahard":
        base = dict(ARENA_HARD)
    else:
        base = {"temperature": fastchat_temperatures().get(item.category, MTBENCH_DEFAULT_TEMPERATURE),
                "max_tokens": MTBENCH_MAX_TOKENS}
    if max_tokens is not None:
        base["max_tokens"] = min(max_tokens, base["max_tokens"] or max_tokens)
    if temperature is not None:
        base["temperature"] = temperature
    return base


def template_name(benchmark: str, model: str, conv_template: str | None) -> str:
    if benchmark == "alpacaeval":
        return f"alpaca_eval models_configs/{ALPACA_MODEL_CONFIG} ({alpaca_model_config_file()})"
    if benchmark == "arenahard":
        return "arena-hard-auto gen_answer (the question as one user turn)"
    return f"fastchat {fastchat_conversation(model, conv_template).name}"


def alpaca_model_config_file() -> str:
    import yaml
    import alpaca_eval

    base = Path(alpaca_eval.__file__).parent / "models_configs" / ALPACA_MODEL_CONFIG / "configs.yaml"
    return yaml.safe_load(base.read_text(encoding="utf-8"))[ALPACA_MODEL_CONFIG]["prompt_template"]
