"""``results/diagnostics.md`` (``make diagnostics``): can every learned router learn, before and after
the setup fixes of issue 20?

For every learned router and Lookahead variant: known-answer accuracy
(:mod:`harness.experiments.known_answer`) with today's setup and with the setup before the fixes
(the options that restore it), the routing and response loss curves of those fits, and how far apart
each Lookahead router's MID tokens start (embedding rows, and the cosine of their input states).
Each case's figures are kept under ``data/cache/diagnostics/`` (keyed by its settings), so an
interrupted regeneration resumes; ``--only`` runs some cases.

Usage: python -m harness.experiments.diagnostics [--only=case,...] [--setups=now,before] [--no-render]
Imports: core, experiments.known_answer, experiments.frequency_baseline and ``routers``.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from harness.core import config, provenance
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text
from harness.core.pools import PAPER5
from harness.experiments import known_answer as ka
from harness.experiments.frequency_baseline import span, untrained
from routers.profiles import settings

# 130 training items (14 of the 144 carved for validation): 9 steps an epoch at batch 16, 36 in all
# (the CLM: 17 at batch 8, 2 epochs); one thread each, so two cases can run side by side. fp32, so the
# figures do not hang on whether a CPU has native bf16 (the small and cpu profiles' default is bf16
# autocast; tests/test_known_answer.py checks Lookahead-MLM and MLC under it too)
KA_OPTIONS: dict[str, Any] = {"epochs": 4, "max_query_len": 48, "num_threads": 1, "precision": "fp32"}
OLD_MLM = {"mid_init": "asis", "span_positions": "restart"}  # MiniLM's [unused] rows as shipped
OLD_CLM = {"num_layers": 4, "max_response_len": 16}  # the old cpu profile: 4 of 30 layers


@dataclass(frozen=True)
class Case:
    name: str  # row label
    router: str
    profile: str = "small"
    options: dict[str, Any] = field(default_factory=dict)  # today's setup: profile defaults + these
    before: dict[str, Any] | None = None  # options restoring the setup before the fixes (None: unchanged)


CASES: tuple[Case, ...] = (
    Case("mlc", "mlc"), Case("zooter", "zooter"), Case("routerdc", "routerdc"),
    Case("knn", "knn", options={"k": 10}), Case("kmeans", "kmeans", options={"k": 10}),
    Case("lookahead_mlm", "lookahead_mlm", before=OLD_MLM),
    Case("lookahead_mlm_nolm", "lookahead_mlm_nolm", before=OLD_MLM),
    Case("lookahead_mlm_nocurr", "lookahead_mlm_nocurr", before=OLD_MLM),
    Case("lookahead_mlm_startmask", "lookahead_mlm_startmask", before=OLD_MLM),
    Case("lookahead_mlm_randmask", "lookahead_mlm_randmask", before=OLD_MLM),
    Case("lookahead_mlm_separate", "lookahead_mlm_separate", before={"mid_init": "asis"}),
    Case("lookahead_clm", "lookahead_clm", options={"epochs": 2}, before=OLD_CLM),  # 34 steps of 8
    # an alternative tried for the cpu budget: the whole LM, only its top 4 layers trained
    Case("lookahead_clm[train_layers=4]", "lookahead_clm", options={"epochs": 2, "train_layers": 4}),
)


def case(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise HarnessError(f"diagnostics: no case '{name}' (known: {', '.join(c.name for c in CASES)})")


def _learned(c: Case) -> bool:
    return not c.router.startswith(("knn", "kmeans"))


def case_options(c: Case, setup: str) -> dict[str, Any]:
    extra = c.before if setup == "before" else {}
    return {**(KA_OPTIONS if _learned(c) else {}), **c.options, **(extra or {})}


def _cache_path(c: Case, setup: str, kind: str):
    """Keyed by the router's resolved config (profile defaults included), so a changed default re-measures."""
    resolved = ka.build(c.router, c.profile, case_options(c, setup), list(PAPER5)).config()
    key = json.dumps([c.router, c.profile, resolved, kind], sort_keys=True, default=str)
    return config.parsed_cache_dir() / "diagnostics" / f"{c.name}__{setup}__{kind}__{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def measure(c: Case, setup: str, data: ka.KnownAnswer) -> dict[str, Any]:
    """Known-answer accuracy, loss curves and MID distances of one case and setup (cached)."""
    path = _cache_path(c, setup, "known_answer")
    if path.exists():
        return json.loads(path.read_text())
    print(f"diagnostics: {c.name} ({setup})", file=sys.stderr, flush=True)
    out = ka.known_answer(c.router, c.profile, case_options(c, setup), data)
    router = out.pop("router_obj")
    out["mid"] = mid_distances(router) if hasattr(router, "mid_ids") else None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(out, default=float))
    return out


