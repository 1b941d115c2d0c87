"""What makes ``routing-harness`` explain itself, and the grading subcommands, beside
:mod:`harness.cli` (the entry point, which builds the parser from both).

* :class:`Parser` / :class:`HelpFormatter`: every subcommand's ``--help`` shows each option's default
  (options without a help text too), and the descriptions keep their line breaks.
* :func:`quiet_third_party`: third-party warnings that say nothing to the user are silenced.
* :func:`check_router`: an unknown router name that is no near-miss of a known one is probably a
  plug-in whose file was not loaded: say how to load it (``ROUTER_MODULE`` / ``--router-module``).
* ``regrade``, ``import``, ``export``, ``judge``: :func:`add_grading_commands`.

Top layer, beside the CLI: may import everything in ``harness``; nothing imports it but the CLI.
"""
from __future__ import annotations

import argparse
import os
import re
import warnings

from harness.core.errors import HarnessError

DESCRIPTION = """\
Evaluate LLM routers on the cached answers and judgments of seven benchmarks (AlpacaEval-2,
Arena-Hard, MT-Bench, GSM8K, MATH, HumanEval, MBPP) and keep a leaderboard of them.

Runs write to scratch/ (git-ignored) unless --publish / PUBLISH=1; --no-write writes nothing."""

EPILOG = """\
examples:
  routing-harness eval --router oracle                       reference router, seconds
  routing-harness eval --router knn --profile small          a learned router, cross-validated
  routing-harness eval --router mine --router-module my_routers.py
  routing-harness report                                     intervals, analysis.md, site/index.html
  routing-harness import --format evalplus --file samples.jsonl --model my-coder

'routing-harness COMMAND --help' shows a command's options and their defaults."""

FORMATS = ("alpaca_eval", "arena_hard", "mt_bench", "opencompass", "evalplus", "lm_eval", "bundle")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option's help ends with its default when it has one."""

    @staticmethod
    def _shows_default(action: argparse.Action) -> bool:
        default = action.default
        return bool(action.option_strings) and default is not argparse.SUPPRESS \
            and default is not None and default is not False and default != [] \
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "%(default)" in help_text or "default:" in help_text or not self._shows_default(action):
            return help_text
        return f"{help_text} (default: %(default)s)".strip()

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._shows_default(action):  # an option with no help still shows its default
            action = argparse.Action(**{k: getattr(action, k) for k in (
                "option_strings", "dest", "nargs", "const", "default", "type", "choices", "required", "metavar")},
                help="(default: %(default)s)")
        return super()._format_action(action)


class Parser(argparse.ArgumentParser):
    """The CLI's parser: subcommands made with ``add_subparsers`` are of this class too, so every
    subcommand gets :class:`HelpFormatter`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def profile_help(what: str = "learned routers only") -> str:
    from routers.profiles import PROFILES

    return f"{', '.join(PROFILES)} ({what}; routers/profiles.py says what each trains)"


def quiet_third_party() -> None:
    """Warnings of libraries that the user can do nothing about: alpaca_eval's import of
    pkg_resources (deprecated by setuptools), and the like."""
    warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(alpaca_eval|pkg_resources|fire)\b")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|huggingface_hub)\b")


def check_router(name: str, modules: list[str]) -> None:
    """The name's router exists (loading its lazy module), else one line: near-miss suggestions from
    the registry, or how to load a plug-in's file."""
    from routers import ROUTERS

    try:
        ROUTERS.resolve(name)
    except HarnessError as exc:
        message = str(exc)
        if "did you mean" not in message and message.startswith("unknown"):
            loaded = [*modules, *[p for p in os.environ.get("ROUTER_MODULE", "").split(os.pathsep) if p]]
            if loaded:
                message += (f"; loaded {', '.join(loaded)}, but none registers '{name}' "
                            f"(@register_router(\"{name}\"))")
            else:
                message += ("; if it is a router of your own, load its file: ROUTER_MODULE=my_routers.py "
                            "(make) or --router-module my_routers.py")
        raise HarnessError(message) from None


