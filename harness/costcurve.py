"""``routing-harness costcurve`` (``make costcurve ROUTER=...``): dollars and cost-quality curves.

1. Every leaderboard row gets ``usd_total`` and ``usd_per_item`` (its run file's choices priced by
   :mod:`harness.cost.dollars`; the random router: the candidates' mean; the oracle: its choices).
2. Each router named gets ``results/costcurve/<run>.json`` per seed (:mod:`harness.report.curves`,
   :mod:`harness.report.curves_pairs`): the willingness-to-pay sweep, the oracle's cheapest-correct curve,
   single candidates, AIQ, and the strong/weak metrics with bootstrap intervals.
3. ``results/costcurve.md`` and its plots are re-rendered (:mod:`harness.report.curves_render`).

Writes where every command does (scratch unless ``--publish``; ``harness.core.config``). Top layer,
beside :mod:`harness.cli`, which only registers the subcommand.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

from harness.core.errors import HarnessError


def add_parser(sub: argparse._SubParsersAction, bootstrap_args: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("costcurve", help="dollar cost of every row; cost-quality curves, AIQ, APGR, CPT of routers")
    p.add_argument("--router", action="append", default=[], help="router(s) whose curves to draw (router@profile "
                   "where it has several; space/comma list, repeatable); none: only the dollar columns")
    p.add_argument("--prices", default=None, help="price table (JSON or CSV, USD per 1M input/output tokens per "
                   "model; default: per-size tiers of hosted open models, harness/cost/dollars.py)")
    p.add_argument("--conventions", default="paper", help="scoring rules of the curves: paper or official")
    p.add_argument("--strong", default=None, help="strong/weak setting: the strong candidate (default: the best "
                   "of the others by average mu_n)")
    p.add_argument("--weak", default=None, help="strong/weak setting: the weak candidate (default: the cheapest)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--publish", action="store_true", help="write into the committed results/")
    where.add_argument("--results-dir", default=None, help="write into this results directory instead")
    bootstrap_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from harness.core import conventions
    from harness.cost import dollars
    from harness.report import board, curves, curves_pairs, curves_render
    from harness.report.bootstrap import Settings
    from harness.report.ranking import find_key
    from harness.report.runs import group_runs, load_runs

    if args.results_dir:
        os.environ["HARNESS_RESULTS_DIR"] = args.results_dir
    if args.publish:
        os.environ["HARNESS_PUBLISH"] = "1"
    if args.resamples < 100:
        raise HarnessError(f"--resamples {args.resamples}: use at least 100 (1000 for reported intervals)")
    if bool(args.strong) != bool(args.weak):
        raise HarnessError("--strong / --weak: name both candidates of the pair, or neither")
    table, rules = dollars.load_prices(args.prices), conventions.check(args.conventions)
    settings = Settings(resamples=args.resamples, seed=args.bootstrap_seed)
    print(f"dollar columns: {dollars.fill_leaderboard(table)} leaderboard rows ({table.origin} prices)")
    groups = group_runs(load_runs())
    pair = (args.strong, args.weak) if args.strong else None
    for name in [r for spec in args.router for r in spec.replace(",", " ").split()]:
        for one in groups[find_key(groups, name, args.pool, args.protocol)]:
            costs = {b: dollars.item_costs(b, one.models, table) for b in one.benchmarks}
            data = curves_pairs.build(one.raw, costs, rules, settings, pair)
            print(f"wrote {curves.write_curves(data, one.raw, table.record())} (scores: {data['scores']})")
    written = curves_render.render()
    if written:
        print(f"wrote {written}")
    board.render()
