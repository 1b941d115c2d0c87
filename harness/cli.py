"""Command line: ``routing-harness {data,eval,leaderboard,models,routers,cost,scalability,ablations,protocols,...}``.

Every user error is one line on stderr naming the file, item, model or option, with exit code 2.
The help machinery (defaults shown everywhere) and the grading subcommands (regrade, import,
export, judge) are in :mod:`harness.commands`.
"""
from __future__ import annotations

import argparse
import os
import sys

from harness import commands, costcurve, sigterm
from harness.core.errors import HarnessError


def _options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HarnessError(f"--option {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def cmd_data(args: argparse.Namespace) -> None:
    from harness.core import data

    for line in data.prepare(source=args.source, force=args.force).lines():
        print(line)


def cmd_eval(args: argparse.Namespace) -> None:
    from harness import api
    from harness.core import config, runner
    from routers import load_all

    _where_results(args)
    load_all(args.router_module)
    commands.check_router(args.router, args.router_module)
    _benchmark_files(args)
    cfg = runner.EvalConfig(router=args.router, pool=args.pool, benchmarks=runner.parse_benchmarks(args.benchmarks),
                            protocol=args.protocol, profile=args.profile, seed=args.seed, folds=args.folds,
                            random_draws=args.random_draws, options=_options(args.option),
                            conventions=args.conventions)
    ev = api.evaluate_router(cfg, write=not args.no_write, resamples=args.resamples)
    print(f"{'benchmark':<11} {'metric':<12} {'mu_o':>8} {'95% CI':>17} {'mu_n':>7} {'95% CI':>15} "
          f"{'random':>8} {'oracle':>8} {'items':>6}")
    for r in ev.results:
        ci = ev.intervals.get(r.benchmark, {})
        o, n = ci.get("mu_o"), ci.get("mu_n")
        print(f"{r.benchmark:<11} {r.metric:<12} {r.score:8.2f} {_ci(o, 2):>17} {r.normalized:7.1f} {_ci(n, 1):>15} "
              f"{r.random:8.2f} {r.oracle:8.2f} {r.n_items:6d}")
    avg, low, high = ev.average
    where = "nothing written (--no-write)" if args.no_write else f"wrote {config.results_dir()}"
    print(f"average mu_n: {avg:.1f} {_ci((low, high), 1)}   ({where})")


def _benchmark_files(args: argparse.Namespace) -> None:
    """--benchmark-file / BENCHMARK_FILE: register the files (benchmarks.custom); BENCHMARKS=all then
    means their benchmarks, and the default pool their candidates when paper5 is not among them."""
    from benchmarks import custom
    from harness.core.pools import POOLS

    if args.benchmark_file:  # the environment carries them to anything this command starts
        os.environ[custom.ENV] = os.pathsep.join(filter(None, [os.environ.get(custom.ENV, ""), *args.benchmark_file]))
    names = custom.register_env()
    if names and args.benchmarks == "all":
        args.benchmarks = ",".join(names)
    models = custom.models_of([b for b in names if b in args.benchmarks.split(",")])
    if models and args.pool == "paper5" and not set(POOLS["paper5"]) <= set(models):
        args.pool = ",".join(models)
        print(f"pool: the benchmark file's candidates ({args.pool}); POOL= picks others", file=sys.stderr)


def _ci(ci: tuple[float, float] | None, digits: int) -> str:
    return "–" if ci is None or ci[0] != ci[0] else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _where_results(args: argparse.Namespace) -> None:
    """--results-dir / --publish pick the results tree for this command (see harness.core.config)."""
    if getattr(args, "results_dir", None):
        os.environ["HARNESS_RESULTS_DIR"] = args.results_dir
    if getattr(args, "publish", False):
        os.environ["HARNESS_PUBLISH"] = "1"


def cmd_leaderboard(args: argparse.Namespace) -> None:
    from harness.report import board

    board.render()
    print(f"wrote {board.md_path()}")


def cmd_models(args: argparse.Namespace) -> None:
    from benchmarks import BENCHMARKS, get_benchmark
    from harness.core import config, data

    data.ensure()
    for name in BENCHMARKS.names():
        print(f"{name}: {', '.join(get_benchmark(name).models(config.cache_root()))}")


def cmd_routers(args: argparse.Namespace) -> None:
    from routers import ROUTERS, load_all

    load_all(args.router_module)
    for name in ROUTERS.names():
        print(name)


def cmd_cost(args: argparse.Namespace) -> None:
    from harness.cost import runs as cost, paper_backbones as cost_paper
    from harness.report import board
    from routers import load_all

    load_all(args.router_module)
    if args.paper_backbones:
        paper = cost_paper.write_paper_costs(latency=args.latency)
        print(f"paper backbones at {paper['query_len']} tokens ({paper['tokenizer']} tokenizer): "
              f"{len(paper['rows'])} rows")
    else:
        done = cost.fill_leaderboard(args.router or None, sample_per_benchmark=args.sample, seed=args.seed,
                                     batch_size=args.batch_size, missing=args.missing)
        for r in done:
            print(f"{r['router']:<32} {r['pool']:<8} {r['protocol']:<5} {r['weights']:<10} "
                  f"GFLOPs {r['gflops']:.4g} (dense {r['gflops_dense']:.4g})  p50 {r['latency_ms']:.3g} ms  "
                  f"p95 {r['latency_p95_ms']:.3g} ms  activated {r['activated_params_b']['pooled']:.2f}B")
        board.render()
    cost_paper.render()
    print("results/cost.md updated")


def cmd_scalability(args: argparse.Namespace) -> None:
    from harness.core import runner
    from harness.experiments import scalability, scalability_plan as plan
    from routers import load_all

    load_all(args.router_module)
    if args.cost_sample < 1:
        raise HarnessError(f"--cost-sample {args.cost_sample}: use at least 1 query per benchmark")
    if args.jobs < 1:
        raise HarnessError(f"--jobs {args.jobs}: use at least 1 (runs trained side by side)")
    routers = [r for spec in args.routers for r in spec.replace(",", " ").split()]
    benchmarks = plan.ordered(set(runner.parse_benchmarks(args.benchmarks)))
    settings = plan.Settings(
        sizes=plan.parse_sizes(args.sizes), routers=routers or list(plan.DEFAULT_ROUTERS),
        benchmarks=benchmarks, profile=args.profile, seed=args.seed, folds=args.folds,
        alternative=plan.check_alternative(args.alternative), force=args.force,
        train=not args.no_train, measure=not args.no_measure, cost_sample=args.cost_sample, jobs=args.jobs,
        router_modules=list(args.router_module))
    print(f"wrote {scalability.run(settings)}")


def cmd_ablations(args: argparse.Namespace) -> None:
    from harness.experiments import ablations
    from harness.core import runner

    try:
        seeds = tuple(int(x) for x in args.seeds.replace(",", " ").split())
    except ValueError:
        raise HarnessError(f"--seeds {args.seeds!r}: expected integers, e.g. 0,1,2") from None
    routers = tuple(r for spec in args.routers for r in spec.replace(",", " ").split())
    settings = ablations.AblationSettings(profile=args.profile, pool=args.pool, protocol=args.protocol, seeds=seeds,
                                          folds=args.folds, train=not args.no_train,
                                          benchmarks=tuple(runner.parse_benchmarks(args.benchmarks)),
                                          routers=routers or tuple(v.router for v in ablations.VARIANTS),
                                          bootstrap=_settings(args))
    print(f"wrote {ablations.run(settings)}")


def _settings(args: argparse.Namespace):
    from harness.report.bootstrap import Settings

    if args.resamples < 100:
        raise HarnessError(f"--resamples {args.resamples}: use at least 100 (1000 for reported intervals)")
    return Settings(resamples=args.resamples, seed=args.bootstrap_seed)


def cmd_protocols(args: argparse.Namespace) -> None:
    from harness.core import runner
    from harness.experiments import protocols

    try:
        seeds = tuple(int(x) for x in args.seeds.replace(",", " ").split())
    except ValueError:
        raise HarnessError(f"--seeds {args.seeds!r}: expected integers, e.g. 0,1,2") from None
    routers = tuple(r for spec in args.routers for r in spec.replace(",", " ").split()) or protocols.DEFAULT_ROUTERS
    settings = protocols.Settings(pool=args.pool, routers=routers, protocols=tuple(args.protocols.split(",")),
                                  profile=args.profile, seeds=seeds, folds=args.folds, train=args.train,
                                  benchmarks=runner.parse_benchmarks(args.benchmarks), bootstrap=_settings(args))
    print(f"wrote {protocols.run(settings)}")


def cmd_compare(args: argparse.Namespace) -> None:
    from harness.report import build

    print(build.compare_routers(args.a, args.b, args.pool, args.protocol, _settings(args)))


def cmd_report(args: argparse.Namespace) -> None:
    from harness.report import build

    for path in build.write_report(_settings(args), args.pair or None, args.pool, args.protocol):
        print(f"wrote {path}")


def _bootstrap_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pool", default="paper5", help="pool of the routers named")
    p.add_argument("--protocol", default="cv", help="protocol of the learned routers named (references match any)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples over items")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the item resamples")


def cmd_serve(args: argparse.Namespace) -> None:
    from harness.core import runner
    from harness.serve import loading, server
    from routers import load_all

    load_all(args.router_module)
    common = dict(pool=args.pool, fit=args.fit, benchmarks=runner.parse_benchmarks(args.benchmarks),
                  profile=args.profile, seed=args.seed, folds=args.folds, options=_options(args.option))
    specs = [loading.RouterSpec(router=name, **common) for name in args.router]
    specs += [loading.RouterSpec(run=path, fold=args.fold) for path in args.run]
    if not specs:
        raise HarnessError("serve: name a router (--router NAME) or a run file (--run FILE)")
    server.run(server.build_service(args.config, specs), host=args.host, port=args.port, log_level=args.log_level)


def build_parser() -> argparse.ArgumentParser:
    parser = commands.Parser(prog="routing-harness", description=commands.DESCRIPTION, epilog=commands.EPILOG)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="fetch or copy the released cache and verify it")
    p.add_argument("--source", default=None, help="local copy of compressed_data/ (default: $ROUTING_DATA, "
                   "else download the pinned upstream commit)")
    p.add_argument("--force", action="store_true", help="replace an existing local copy")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("eval", help="evaluate a router; print mu_o/mu_n with intervals; update the scratch board")
    p.add_argument("--router", required=True, help="registered name, e.g. oracle, random, fixed:<model>")
    p.add_argument("--pool", default="paper5", help="pool name (paper5, paper3, paper8) or model,model,...")
    p.add_argument("--benchmarks", default="all", help="comma-separated benchmark names or 'all'")
    p.add_argument("--protocol", default="cv", help="cv, within, lobo or paper (learned routers only)")
    p.add_argument("--profile", default="cpu", help=commands.profile_help())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--random-draws", type=int, default=0, help="random router: Monte-Carlo draws to add")
    p.add_argument("--router-module", action="append", default=[], help="a .py file registering routers")
    p.add_argument("--option", action="append", default=[], help="router option KEY=VALUE")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--publish", action="store_true",
                       help="write into the committed results/ (default: the git-ignored scratch/ board)")
    where.add_argument("--results-dir", default=None, help="write into this results directory instead")
    where.add_argument("--no-write", action="store_true", help="write nothing; print the table with intervals")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the printed intervals")
    p.add_argument("--conventions", default="paper", help="scoring rules: paper (the authors') or official "
                   "(alpaca_eval, arena-hard-auto, FastChat); harness/core/conventions.py")
    p.add_argument("--benchmark-file", action="append", default=[], help="[NAME=]FILE: a prompt x candidate score "
                   "table as a benchmark of your own (CSV, JSONL, Parquet; RouterBench, EmbedLLM, RouterEval layouts)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("leaderboard", help="render results/leaderboard.md from the CSV")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("models", help="list the candidates the cache has per benchmark")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("cost", help="fill the leaderboard's cost columns (GFLOPs, latency, parameters)")
    p.add_argument("--router", action="append", default=[], help="router to measure (repeatable; default: "
                   "every leaderboard run, skipping routers that cannot be measured yet)")
    p.add_argument("--sample", type=int, default=16, help="queries per benchmark counted and timed")
    p.add_argument("--seed", type=int, default=0, help="seed of the query sample")
    p.add_argument("--batch-size", type=int, default=32, help="batch size of the throughput figure")
    p.add_argument("--missing", action="store_true", help="measure only runs without a cost file (others: "
                   "their stored figures are re-applied to every seed's rows)")
    p.add_argument("--paper-backbones", action="store_true", help="instead: GFLOPs of MLC and Lookahead on "
                   "the paper's backbones (random weights) for T = 3, 5, 8")
    p.add_argument("--latency", action="store_true", help="--paper-backbones: add batch-1 latency")
    p.add_argument("--router-module", action="append", default=[], help="a .py file registering routers")
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("scalability", help="results/scalability.md: scores and router cost, pools of T candidates")
    p.add_argument("--sizes", default="3,5,8", help="pool sizes T: the first T of paper5 + deepseek-coder-6.7b-"
                   "instruct, Llama-3.2-3B-Instruct, Qwen2.5-1.5B-Instruct")
    p.add_argument("--routers", action="append", default=[], help="learned routers (space/comma list, repeatable; "
                   "default: mlc lookahead_clm lookahead_mlm)")
    p.add_argument("--benchmarks", default="all", help="comma-separated benchmark names or 'all'")
    p.add_argument("--profile", default="cpu", help=commands.profile_help("learned routers"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--alternative", default="none", help="optional second table's pool: gemma6 (paper5 + "
                   "gemma-2-9b-it, T=6; trains its routers if their runs are missing) or none")
    p.add_argument("--no-train", action="store_true", help="only read existing runs (others: 'not run yet')")
    p.add_argument("--no-measure", action="store_true", help="only read existing cost figures")
    p.add_argument("--cost-sample", type=int, default=16, help="queries per benchmark counted and timed")
    p.add_argument("--force", action="store_true", help="re-evaluate and re-measure existing runs "
                   "(fold caches are still re-used)")
    p.add_argument("--jobs", type=int, default=1, help="runs to train side by side, the cores split between "
                   "them (2 on this 2-core CPU: 1.1-1.2x the throughput of one run; keep 1 on one GPU)")
    p.add_argument("--router-module", action="append", default=[], help="a .py file registering routers")
    p.set_defaults(func=cmd_scalability)

    p = sub.add_parser("compare", help="paired bootstrap comparison of two routers (average mu_n)")
    p.add_argument("a", help="router A as on the leaderboard; router@profile where it has several profiles")
    p.add_argument("b", help="router B (the same form)")
    _bootstrap_args(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="write results/analysis.md, results/site/index.html, leaderboard.md")
    p.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"), help="win/tie/loss pair "
                   "(repeatable; router@profile where it has several; default: lookahead* vs mlc and the "
                   "leader vs the runner-up)")
    _bootstrap_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("ablations", help="results/ablations.md: MLC, lookahead_mlm and its variants over seeds")
    p.add_argument("--profile", default="small", help="the reduced profile every row uses")
    p.add_argument("--seeds", default="0,1,2", help="training seeds of every row")
    p.add_argument("--routers", action="append", default=[], help="rows (space/comma list, repeatable; default: "
                   "mlc, lookahead_mlm and every lookahead_mlm_* variant)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--benchmarks", default="all", help="benchmarks of the runs it trains")
    p.add_argument("--no-train", action="store_true", help="only read existing runs (others: 'not run yet')")
    _bootstrap_args(p)
    p.set_defaults(func=cmd_ablations)

    p = sub.add_parser("protocols", help="results/protocols.md: cv, within and lobo per router, skill beyond the task")
    p.add_argument("--routers", action="append", default=[], help="rows: router or router@profile (space/comma "
                   "list, repeatable; default: knn mlc@small routerdc@small lookahead_mlm@small task_best task_rules)")
    p.add_argument("--protocols", default="cv,within,lobo", help="columns: some of cv, within, lobo")
    p.add_argument("--profile", default="cpu", help="profile of routers named without @profile")
    p.add_argument("--seeds", default="0", help="training seeds of every row")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--benchmarks", default="all", help="benchmarks of the runs it trains")
    p.add_argument("--train", action="store_true", help="run missing cells first, one at a time (else 'not run yet')")
    _bootstrap_args(p)
    p.set_defaults(func=cmd_protocols)

    commands.add_grading_commands(sub)  # regrade, import, export, judge

    p = sub.add_parser("serve", help="serve routers as an OpenAI-compatible routing server (docs/serving.md)")
    p.add_argument("--config", required=True, help="candidates' upstream endpoints, YAML or JSON (docs/serving.md)")
    p.add_argument("--router", action="append", default=[], help="router to serve as router-<name> (repeatable)")
    p.add_argument("--fit", default="pool", help="what --router is fitted on: pool (every item of the pool's "
                   "benchmarks), cv:K (fold K's training items), paper (the paper protocol's training sets)")
    p.add_argument("--run", action="append", default=[], help="a run file: serve its router for --fold, loaded "
                   "from the fold cache (else refitted on that fold's training items)")
    p.add_argument("--fold", type=int, default=0, help="--run: the cv fold whose router is served")
    p.add_argument("--pool", default="paper5", help="pool name (paper5, paper3, paper8) or model,model,...")
    p.add_argument("--benchmarks", default="all", help="--fit pool/cv:K: the benchmarks whose items it fits on")
    p.add_argument("--profile", default="cpu", help=commands.profile_help("learned routers"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5, help="--fit cv:K: folds of the cv protocol")
    p.add_argument("--option", action="append", default=[], help="router option KEY=VALUE")
    p.add_argument("--router-module", action="append", default=[], help="a .py file registering routers")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="warning", help="uvicorn's log level")
    p.set_defaults(func=cmd_serve)

    from harness.candidates.pipeline import add_parser as add_candidate  # issue 25: `candidate`
    add_candidate(sub)

    costcurve.add_parser(sub, _bootstrap_args)  # harness/costcurve.py

    p = sub.add_parser("routers", help="list registered routers")
    p.add_argument("--router-module", action="append", default=[])
    p.set_defaults(func=cmd_routers)
    return parser


def main(argv: list[str] | None = None) -> int:
    commands.quiet_third_party()
    args = build_parser().parse_args(argv)
    with sigterm.raised():
        try:
            args.func(args)
        except HarnessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
        except sigterm.Terminated as exc:
            print(sigterm.message(args, exc), file=sys.stderr)
            return sigterm.EXIT_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main())