# ---------------------------------------------------------------------------------------------
# regrade, import, export, judge (no argparse ``choices``: a wrong value is a one-line error, exit 2)

def _partial_tag(pool: str, limit: int | None) -> str:
    """'' for a full paper5 re-grade (the report results/regrade/ keeps); otherwise a suffix, so a
    partial run never replaces that report."""
    tag = "" if pool == "paper5" else "__pool-" + re.sub(r"[^A-Za-z0-9._+-]+", "+", pool)[:80]
    return tag + ("" if limit is None else f"__first{limit}")


def cmd_regrade(args: argparse.Namespace) -> None:
    from harness.core.pools import POOLS, resolve_pool
    from harness.grading import regrade

    if args.limit is not None and args.limit < 1:
        raise HarnessError(f"--limit {args.limit}: use at least 1 item")
    if args.write and args.limit is not None:
        raise HarnessError("--write with --limit: a re-graded candidate needs every item; drop --limit")
    # one model is allowed here (a pool needs two): re-grading is per model
    models = resolve_pool(args.pool)[1] if args.pool in POOLS or "," in args.pool else [args.pool.strip()]
    _, text = regrade.regrade_benchmark(args.benchmark, models, limit=args.limit, write=args.write,
                                        partial=_partial_tag(args.pool, args.limit))
    print(text)
    if args.write:
        print(f"wrote candidates {', '.join(m + regrade.REGRADED_SUFFIX for m in models)} "
              f"(name them in POOL= to score {args.benchmark} with re-graded flags)")


def cmd_import(args: argparse.Namespace) -> None:
    from harness.core.io import read_json
    from harness.grading.import_record import BenchmarkSummary, manifest_path
    from harness.grading.importers import import_model

    written = import_model(args.format, args.file, args.model, source=args.source, force=args.force,
                           allow_missing=args.allow_missing)
    for path in written:
        print(f"import: wrote {path}")
    record = read_json(manifest_path(args.model))
    for bench, figures in record.get("benchmarks", {}).items():
        print(BenchmarkSummary(bench, **figures).line(args.model))
    print(f"import: recorded in {manifest_path(args.model)} (file hashes; run files reference it)")
    print(f"import: '{args.model}' can now be named in POOL=")


def cmd_export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from harness.grading import importers

    fmt, out = args.format, Path(args.out)
    if fmt in ("evalplus", "lm_eval") and not args.benchmark:
        raise HarnessError(f"--format {fmt}: name the benchmark (--benchmark "
                           f"{'humaneval or mbpp' if fmt == 'evalplus' else 'gsm8k or math'})")
    if fmt == "bundle":
        path = importers.export_bundle(args.model, out)
    elif fmt in ("evalplus", "lm_eval"):
        path = getattr(importers, f"export_{fmt}")(args.model, out, args.benchmark)
    elif fmt in FORMATS:
        path = getattr(importers, f"export_{fmt}")(args.model, out)
    else:
        raise HarnessError(f"--format {args.format}: expected one of {', '.join(FORMATS)}")
    print(f"export: wrote {path}")


def cmd_judge(args: argparse.Namespace) -> None:
    from pathlib import Path

    from harness.grading import judge_run

    done = judge_run.judge_answers(args.benchmark, Path(args.answers), args.model, Path(args.out),
                                   baseline=Path(args.baseline) if args.baseline else None, limit=args.limit,
                                   workers=args.workers)
    print(f"judge: {done.items} items judged; wrote {done.path}")
    print(done.tally.line())
    fmt = judge_run.IMPORT_FORMAT[args.benchmark]
    if args.then_import:
        args.format, args.file, args.source = fmt, str(done.path), None
        cmd_import(args)
    else:
        print(f"next: routing-harness import --format {fmt} --file {done.path} --model {args.model}")


def _format(name: str) -> str:
    return name.strip().replace("-", "_").lower()  # alpaca-eval, Alpaca_Eval: alpaca_eval


