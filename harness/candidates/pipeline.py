"""``routing-harness candidate`` (``make candidate``): a new model to a pool member in one command.

1. Check everything that can be checked before generating (names, backends, tasks, an existing
   candidate of that name, the endpoint, the judge's settings): one line, exit 2.
2. GSM8K, MATH, HumanEval, MBPP: lm-evaluation-harness generates (:mod:`.generate_lmeval`); its
   samples are re-graded by the harness and imported (``FORMAT=lm_eval``:
   :mod:`harness.grading.import_lmeval`).
3. AlpacaEval, Arena-Hard, MT-Bench: answers from the endpoint (:mod:`.generate_chat`), judged
   (:mod:`.judge_chat`) and imported with the tools' own importers.
4. ``<cache>/candidates/<model>.json`` (and ``<work>/candidate.json``): per benchmark, what produced
   the answers (lm-eval version, task and its YAML's sha256, prompt template, few-shot count,
   generation settings, model arguments; or endpoint, template and settings), the files kept, the
   judge, and the imported items and score. Every stored answer also carries its own ``generation``.

An interrupted run resumes: lm-eval's request cache and the per-answer files are kept in the work
folder (``data/candidates/<model>/`` unless ``--work-dir``), and the judge client has its own cache.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from harness.candidates import settings as settings_
from harness.candidates.settings import CHAT_BENCHMARKS, LMEVAL_BENCHMARKS, CandidateSpec
from harness.core import config, provenance
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, read_json


def preflight(spec: CandidateSpec):
    """Every check that needs no generation; returns the judge client (None when not judging)."""
    from benchmarks import get_benchmark
    from harness.candidates import lmeval_tasks
    from harness.core import data

    settings_.check(spec)
    data.ensure()
    root = config.cache_root()
    taken = [b for b in spec.benchmarks if spec.model in get_benchmark(b).models(root)]
    if taken and not spec.force:
        raise HarnessError(f"model '{spec.model}' already exists for {', '.join(taken)} in {root}; choose another "
                           "MODEL or pass --force (FORCE=1) to replace it")
    for b in (b for b in spec.benchmarks if b in LMEVAL_BENCHMARKS):
        lmeval_tasks.resolve(b, spec.tasks.get(b))
    if not any(b in CHAT_BENCHMARKS for b in spec.benchmarks) or not spec.judge:
        return None
    from harness.grading import judge

    client = judge.JudgeClient(judge.JudgeConfig.from_env())
    if "arenahard" in spec.benchmarks:
        judge.arena_hard_config()
    return client


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _imported(model: str, fmt: str, path: Path, spec: CandidateSpec, allow_missing: int) -> dict:
    """Import, then the import record's per-benchmark figures."""
    from harness.grading import import_record
    from harness.grading.importers import DROPPING, import_model

    import_model(fmt, path, model, force=spec.force, allow_missing=allow_missing if fmt in DROPPING else 0)
    return read_json(import_record.manifest_path(model))["benchmarks"]


def lmeval_part(spec: CandidateSpec, benchmarks: list[str], record: dict) -> None:
    from harness.candidates import generate_lmeval

    run = generate_lmeval.run(spec, benchmarks)
    res = run.results
    generated = {t.benchmark: min(spec.limit or t.n_items, t.n_items) for t in run.tasks}
    allow = max(t.n_items - generated[t.benchmark] for t in run.tasks)
    figures = _imported(spec.model, "lm_eval", run.folder, spec, allow)
    for t in run.tasks:
        cfg = res.get("configs", {}).get(t.name, {})
        samples = next(p for p in run.samples() if p.name.startswith(f"samples_{t.name}_"))
        record[t.benchmark] = {
            "generator": "lm-evaluation-harness", "lm_eval_version": res.get("lm_eval_version"),
            "transformers_version": res.get("transformers_version"), "backend": run.backend,
            "model_args": run.model_args, "task": t.task, "task_yaml": str(t.source),
            "task_yaml_sha256": _sha256(t.source), "local_task": t.name, "docs": str(t.docs),
            "prompt_template": cfg.get("doc_to_text"), "num_fewshot": res.get("n-shot", {}).get(t.name),
            "generation_kwargs": cfg.get("generation_kwargs"), "overrides": run.gen_kwargs,
            "chat_template": bool(res.get("chat_template")), "filters": [f.get("name") for f in cfg.get("filter_list") or []],
            "samples": str(samples), "samples_sha256": _sha256(samples), "results_file": str(next(run.folder.glob("**/results_*.json"))),
            "generated": generated[t.benchmark], "seconds_all_tasks": round(run.seconds, 1),
            "imported": figures.get(t.benchmark)}


def chat_part(spec: CandidateSpec, benchmarks: list[str], record: dict, client) -> None:
    from harness.candidates import chat_prompts, generate_chat, judge_chat

    endpoint = generate_chat.Endpoint(spec)
    endpoint.check()
    for b in benchmarks:
        started = time.time()
        records = generate_chat.generate(spec, b, endpoint)
        entry = {"generator": "OpenAI-compatible endpoint (openai client)", "endpoint": spec.base_url,
                 "endpoint_model": spec.name_at_endpoint,
                 "template": chat_prompts.template_name(b, spec.model, spec.conv_template),
                 "settings": sorted({tuple(sorted(r["generation"]["settings"].items())) for r in records}),
                 "generated": len(records), "answers": str(spec.work / "chat" / b)}
        if client is not None:
            fmt, path, allow = judge_chat.judge_and_write(spec, b, records, client)
            entry.update(judge=client.cfg.model, judged=str(path), imported=_imported(spec.model, fmt, path, spec,
                                                                                      allow).get(b))
        entry["seconds"] = round(time.time() - started, 1)
        record[b] = entry
    if client is not None:
        print(client.tally.line())