def mid_distances(router) -> dict[str, float]:
    """How far apart a fitted router's MID tokens are: the smallest distance between two MID rows of
    the input embedding, the mean distance between ordinary tokens, and the largest cosine between
    two MID tokens' input states (BERT: the embedding layer's output at one position)."""
    import torch

    model = router.model
    lm = getattr(model, "mlm", None) or model.lm
    weight = lm.get_input_embeddings().weight.detach().float()
    ids = list(router.mid_ids)
    mids = weight[ids]
    sample = weight[torch.arange(2000, 3000)]
    off = ~torch.eye(len(ids), dtype=torch.bool)
    out = {"mid_min_distance": float(torch.cdist(mids, mids)[off].min()),
           "token_mean_distance": float(torch.cdist(sample, sample).sum() / (1000 * 999))}
    with torch.no_grad():
        if hasattr(lm, "bert"):  # the states the encoder's first layer reads: words + position + LayerNorm
            states = lm.bert.embeddings(input_ids=torch.tensor([ids], device=weight.device).T)[:, 0].float()
        else:
            states = mids
        normed = torch.nn.functional.normalize(states, dim=-1)
        out["mid_max_cosine"] = float((normed @ normed.T)[off].max())
    return {k: round(v, 3) for k, v in out.items()}


def start_distances(c: Case, setup: str) -> dict[str, float] | None:
    """MID distances of the untrained router (how far apart the MID tokens start), cached."""
    if not c.router.startswith("lookahead"):
        return None
    path = _cache_path(c, setup, "mid_start")
    if path.exists():
        return json.loads(path.read_text())
    router = ka.build(c.router, c.profile, case_options(c, setup), list(PAPER5))
    router.init_untrained()
    out = mid_distances(router)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(out))
    return out


def _cached(c: Case, setup: str, kind: str) -> dict[str, Any] | None:
    path = _cache_path(c, setup, kind)
    return json.loads(path.read_text()) if path.exists() else None


def _setting_text(options: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (options or {}).items()) or "–"


def _acc(result: dict[str, Any] | None) -> str:
    if result is None:
        return "not measured"
    mark = "" if result["accuracy"] >= ka.PASS else " ✗"
    return f"{result['accuracy']:.2f}{mark}"


def _share(result: dict[str, Any] | None, models: list[str]) -> str:
    if result is None:
        return "–"
    return " / ".join(f"{s:.2f}" for s in result["routing_share"])


def _losses(result: dict[str, Any] | None) -> str:
    t = (result or {}).get("training") or {}
    if not t.get("routing_loss_curve"):
        return "–"
    text = f"routing {t['routing_loss_first']:.2f} → {t['routing_loss_curve'][-1]:.2f}"
    if t.get("response_loss_curve"):
        text += (f"; response {t['response_loss_first']:.2f} → {t['response_loss_curve'][-1]:.2f} "
                 f"(lowest 10-step mean {t['response_loss_min']:.2f})")
    if t.get("flags"):
        text += "; flagged: response objective did not train"
    return text


def _mid(d: dict[str, Any] | None, tokens: bool = True) -> str:
    if not d:
        return "–"
    if not tokens:  # after training: the ordinary tokens' spread is the start's (they barely move)
        return f"{d['mid_min_distance']:.2f} / {d['mid_max_cosine']:.2f}"
    return f"{d['mid_min_distance']:.2f} / {d['token_mean_distance']:.2f} / {d['mid_max_cosine']:.2f}"


