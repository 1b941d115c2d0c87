"""Does a Lookahead router's response objective train? One cv fold, several settings side by side.

For each ``--options`` set (separated by ``;``) this fits the router on the training items of one cv
fold of paper5 (fold 1 of 5, seed 0) and prints its response loss at the first step and its lowest
10-step mean, against the loss of predicting each response token from its position alone on the
same training items (``response_frequency_loss``: a predictor that ignores the query), with the
routing loss and the best validation reward. The run files record the same figures per fold.
Usage: python -m harness.experiments.response_objective [--router=lookahead_mlm] [--profile=small]
       [--options="token_head_lr_scale=1;token_head_lr_scale=20"]
"""
from __future__ import annotations

import sys
import time

from benchmarks import PAPER_BENCHMARKS
from harness.core import protocols, store
from harness.core.pools import PAPER5
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext


def probe(router: str, profile: str, option_sets: list[dict[str, str]]) -> None:
    data = routing_data({b: store.load(b, PAPER5) for b in PAPER_BENCHMARKS}, PAPER5)
    split = protocols.splits("cv", data.benchmarks, 5, 0)[0]
    for options in option_sets:
        r = build_router(router, RouterContext(models=PAPER5, profile=profile, seed=0, options=options))
        started = time.perf_counter()
        r.fit(data.subset(split.train))
        h = r.history.summary()
        print(f"{router} ({profile}, {options or 'defaults'}): response loss first {h['response_loss_first']:.2f}, "
              f"lowest {h['response_loss_min']:.2f}; position alone {r.frequency_loss:.2f}; routing loss lowest "
              f"{h['routing_loss_min']:.3f}; best validation reward {h['best_eval_reward']:.3f}; {h['steps']} steps, "
              f"{time.perf_counter() - started:.0f} s", flush=True)


def _option_sets(text: str) -> list[dict[str, str]]:
    return [dict(kv.split("=", 1) for kv in group.split(",") if kv) for group in text.split(";")]


if __name__ == "__main__":
    flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    probe(flags.get("router", "lookahead_mlm"), flags.get("profile", "small"),
          _option_sets(flags.get("options", "token_head_lr_scale=1;token_head_lr_scale=20")))