def run_candidate(spec: CandidateSpec) -> dict:
    """Generate, grade or judge, import; the candidate record (also written to the cache)."""
    client = preflight(spec)
    started = time.time()
    record: dict = {"model": spec.model, "created": provenance.now(), "commit": provenance.git_commit(),
                    "work_dir": str(spec.work), "limit": spec.limit, "benchmarks": {}}
    lm = [b for b in spec.benchmarks if b in LMEVAL_BENCHMARKS]
    chat = [b for b in spec.benchmarks if b in CHAT_BENCHMARKS]
    if lm:
        lmeval_part(spec, lm, record["benchmarks"])
    if chat:
        chat_part(spec, chat, record["benchmarks"], client)
    record["seconds"] = round(time.time() - started, 1)
    atomic_write_json(spec.work / "candidate.json", record)
    atomic_write_json(config.cache_root() / "candidates" / f"{spec.model}.json", record)
    return record


# ---------------------------------------------------------------------------------------------
# the CLI

def add_parser(sub) -> None:
    p = sub.add_parser("candidate", help="add a model: generate (lm-eval, an OpenAI-compatible endpoint), grade, "
                       "judge, import as a candidate")
    p.add_argument("--model", required=True, help="the new candidate's name (then a POOL= entry)")
    p.add_argument("--benchmarks", default="all", help="comma list of gsm8k, math, humaneval, mbpp, alpacaeval, "
                   "arenahard, mtbench; all = the first four, and the chat three when --base-url is given")
    p.add_argument("--pretrained", help="local weights for lm-eval's hf backend: a folder, a hub id, or a .gguf file")
    p.add_argument("--gguf-file", help="a GGUF file inside --pretrained (transformers dequantizes it)")
    p.add_argument("--base-url", help="an OpenAI-compatible endpoint serving the model, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--endpoint-model", help="the model's name at the endpoint (default: --model)")
    p.add_argument("--api-key", default="none", help="the endpoint's key (default: none)")
    p.add_argument("--backend", choices=settings_.BACKENDS, help="lm-eval backend (default: hf with --pretrained, "
                   "else local-completions)")
    p.add_argument("--task", action="append", default=[], help="BENCHMARK=LM_EVAL_TASK (repeatable), e.g. "
                   "gsm8k=gsm8k_cot; defaults: gsm8k_cot_zeroshot, hendrycks_math, humaneval, mbpp")
    p.add_argument("--limit", type=int, help="only the first N items of each benchmark (a quick look; pools "
                   "naming the model drop the others)")
    p.add_argument("--max-tokens", type=int, help="cap every benchmark's own generation length")
    p.add_argument("--temperature", type=float, help="replace every benchmark's own temperature")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (endpoints)")
    p.add_argument("--batch-size", type=int, default=1, help="lm-eval hf backend batch size")
    p.add_argument("--device", default="cpu", help="lm-eval hf backend device (cpu, cuda:0 ...)")
    p.add_argument("--threads", type=int, help="lm-eval hf backend: torch threads (default: torch's; 1 on a "
                   "crowded CPU, where spinning threads cost more than they give)")
    p.add_argument("--apply-chat-template", action="store_true", help="lm-eval: render prompts with the "
                   "model's chat template")
    p.add_argument("--conv-template", help="FastChat conversation template for MT-Bench (default: FastChat's for --model)")
    p.add_argument("--work-dir", help="where generations are kept and resumed (default: data/candidates/<model>)")
    p.add_argument("--no-judge", action="store_true", help="chat benchmarks: generate only")
    p.add_argument("--force", action="store_true", help="replace an existing candidate of that name")
    p.set_defaults(func=cmd_candidate)


def spec_from_args(args: argparse.Namespace) -> CandidateSpec:
    return CandidateSpec(
        model=args.model, benchmarks=settings_.parse_benchmarks(args.benchmarks, bool(args.base_url)),
        pretrained=args.pretrained, gguf_file=args.gguf_file, base_url=args.base_url,
        endpoint_model=args.endpoint_model, api_key=args.api_key, backend=args.backend,
        tasks=settings_.parse_tasks(args.task), limit=args.limit, max_tokens=args.max_tokens,
        temperature=args.temperature, concurrency=args.concurrency, batch_size=args.batch_size, device=args.device,
        threads=args.threads,
        apply_chat_template=args.apply_chat_template, conv_template=args.conv_template,
        work_dir=Path(args.work_dir) if args.work_dir else None, judge=not args.no_judge, force=args.force)


def cmd_candidate(args: argparse.Namespace) -> None:
    from harness.core.pools import PAPER5

    record = run_candidate(spec_from_args(args))
    for bench, entry in record["benchmarks"].items():
        fig = entry.get("imported")
        what = (f"{fig['items']} items ({fig['dropped']} left out), {fig['metric']} {fig['score']:.2f}" if fig
                else f"{entry['generated']} answers, not judged")
        print(f"candidate: {record['model']} on {bench}: {what}")
    done = ",".join(b for b, e in record["benchmarks"].items() if e.get("imported"))
    print(f"candidate: record {config.cache_root() / 'candidates' / (record['model'] + '.json')}")
    if done:
        print(f"next: make eval ROUTER=fixed:{record['model']} POOL={','.join([*PAPER5, record['model']])} "
              f"BENCHMARKS={done}")
