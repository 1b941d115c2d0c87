"""Command line: ``routing-harness {data,eval,leaderboard,models,routers}``.

Every user error is one line on stderr naming the file, item, model or option, with exit code 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from harness.errors import HarnessError


def _options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HarnessError(f"--option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def cmd_data(args: argparse.Namespace) -> None:
    from harness import data

    for line in data.prepare(source=args.source, force=args.force).lines():
        print(line)


def cmd_eval(args: argparse.Namespace) -> None:
    from harness import runner
    from routers import load_all

    load_all(args.router_module)
    cfg = runner.EvalConfig(router=args.router, pool=args.pool, benchmarks=runner.parse_benchmarks(args.benchmarks),
                            protocol=args.protocol, profile=args.profile, seed=args.seed, folds=args.folds,
                            random_draws=args.random_draws, options=_options(args.option))
    results = runner.evaluate(cfg)
    print(f"{'benchmark':<11} {'metric':<12} {'mu_o':>8} {'mu_n':>7} {'random':>8} {'oracle':>8} {'items':>6}")
    for r in results:
        print(f"{r.benchmark:<11} {r.metric:<12} {r.score:8.2f} {r.normalized:7.1f} {r.random:8.2f} "
              f"{r.oracle:8.2f} {r.n_items:6d}")
    from harness.normalize import average

    print(f"average mu_n: {average([r.normalized for r in results]):.1f}   (results/leaderboard.md updated)")


def cmd_leaderboard(args: argparse.Namespace) -> None:
    from harness import leaderboard

    leaderboard.render()
    print(f"wrote {leaderboard.md_path()}")


def cmd_models(args: argparse.Namespace) -> None:
    from benchmarks import BENCHMARKS, get_benchmark
    from harness import config, data

    data.ensure()
    for name in BENCHMARKS.names():
        print(f"{name}: {', '.join(get_benchmark(name).models(config.cache_root()))}")


def cmd_routers(args: argparse.Namespace) -> None:
    from routers import ROUTERS, load_all

    load_all(args.router_module)
    for name in ROUTERS.names():
        print(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routing-harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch or copy the released cache and verify it")
    p.add_argument("--source", default=None, help="local copy of compressed_data/ (default: $ROUTING_DATA, "
                   "else download the pinned upstream commit)")
    p.add_argument("--force", action="store_true", help="replace an existing local copy")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("eval", help="evaluate a router and update the leaderboard")
    p.add_argument("--router", required=True, help="registered name, e.g. oracle, random, fixed:<model>")
    p.add_argument("--pool", default="paper5", help="pool name (paper5, paper3, paper8) or model,model,...")
    p.add_argument("--benchmarks", default="all", help="comma-separated benchmark names or 'all'")
    p.add_argument("--protocol", default="cv", help="cv or paper (learned routers only)")
    p.add_argument("--profile", default="cpu", help="smoke, cpu or paper (learned routers only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--random-draws", type=int, default=0, help="random router: Monte-Carlo draws to add")
    p.add_argument("--router-module", action="append", default=[], help="a .py file registering routers")
    p.add_argument("--option", action="append", default=[], help="router option KEY=VALUE")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("leaderboard", help="render results/leaderboard.md from the CSV")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("models", help="list the candidates the cache has per benchmark")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("routers", help="list registered routers")
    p.add_argument("--router-module", action="append", default=[])
    p.set_defaults(func=cmd_routers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
