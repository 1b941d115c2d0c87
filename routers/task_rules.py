"""``task_rules``: hand-written prompt rules, the "no learning" bar.

Three regular expressions on the prompt text, nothing else (no labels, no benchmark names, no
answers, no training):

1. **code** (``CODE``: a code fence, a ``def f(`` signature, ``assert``, a language name such as
   python, SQL or C++, "write a function/program/script", implement) -> the pool's coder model;
2. **math** (``MATH``: LaTeX (``\\boxed``, ``\\frac``, ``$...$``), "how many/much", calculate,
   compute, solve, or arithmetic between numbers) -> the pool's math model;
3. everything else -> the pool's chat model.

The roles are read from the candidates' names and sizes, never from scores: the coder is the first
candidate whose name contains ``coder``; the math model the first whose name contains ``math``, else
the first of ``MATH_FAMILIES`` (InternLM2.5, whose model card leads with its math results); the chat
model the largest remaining candidate by the sizes in ``harness.core.pools.MODEL_PARAMS_B`` (first
in pool order when sizes are unknown). A role with no candidate falls back to the chat model.
``OPTIONS="code=<model> math=<model> chat=<model>"`` names them instead. On paper5 it sends code to
Qwen2.5-Coder-7B-Instruct, math to internlm2_5-20b-chat and the rest to Yi-1.5-34B-Chat.

It learns nothing (protocol ``none``), so it stands beside every protocol's learned routers: a
learned router that does not beat it has shown no skill beyond what three rules recognise.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.pools import MODEL_PARAMS_B
from routers import register_router
from routers.base import RouterContext, RoutingData
from routers.reference import ReferenceRouter

CODE = re.compile(r"```|\bdef \w+\(|\bassert\b|\b(python|javascript|typescript|java|c\+\+|rust|golang|sql|bash)\b|"
                  r"\bwrite (a|an|the) (\w+ )?(function|program|script|class|method)\b|\b(implement|regex|compile|"
                  r"source code)\b", re.IGNORECASE)
MATH = re.compile(r"\\boxed|\\frac|\\sqrt|\$[^$\n]+\$|\bhow (many|much)\b|\b(calculate|compute|solve|evaluate)\b|"
                  r"\d\s*[-+*/^=]\s*\d", re.IGNORECASE)
MATH_FAMILIES = ("internlm2_5", "internlm2")  # general models known (from their model cards) for math
ROLES = ("code", "math", "chat")


def route(prompt: str) -> str:
    """The role a prompt goes to: 'code', 'math' or 'chat' (first rule that matches)."""
    if CODE.search(prompt):
        return "code"
    if MATH.search(prompt):
        return "math"
    return "chat"


def assign_roles(models: list[str], options: dict[str, Any] | None = None) -> dict[str, str]:
    """Candidate per role, from names and sizes (or the options)."""
    options = dict(options or {})
    for role, model in options.items():
        if model not in models:
            raise HarnessError(f"router 'task_rules': option {role}={model}: not in the pool ({', '.join(models)})")
    lower = [m.lower() for m in models]
    coder = next((m for m, low in zip(models, lower) if "coder" in low), None)
    math = next((m for m, low in zip(models, lower) if "math" in low), None)
    math = math or next((m for fam in MATH_FAMILIES for m, low in zip(models, lower) if low.startswith(fam)), None)
    general = [m for m in models if m not in (coder, math)] or list(models)
    sized = [m for m in general if m in MODEL_PARAMS_B]
    chat = options.get("chat") or (max(sized, key=lambda m: MODEL_PARAMS_B[m]) if sized else general[0])
    return {"code": options.get("code") or coder or chat, "math": options.get("math") or math or chat, "chat": chat}


@register_router("task_rules")
class TaskRulesRouter(ReferenceRouter):
    """Route by three prompt rules to the pool's coder, math and chat models (module docstring)."""

    NAME = "task_rules"
    OPTIONS = ROLES

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        self.roles = assign_roles(self.models, ctx.options)

    def predict(self, items: RoutingData) -> np.ndarray:
        scores = np.zeros((len(items), len(self.models)))
        for i, prompt in enumerate(items.prompts):
            scores[i, self.models.index(self.roles[route(prompt)])] = 1.0
        return scores

    def config(self) -> dict[str, Any]:
        return {"roles": self.roles, "code": CODE.pattern, "math": MATH.pattern}