def render() -> str:
    stamp = provenance.stamp()
    fits = [r["seconds"] for c in CASES for setup in ("now", "before") if (r := _cached(c, setup, "known_answer"))]
    lines = ["# Diagnostics: can every learned router learn?", "",
             f"Regenerate: `make diagnostics` (cases already measured are read from data/cache/diagnostics/; "
             f"measuring all {len(fits)} took {sum(fits) / 60:.0f} min of fits on this project's shared 2-core "
             f"machine). Code {stamp['commit']}, data manifest {stamp['data_manifest']}, written {stamp['created']}.",
             "",
             "**Known answer** (harness/experiments/known_answer.py, tests/test_known_answer.py): 144 real items "
             "of the cache (48 chat: AlpacaEval and Arena-Hard; 48 math: GSM8K and MATH; 48 code: HumanEval and "
             "MBPP) with their real answers, labelled by task alone: chat → Yi-1.5-34B-Chat, math → "
             "internlm2_5-20b-chat, code → Qwen2.5-Coder-7B-Instruct. Accuracy = share of 72 held-out items of "
             f"the same tasks routed to their target; every router must reach {ka.PASS} (✗: below). Learned "
             f"routers train on profile `small` with {_setting_text(KA_OPTIONS)} (a few dozen steps); knn and "
             "kmeans use k = 10 (k = 100 exceeds the 130 training items). 'Before' restores the setup the "
             "leaderboard's runs used; 'shares' are the held-out items' routing shares over the paper5 pool "
             f"({', '.join(PAPER5)}).", "",
             "| Router | Accuracy now | Shares now | Before: setting | Accuracy before | Shares before |",
             "|---|---|---|---|---|---|"]
    for c in CASES:
        now, before = _cached(c, "now", "known_answer"), _cached(c, "before", "known_answer")
        lines.append(f"| {c.name} | {_acc(now)} | {_share(now, PAPER5)} | "
                     + (f"{_setting_text(c.before)} | {_acc(before)} | {_share(before, PAPER5)} |"
                        if c.before is not None else "unchanged | – | – |"))
    lines += ["", "## Loss curves of those fits", "",
              "First step → mean of the last tenth of training (the run files now log both per fold: "
              "`routing_loss_curve`, `response_loss_curve`, `response_loss_min`, and `flags` when the response "
              "loss never fell below the profile's `response_loss_threshold`, "
              f"{settings('small', 'lookahead_mlm')['response_loss_threshold']} nats, or below the loss of "
              "predicting each response token from its position alone; uniform over the vocabulary is 10.3 for "
              "MiniLM, 10.8 for SmolLM2).", "",
              "| Router | Now | Before |", "|---|---|---|"]
    for c in CASES:
        if not c.router.startswith("lookahead"):
            continue
        before = _losses(_cached(c, "before", "known_answer")) if c.before is not None else "unchanged"
        lines.append(f"| {c.name} | {_losses(_cached(c, 'now', 'known_answer'))} | {before} |")
    lines += ["", "## MID tokens: how far apart", "",
              "At initialisation: smallest distance between two MID rows of the input embedding / mean distance "
              "between ordinary tokens (rows 2000-2999 of the vocabulary) / largest cosine between two MID tokens' "
              "input states (MiniLM: the embedding layer's output at one position, LayerNorm included; SmolLM2: "
              "the rows). After the known-answer fit: the smallest distance / the largest cosine.", "",
              "| Router | Now, start | Now, trained | Before, start | Before, trained |", "|---|---|---|---|---|"]
    for c in CASES:
        if not c.router.startswith("lookahead"):
            continue
        cells = []
        for setup in ("now", "before"):
            fit = _cached(c, setup, "known_answer")
            cells += [_mid(_cached(c, setup, "mid_start")), _mid((fit or {}).get("mid"), tokens=False)]
        lines.append(f"| {c.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *NOTES, "", *rerun_lines()]) + "\n"


NOTES = [
    "## What changed",
    "",
    "- Lookahead-MLM: MID rows drawn apart (`mid_init=sampled`: each row its own draw from the per-dimension "
    "mean and spread of the vocabulary; `asis` keeps MiniLM's [unused] rows), span positions numbered straight "
    "through as the released training does (`span_positions=straight`; `restart` kept).",
    "- Lookahead-CLM (small and cpu): all 30 SmolLM2 layers trained (was the first 4: `num_layers=4`), "
    "responses cut to 8 tokens. Its response loss starts near 3.4 nats (4 layers: ~18, worse than uniform's "
    "10.8). Training only the top 4 of the 30 layers (`train_layers=4`, cheaper) fails the known-answer check. "
    "A training step costs 4.5x the 4-layer one (same-process probes), so the cpu profile caps 150 items per "
    "benchmark (was 600).",
    "- Checkpoints: `checkpoint=last` on smoke, small, cpu and gpu (the 122-261-item validation splits are still "
    "evaluated and logged, `eval_rewards`); `best` on paper.",
    "- Precision: the small and cpu profiles now train under bf16 autocast (`bench/bench_training.py "
    "--precision`); the figures above are fp32 (`precision=fp32` in the settings above).",
    "- Training flags: each fold now also records `response_frequency_loss`, the loss of predicting each "
    "response token from its position alone (that fold's training items), and `response_loss_min_full_mask`, "
    "its lowest response loss once every response position is masked; it is flagged when the second is not "
    "below the first: the response objective then never beat a predictor that ignores the query. The table "
    "below gives both for every affected run (for runs written before, recomputed from their data and loss "
    "curves).",
]

# The leaderboard rows the setup fixes affect: the cpu runs of both Lookahead routers and the ablation rows
def rerun_rows() -> list[tuple[str, str]]:
    from harness.experiments.ablations import VARIANTS

    return [("lookahead_mlm", "cpu"), ("lookahead_clm", "cpu"), *((v.router, "small") for v in VARIANTS)]


def run_setup(cfg: dict[str, Any]) -> str:
    """'fixed' or 'old (...)': whether a run file's router config has the issue-20 setups."""
    family = cfg.get("family")
    old = []
    if family == "LookaheadMLM":
        old += [f"mid_init={cfg.get('mid_init', 'asis')}"] if cfg.get("mid_init", "asis") != "sampled" else []
        old += [f"span_positions={cfg.get('span_positions', 'restart')}"] \
            if cfg.get("span_positions", "restart") != "straight" else []
    if family == "LookaheadCLM" and cfg.get("num_layers"):
        old.append(f"num_layers={cfg['num_layers']}")
    if family in ("LookaheadMLM", "LookaheadCLM") and cfg.get("checkpoint", "best") != "last":
        old.append("checkpoint=best")
    return f"old ({', '.join(old)})" if old else "fixed"


def _seeds_run(router: str, profile: str) -> list[int]:
    """The seeds with a paper5 cv run file of this router and profile (0 listed even when absent)."""
    from harness.core.runner import run_file_name

    stem = run_file_name(router, "paper5", "cv", profile, 0).rpartition("__seed")[0]
    found = {int(p.stem.rpartition("__seed")[2]) for p in (config.results_dir() / "runs").glob(f"{stem}__seed*.json")
             if p.stem.rpartition("__seed")[2].isdigit()}
    return sorted(found | {0})


def rerun_lines() -> list[str]:
    """One line per affected paper5 cv row and seed: its run file's setup, precision, time and avg mu_n."""
    from harness.core.runner import run_file_name

    lines = ["## The affected rows", "",
             "Read from the run files in results/runs/ (paper5, cv, every seed run). "
             "'Old': not re-run under the fixed setups. Response loss, all masked: the lowest response loss once "
             "every response position is masked (past the curriculum), min–max over the folds: the lowest 10-step "
             "mean where the run recorded it, else the lowest tenth of its loss curve; 'by position': the loss of "
             "predicting each response token from its position alone on each fold's training items (recorded, "
             "else recomputed from the same split: harness/experiments/frequency_baseline.py); 'not below': folds "
             "whose loss is not below it (the response objective never beat that query-free predictor there). A "
             "causal LM sees the earlier response tokens, so for Lookahead-CLM the comparison can only "
             "under-report.", "",
             "| Run | Setup | Precision | Written | Minutes | Avg mu_n | Response loss, all masked | By position | "
             "Not below |",
             "|---|---|---|---|---|---|---|---|---|"]
    for router, profile in rerun_rows():
        for seed in _seeds_run(router, profile):
            lines.append(_rerun_line(run_file_name(router, "paper5", "cv", profile, seed)))
    return lines


def _rerun_line(name: str) -> str:
    path = config.results_dir() / "runs" / name
    if not path.exists():
        return f"| {name} | not run | – | – | – | – | – | – | – |"
    run = json.loads(path.read_text())
    cfg = run.get("router_config", {})
    avg = run.get("average_normalized")  # the run's own figure (the board keeps one seed's rows)
    mu = "–" if avg is None else f"{float(avg):.1f}"
    bad, total, lows, bases = untrained(run)
    at_or_above = f"{bad} of {total}" if total else "–"
    return (f"| {name} | {run_setup(cfg)} | {cfg.get('precision', 'fp32')} | "
            f"{run.get('provenance', {}).get('created', '?')[:10]} | {run.get('seconds', 0) / 60:.1f} | {mu} | "
            f"{span(lows)} | {span(bases)} | {at_or_above} |")


def render_file():
    path = config.results_dir() / "diagnostics.md"
    atomic_write_text(path, render())
    return path


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    flags = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    names = [n for n in flags.get("--only", "").split(",") if n] or [c.name for c in CASES]
    setups = [s for s in flags.get("--setups", "now,before").split(",") if s]
    unknown = sorted(set(setups) - {"now", "before"})
    if unknown:
        raise HarnessError(f"diagnostics: --setups={unknown[0]}: use now, before or both (now,before)")
    data = ka.task_data()
    for name in names:
        c = case(name)
        for setup in setups:
            if setup == "before" and c.before is None:
                continue
            result = measure(c, setup, data)
            start_distances(c, setup)
            print(f"{c.name} ({setup}): known-answer accuracy {result['accuracy']:.2f}, shares "
                  f"{result['routing_share']}, {result['seconds']} s", flush=True)
    if "--no-render" not in argv:
        print(f"wrote {render_file()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