def add_grading_commands(sub) -> None:
    p = sub.add_parser("regrade", help="re-grade cached GSM8K/MATH (math-verify) or HumanEval/MBPP (sandbox)",
                       description="Re-grade the cached answers natively and report agreement with the cached "
                       "verdicts.\nA full paper5 run writes results/regrade/<benchmark>.{md,json}; --limit or "
                       "another --pool\nwrites a suffixed file beside it (<benchmark>__first<N>..., never the "
                       "full report).")
    p.add_argument("--benchmark", required=True, help="gsm8k, math, humaneval or mbpp")
    p.add_argument("--pool", default="paper5", help="pool name, model,model,... or one model")
    p.add_argument("--limit", type=int, default=None, help="only the first N items (a quick look)")
    p.add_argument("--write", action="store_true", help="also store <model>-regraded candidates")
    p.set_defaults(func=cmd_regrade)

    p = sub.add_parser("import", help="import a model's outputs from a tool's native format",
                       description="Import a model's outputs as a new candidate (then name it in POOL=).\n"
                       "Prints the items and the model's own metric per benchmark, and records the import\n"
                       "(file hashes) in <cache>/imports/<model>.json. Formats: docs/grading.md.")
    p.add_argument("--format", required=True, type=_format, help=f"the tool that wrote --file: {', '.join(FORMATS)}")
    p.add_argument("--file", required=True, help="the tool's output file or folder (alpaca_eval: results/<model> "
                   "or its annotations.json; bundle: a .rh-import.tar.gz)")
    p.add_argument("--model", required=True, help="name of the new candidate")
    p.add_argument("--source", default=None, help="the model's name inside the files, when they hold several")
    p.add_argument("--allow-missing", type=int, default=0, metavar="N", help="alpaca_eval, evalplus, lm_eval: import "
                   "even if up to N items have no annotation / sample; pools naming the model drop them (n_dropped)")
    p.add_argument("--force", action="store_true", help="replace an existing candidate of that name")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write a candidate in a tool's native format, or as a bundle to share",
                       description="Write a candidate's cached files in a tool's native format (round trip with\n"
                       "import), or --format bundle: an imported candidate's exact files and import record,\n"
                       "to re-import elsewhere with 'import --format bundle' (same bytes, same hashes).")
    p.add_argument("--format", required=True, type=_format, help=", ".join(FORMATS))
    p.add_argument("--model", required=True, help="the candidate, as named in POOL=")
    p.add_argument("--out", default="export", help="folder to write into")
    p.add_argument("--benchmark", default=None, help="evalplus: humaneval or mbpp; lm_eval: gsm8k or math")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("judge", help="judge a new model's answers (AlpacaEval, Arena-Hard, MT-Bench) for import",
                       description="Judge a model's answers through an OpenAI-compatible endpoint and write the\n"
                       "judgments in the tool's own format, ready for 'import'. Needs JUDGE_BASE_URL and\n"
                       "JUDGE_MODEL (JUDGE_API_KEY, JUDGE_PRICE_IN/OUT, JUDGE_TIMEOUT optional; docs/grading.md).\n"
                       "Every call is cached on disk: an interrupted run resumes.")
    p.add_argument("--benchmark", required=True, help="alpacaeval, arenahard or mtbench")
    p.add_argument("--answers", required=True, help="the model's answers: alpaca_eval model_outputs.json, "
                   "arena-hard-auto model_answer/<model>.jsonl or FastChat model_answer/<model>.jsonl")
    p.add_argument("--model", required=True, help="name of the new candidate")
    p.add_argument("--out", default="judged", help="folder to write the judgments into")
    p.add_argument("--baseline", default=None, help="arenahard: arena-hard-auto's model_answer/gpt-4-0314.jsonl")
    p.add_argument("--limit", type=int, default=None, help="only the first N items (a quick, cheap look)")
    p.add_argument("--workers", type=int, default=8, help="requests in flight at once")
    p.add_argument("--import", dest="then_import", action="store_true", help="then import the judged model")
    p.add_argument("--allow-missing", type=int, default=0, metavar="N", help="--import of alpacaeval: as for import")
    p.add_argument("--force", action="store_true", help="--import: replace an existing candidate of that name")
    p.set_defaults(func=cmd_judge)
