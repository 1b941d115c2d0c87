"""The mutants: realistic one-line faults, each with the tests that must catch it.

A mutant replaces ``old`` (exact text, found exactly once in ``path``) with ``new``. Targets are
matched by text, not line number, so a mutant survives edits around it; when its line itself changes,
``run.py --list`` says STALE and the mutant needs re-targeting. ``tests`` are pytest arguments (files
or node ids), kept to what kills the mutant quickly.

Sets: ``issue18`` re-creates seven survivors of issue 18's first mutation pass (its RLIMIT_FSIZE
survivor is test_sandbox.py's); the tests written for them must now kill them. ``new`` holds the
tool's further faults (42): scorers, normalization, dropping, bootstrap and ranking, folds, the
leaderboard merge, data verification, importers, router losses and labels, and faults that only the
tests fixed in issue 18 (formerly unable to fail) catch.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    set: str  # "issue18" or "new"
    path: str  # relative to the checkout
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


def _m(set_: str, id_: str, path: str, old: str, new: str, tests: str | tuple[str, ...], what: str) -> Mutant:
    return Mutant(id_, set_, path, old, new, (tests,) if isinstance(tests, str) else tuple(tests), what)


PINNED = "tests/test_pinned_scores.py"

ISSUE18 = [
    _m("issue18", "arena-strong-weight", "benchmarks/arenahard.py",
       'VERDICT_VALUE = {"A>>B": 3.0, "A>B": 1.0, "A=B": 0.0, "B>A": -1.0, "B>>A": -3.0}',
       'VERDICT_VALUE = {"A>>B": 1.0, "A>B": 1.0, "A=B": 0.0, "B>A": -1.0, "B>>A": -1.0}',
       f"{PINNED}::test_arena_hard_battles_and_yi_win_rate",
       "a strong verdict counts 1 battle, not 3 (Yi's Arena-Hard 44.09 becomes 49.70)"),
    _m("issue18", "arena-judged-unanswered-kept", "benchmarks/arenahard.py",
       "        ids = [q for q in judged if q in answers]\n",
       "        ids = list(judged)\n        answers = {q: answers.get(q, '') for q in ids}\n",
       "tests/test_dropped_items.py", "an item judged but not answered stays in the pool, with an empty answer"),
    _m("issue18", "runner-n-dropped-zero", "harness/core/runner.py",
       "n_dropped=len(data.dropped),", "n_dropped=0,",
       (f"{PINNED}::test_eval_rows_carry_the_pinned_figures", "tests/test_dropped_items.py"),
       "n_dropped reported as 0"),
    _m("issue18", "bootstrap-unpaired", "harness/report/bootstrap.py",
       "draws = scorer(np.asarray(choice, dtype=np.int64), self.counts(benchmark, data.n_items))",
       "draws = scorer(np.asarray(choice, dtype=np.int64), resample_counts(benchmark, data.n_items, "
       "self.settings.resamples, int(digest[:8], 16)))",
       "tests/test_paired_bootstrap.py", "each choice vector gets resamples of its own (unpaired)"),
    _m("issue18", "mlm-loss-one-off", "routers/lookahead.py",
       "model.token_head(hidden[where])", "model.token_head(hidden[:, 1:][where[:, :-1]])",
       "tests/test_lookahead_loss.py", "the masked-token loss reads the state one position to the right"),
    _m("issue18", "leaderboard-in-place", "harness/core/leaderboard.py",
       "    rows = sorted(kept + merged, key=_sort_key)\n    atomic_write_text(csv_path(), csv_text(rows, COLUMNS))",
       "    rows = sorted(kept + merged, key=_sort_key)\n    csv_path().write_text(csv_text(rows, COLUMNS))",
       "tests/test_atomic_leaderboard.py", "the leaderboard is rewritten in place, not atomically"),
    _m("issue18", "mtbench-drop-failures", "benchmarks/mtbench.py",
       'counted = np.ones_like(turns, dtype=bool) if conventions == "paper" else turns != FAILED',
       "counted = turns != FAILED",
       f"{PINNED}::test_mtbench_judge_failures_stay_minus_one", "judge failures (-1) left out of the MT-Bench mean"),
]

BENCH = "tests/test_benchmarks.py"
STATS = "tests/test_stats.py"
RULES = "tests/test_unit_rules.py"

NEW = [
    # --- scorers ------------------------------------------------------------------------------------
    _m("new", "accuracy-skips-first-item", "benchmarks/_opencompass.py",
       'return {"score": float(correct.mean() * 100.0), "n_correct": int(correct.sum())}',
       'return {"score": float(correct[1:].mean() * 100.0), "n_correct": int(correct.sum())}',
       f"{BENCH}::test_fixed_model_equals_cached_figure", "GSM8K/MATH accuracy leaves out the first item"),
    _m("new", "pass-at-1-ignores-choice", "benchmarks/_opencompass.py",
       'correct = data.routed("correct", choice)\n        return {"score": float(correct.mean() * 100.0), "n_passed"',
       'correct = data.native["correct"][:, 0]\n        return {"score": float(correct.mean() * 100.0), "n_passed"',
       f"{PINNED}::test_fixed_models_score_the_pinned_figures[humaneval]",
       "HumanEval/MBPP pass@1 reads the first candidate, whatever was chosen"),
    _m("new", "arena-failure-as-tie", "benchmarks/arenahard.py",
       'failed = -3.0 if conventions == "paper" else np.nan', 'failed = 0.0 if conventions == "paper" else np.nan',
       "tests/test_arenahard.py::test_battle_rules_strong_weak_tie_and_failure",
       "a failed game counts as a tie, not a strong baseline win"),
    _m("new", "bt-unweighted-wins", "benchmarks/arenahard.py",
       "weights = np.array([2 * wins + ties, 2 * losses + ties]", "weights = np.array([wins + ties, losses + ties]",
       "tests/test_arenahard.py::test_bradley_terry_fit_equals_closed_form",
       "Bradley-Terry fit without arena-hard-auto's double weight on wins"),
    _m("new", "arena-ci-90", "benchmarks/arenahard.py",
       "np.percentile(rates, [2.5, 97.5])", "np.percentile(rates, [5.0, 95.0])",
       f"{PINNED}::test_arena_hard_battles_and_yi_win_rate", "Arena-Hard's interval is a 90% one"),
    _m("new", "mtbench-gt-first-turn", "benchmarks/mtbench.py",
       "gt=(turn1 + turn2) / 2.0)", "gt=turn1)",
       f"{BENCH}::test_mtbench_oracle_is_nine_not_the_papers_879", "MT-Bench's per-item ground truth is turn 1 only"),
    _m("new", "oracle-ties-to-last", "benchmarks/base.py",
       "return np.argmax(self.gt, axis=1)", "return self.gt.shape[1] - 1 - np.argmax(self.gt[:, ::-1], axis=1)",
       f"{BENCH}::test_oracle_ties_go_to_first_candidate", "oracle ties go to the last candidate"),
    # --- normalization and references ----------------------------------------------------------------
    _m("new", "mu-n-over-oracle", "harness/core/normalize.py",
       "return (score - random) / span * 100.0", "return (score - random) / oracle * 100.0",
       f"{PINNED}::test_references_and_mu_n_are_the_pinned_figures", "mu_n divides by the oracle, not its span"),
    _m("new", "average-keeps-nan", "harness/core/normalize.py",
       "finite = [v for v in values if v == v]", "finite = list(values)",
       f"{RULES}::test_average_leaves_out_benchmarks_without_a_span", "a NaN mu_n poisons the average"),
    _m("new", "random-is-median", "harness/core/runner.py",
       '"random": float(np.mean(list(fixed.values())))', '"random": float(np.median(list(fixed.values())))',
       f"{PINNED}::test_references_and_mu_n_are_the_pinned_figures", "random = median of the candidates"),
    _m("new", "row-score-2-decimals", "harness/core/runner.py",
       '"score": round(r.score, 4)', '"score": round(r.score, 2)',
       f"{PINNED}::test_eval_rows_carry_the_pinned_figures", "leaderboard rows round mu_o to 2 decimals"),
    # --- dropping rules ------------------------------------------------------------------------------
    _m("new", "pool-items-of-last-candidate", "harness/core/store.py",
       "        present &= has\n", "        present = has\n",
       f"{BENCH}::test_item_counts_and_paper_drop_rule", "only the last candidate's items decide the pool's items"),
    # --- bootstrap -----------------------------------------------------------------------------------
    _m("new", "resample-never-last-item", "harness/report/bootstrap.py",
       "idx = rng.integers(0, n_items, size=(resamples, n_items))",
       "idx = rng.integers(0, n_items - 1, size=(resamples, n_items))",
       f"{RULES}::test_resamples_draw_every_item_n_times_in_all", "resamples never draw the last item"),
    _m("new", "interval-90", "harness/report/bootstrap.py",
       "tail = (100.0 - level) / 2.0", "tail = 100.0 - level",
       f"{RULES}::test_interval_is_the_central_95_percent", "a 90% interval reported as 95%"),
    _m("new", "p-value-one-sided", "harness/report/bootstrap.py",
       "return min(1.0, 2.0 * min(low, high))", "return min(1.0, min(low, high))",
       f"{STATS}::test_p_value_tails", "a one-sided p-value"),
    _m("new", "seed-draw-one-seed", "harness/report/bootstrap.py",
       "return rng.integers(0, n_seeds, size=(settings.resamples, n_seeds))",
       "return rng.integers(0, n_seeds, size=(settings.resamples, 1))",
       (f"{RULES}::test_seed_draws_take_every_seed_of_the_group_with_replacement",
        "tests/test_paired_bootstrap.py"), "a seed group's resample takes one seed, not n"),
    _m("new", "random-router-drawn", "harness/report/bootstrap.py",
       "mu_o = random.copy() if rb.expected else boot.mu_o(bench, run.models, rb.choice)",
       "mu_o = boot.mu_o(bench, run.models, rb.choice)",
       f"{STATS}::test_random_router_is_zero_in_every_resample",
       "the random router's one seeded draw is resampled instead of the candidates' mean"),
    _m("new", "compare-point-self", "harness/report/bootstrap.py",
       "per[bench] = (a.point_mu_n[bench] - b.point_mu_n[bench],",
       "per[bench] = (a.point_mu_n[bench] - a.point_mu_n[bench],",
       "tests/test_paired_bootstrap.py", "a comparison's per-benchmark point difference is a - a"),
    _m("new", "tied-and-behind-swapped", "harness/report/ranking.py",
       '"behind" if comp.significant else "tied"', '"tied" if comp.significant else "behind"',
       f"{STATS}::test_leader_and_ties", "significant differences marked tied"),
    _m("new", "oracle-can-lead", "harness/report/ranking.py",
       'm.router != "oracle" and set(m.scored())', 'set(m.scored())',
       f"{STATS}::test_leader_and_ties", "the oracle (it reads the labels) can lead the board"),
    # --- protocols and folds ------------------------------------------------------------------------
    _m("new", "folds-without-offset", "harness/core/protocols.py",
       "folds[index] = (np.arange(len(index)) + offset) % k", "folds[index] = np.arange(len(index)) % k",
       f"{RULES}::test_cv_folds_are_balanced_overall_and_per_benchmark",
       "every benchmark deals from fold 0: unbalanced folds"),
    _m("new", "cv-trains-on-held-out", "harness/core/protocols.py",
       'Split(f, f"fold {f + 1}/{k}", np.flatnonzero(folds != f),', 'Split(f, f"fold {f + 1}/{k}", np.arange(len(folds)),',
       f"{RULES}::test_cv_fits_each_fold_on_exactly_the_other_folds", "cv fits on the held-out fold too"),
    # --- leaderboard merge --------------------------------------------------------------------------
    _m("new", "rerun-duplicates-rows", "harness/core/leaderboard.py",
       "kept = [r for r in read_rows() if tuple(r[k] for k in KEY) not in keys]", "kept = read_rows()",
       "tests/test_runner_and_leaderboard.py::test_rerun_replaces_rows_and_keeps_others",
       "a re-run adds rows instead of replacing them"),
    _m("new", "key-without-profile", "harness/core/leaderboard.py",
       'KEY = ("router", "pool", "protocol", "profile", "benchmark")', 'KEY = ("router", "pool", "protocol", "benchmark")',
       f"{RULES}::test_rows_are_keyed_by_profile_and_rerun_scores_keep_cost_columns",
       "a run under another profile replaces the row"),
    _m("new", "rerun-drops-cost", "harness/core/leaderboard.py",
       "merged.append({**{c: old.get(c) for c in COLUMNS if c not in row}, **row})", "merged.append(dict(row))",
       f"{RULES}::test_rows_are_keyed_by_profile_and_rerun_scores_keep_cost_columns",
       "re-running the scores drops the cost columns"),
    # --- data verification ---------------------------------------------------------------------------
    _m("new", "manifest-by-file-name", "harness/core/data.py",
       "expected = manifest().get(rel)", "expected = manifest().get(Path(rel).name)",
       "tests/test_bad_input.py::test_manifest_mismatch", "files looked up in the manifest by name: never checked"),
    _m("new", "gaps-inverted", "harness/core/data.py",
       'if not any(p == pattern or p.startswith(pattern + "/") for p in present):',
       'if any(p == pattern or p.startswith(pattern + "/") for p in present):',
       "tests/test_data.py::test_manifest_covers_every_cache_file_and_reports_gaps",
       "the data report lists present files as gaps"),
    # --- importers -----------------------------------------------------------------------------------
    _m("new", "alpaca-import-by-row", "harness/grading/import_chat.py",
       "placed[order[inst]] = dict(row, generator_2=st.model)", "placed[i] = dict(row, generator_2=st.model)",
       "tests/test_importer_rules.py::test_alpaca_eval_annotations_in_another_order_give_the_same_metric",
       "alpaca_eval annotations placed by file row, not by instruction"),
    _m("new", "evalplus-last-sample", "harness/grading/import_graded.py",
       "first.setdefault(pos, r)", "first[pos] = r",
       "tests/test_importer_rules.py::test_evalplus_grades_the_first_sample_of_each_task",
       "evalplus grades the last sample of a task, not the first"),
    # --- routers' losses and labels -------------------------------------------------------------------
    _m("new", "labels-strict-threshold", "routers/labels.py",
       "(normalized >= threshold)", "(normalized > threshold)",
       f"{RULES}::test_binary_labels_threshold_is_inclusive", "label 1 only above 0.8, not at it"),
    _m("new", "mlc-loss-on-normalized", "routers/classifier.py",
       'binary_cross_entropy_with_logits(self.scores(model, batch), batch["labels"])',
       'binary_cross_entropy_with_logits(self.scores(model, batch), batch["normalized"])',
       "tests/test_classifier_losses.py::test_mlc_loss_is_bce_on_binary_labels",
       "MLC fits the normalized scores, not the binary labels"),
    _m("new", "zooter-temperature-inverted", "routers/classifier.py",
       'F.softmax(batch["normalized"] / self.settings["kl_temperature"], dim=-1)',
       'F.softmax(batch["normalized"] * self.settings["kl_temperature"], dim=-1)',
       "tests/test_classifier_losses.py::test_zooter_loss_is_kl_to_the_tempered_softmax_of_normalized_scores",
       "ZOOTER's target multiplies by the temperature"),
    _m("new", "routerdc-negatives-from-top", "routers/classifier.py",
       "negatives = order[:, -last_k:]", "negatives = order[:, :last_k]",
       "tests/test_learned_routers.py::test_routerdc_sample_llm_loss", "RouterDC draws negatives from the best"),
    _m("new", "knn-raw-scores", "routers/embedding.py",
       'self._index(self.embed(train.prompts, "train prompts"), per_item_normalized(train.scores))',
       'self._index(self.embed(train.prompts, "train prompts"), train.scores)',
       "tests/test_embedding_routers.py::test_knn_equals_hand_computation_with_tied_items_as_zeros",
       "kNN averages raw scores, not per-item normalized ones"),
    _m("new", "mask-count-ceil", "routers/lookahead.py",
       "max(int(math.floor(length * rate)), 1)", "max(int(math.ceil(length * rate)), 1)",
       "tests/test_lookahead.py::test_curriculum_schedule_and_masked_share", "the curriculum masks ceil(len * rate)"),
    # --- what the fixed tests of issue 18 now catch ---------------------------------------------------
    _m("new", "weak-verdict-two", "benchmarks/arenahard.py",
       '"A>B": 1.0, "A=B": 0.0, "B>A": -1.0,', '"A>B": 2.0, "A=B": 0.0, "B>A": -2.0,',
       "tests/test_arenahard.py::test_ground_truth_rule", "a weak verdict counts 2 (the gt test compared the map with itself)"),
    _m("new", "manifest-hash-of-path", "harness/core/data.py",
       "return hashlib.sha256(MANIFEST_PATH.read_bytes()).hexdigest()[:12]",
       "return hashlib.sha256(str(MANIFEST_PATH).encode()).hexdigest()[:12]",
       "tests/test_data.py::test_manifest_hash_is_stable", "the data version hashes the manifest's path, not its content"),
    _m("new", "columns-without-n-dropped", "harness/core/leaderboard.py",
       '"ci_low", "ci_high", "n_items", "n_dropped", "gflops"', '"ci_low", "ci_high", "n_items", "gflops"',
       "tests/test_runner_and_leaderboard.py::test_oracle_and_random_normalize_to_100_and_0",
       "the CSV silently loses the documented n_dropped column"),
    _m("new", "judge-key-not-sent", "harness/grading/judge.py",
       "OpenAI(base_url=self.cfg.base_url, api_key=self.cfg.api_key,", 'OpenAI(base_url=self.cfg.base_url, api_key="none",',
       "tests/test_judge.py::test_request_carries_judge_model_options_and_key_and_the_cache_no_key",
       "the judge client never sends the configured API key"),
    _m("new", "regrade-report-columns-swapped", "harness/grading/regrade.py",
       '{len(dis) - up} | {up} |")', '{up} | {len(dis) - up} |")',
       "tests/test_regrade.py::test_report_lists_classes", "re-grade report swaps the two disagreement columns"),
    _m("new", "win-tie-loss-cumulative-k", "harness/report/analysis.py",
       "sel = n_correct == k", "sel = n_correct >= k",
       f"{STATS}::test_win_tie_loss_and_shares", "win/tie/loss rows count items with at least k correct"),
    _m("new", "clm-loss-one-off", "routers/lookahead.py",
       "cols.append(mid_pos + j)", "cols.append(mid_pos + j + 1)",
       "tests/test_lookahead_loss.py::test_clm_loss_is_bce_plus_lam_times_next_token_cross_entropy",
       "CLM's next-token loss reads the state one position to the right"),
]

MUTANTS = ISSUE18 + NEW
