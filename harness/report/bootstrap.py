"""Confidence intervals and significance for the leaderboard: a seeded, paired bootstrap over items.

Every router evaluated on a benchmark of one pool scores the same items, so one set of item
resamples (per benchmark, drawn from the seed) serves every router: differences between routers are
*paired*. Inside every resample the references are recomputed too (each candidate's own metric, their
mean = random, and the oracle), so mu_n's interval carries the uncertainty of its normalization.

Native metrics inside the bootstrap (vectorised over resamples with a counts matrix, ``counts[b, i]``
= how often item i is drawn in resample b):

- GSM8K, MATH, HumanEval, MBPP, MT-Bench: means of per-item values, exactly as the adapters.
- Arena-Hard: battle counts summed over the drawn items; the two-player Bradley-Terry fit has the
  closed form (wins + ties/2) / battles (``benchmarks.arenahard.closed_form_winrate``), so it is exact.
- AlpacaEval LC: alpaca_eval refits its length-controlled GLM on every call (~0.13 s), too slow for
  1000 resamples x several routers. We refit *the same GLM* (same three features, same calibration
  rows and their 0.1 weights, same preference transform, prediction at zero length difference) for
  all resamples at once by Newton's method, but unpenalised: alpaca_eval's L1 penalty with a 5-fold
  CV choice of C is skipped. ``tests/test_stats.py`` checks it against the native function on the full
  data and on resamples (measured: at most 0.11 LC points; README).

Seeds: run files that differ only by seed form a group; its point estimate is the mean over seeds,
reported with the std across seeds, and its resamples draw the seeds too (two-stage bootstrap: in
each resample, the seeds are drawn with replacement and averaged, on the same item resample), so the
interval combines item sampling and training-seed variation.
"""
from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from benchmarks import BENCHMARKS, PAPER_BENCHMARKS, get_benchmark
from benchmarks.base import BenchmarkData
from harness.core import config, store
from harness.core.errors import HarnessError
from harness.core.fingerprint import code_fingerprint
from harness.core.io import atomic_write_bytes
from harness.report.runs import GroupKey, Run, group_runs, load_runs

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 95.0
TIE_ALPHA = 0.05



# --------------------------------------------------------------------------------------------
# Resamples and per-benchmark vectorised scorers
# --------------------------------------------------------------------------------------------

def resample_counts(benchmark: str, n_items: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n_items) draw counts; the same for every router of a benchmark (paired)."""
    rng = np.random.default_rng([seed, zlib.crc32(benchmark.encode()), n_items])
    idx = rng.integers(0, n_items, size=(resamples, n_items))
    flat = (idx + np.arange(resamples)[:, None] * n_items).ravel()
    return np.bincount(flat, minlength=resamples * n_items).reshape(resamples, n_items).astype(np.float64)


def _routed(matrix: np.ndarray, choice: np.ndarray) -> np.ndarray:
    return matrix[np.arange(len(choice)), choice]


def _mean_scorer(values: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Metrics that are means of per-item values: exact."""
    def score(choice: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return counts @ _routed(values, choice) / counts.sum(axis=1)
    return score


def _arenahard_scorer(data: BenchmarkData) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from benchmarks.arenahard import battle_counts, closed_form_winrate

    wins, losses, ties = battle_counts(data.native["game1"], data.native["game2"])

    def score(choice: np.ndarray, counts: np.ndarray) -> np.ndarray:
        w, l, t = (counts @ _routed(m, choice) for m in (wins, losses, ties))
        return closed_form_winrate(w, l, t)
    return score


class AlpacaLC:
    """Vectorised refit of alpaca_eval's length-controlled GLM over resamples (see module doc)."""

    def __init__(self, data: BenchmarkData):
        import pandas as pd

        from benchmarks.alpacaeval import calibration_file

        gamed = pd.read_csv(calibration_file()[0])
        by_position = gamed.drop_duplicates("index")["instruction_difficulty"].to_numpy()
        self.difficulty = by_position[data.positions]  # alpaca_eval looks difficulty up by position
        self.x_gamed = np.stack([np.tanh(gamed["std_delta_len"].to_numpy(dtype=float)),
                                 gamed["instruction_difficulty"].to_numpy(dtype=float),
                                 gamed["not_gamed_baseline"].astype(float).to_numpy()], axis=1)
        self.y_gamed = gamed["preference"].to_numpy(dtype=float)
        # alpaca_eval weights the gamed baselines' rows lambda / 2 = 0.1, the routed rows 1
        self.w_gamed = np.where(gamed["not_gamed_baseline"].to_numpy(dtype=bool), 1.0, 0.1)
        ref_len = np.array([len(s) for s in data.meta["reference"]], dtype=float)
        out_len = np.array([[len(data.answers[m][i]) for m in data.models] for i in range(data.n_items)],
                           dtype=float)
        self.delta_len = ref_len[:, None] - out_len
        self.preference = data.native["preference"]

    def __call__(self, choice: np.ndarray, counts: np.ndarray) -> np.ndarray:
        delta = _routed(self.delta_len, choice)
        pref = _routed(self.preference, choice)
        y = np.nan_to_num(np.where(pref == 0, 1.5, pref) - 1.0)  # alpaca_eval: 0 (no preference) -> 1.5, then [0, 1]
        fitted = ~np.isnan(pref)  # rows without a preference are predicted, not fitted
        # warm start every resample from the full-sample fit: 2-4 Newton steps instead of ~7
        ones = np.ones((1, len(choice)))
        start = self._newton(self._x_len(delta, ones), y, ones * fitted, np.zeros((1, 3)))
        beta = self._newton(self._x_len(delta, counts), y, counts * fitted, np.repeat(start, len(counts), 0))
        predicted = _sigmoid(self.difficulty[None, :] * beta[:, 1:2] + beta[:, 2:3])  # zero length gap
        return 100.0 * (counts * predicted).sum(axis=1) / counts.sum(axis=1)

    @staticmethod
    def _x_len(delta: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """tanh of the length gap standardised by the resample's own std, as alpaca_eval does."""
        return np.tanh(delta[None, :] / _weighted_std(delta, counts)[:, None])

    def _newton(self, x_len: np.ndarray, y: np.ndarray, weight: np.ndarray, beta: np.ndarray,
                steps: int = 50) -> np.ndarray:
        """Weighted logistic MLE with fractional labels, one 3-parameter fit per resample (row)."""
        feats = np.stack([x_len, np.broadcast_to(self.difficulty, x_len.shape), np.ones_like(x_len)])
        x_g = self.x_gamed
        pairs_g = np.stack([x_g[:, a] * x_g[:, c] for a in range(3) for c in range(3)], axis=1)
        beta = beta.copy()
        for _ in range(steps):
            p = _sigmoid(np.einsum("kbn,bk->bn", feats, beta))
            p_g = _sigmoid(beta @ x_g.T)
            resid = weight * (p - y)
            curv = weight * p * (1 - p)
            curv_g = self.w_gamed * p_g * (1 - p_g)
            grad = np.einsum("bn,kbn->bk", resid, feats) + (self.w_gamed * (p_g - self.y_gamed)) @ x_g
            hess = np.einsum("bn,kbn,lbn->bkl", curv, feats, feats, optimize=True)
            hess += (curv_g @ pairs_g).reshape(-1, 3, 3)
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            beta -= step
            if np.abs(step).max() < 1e-9:
                break
        return beta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # one transcendental, no overflow


def _weighted_std(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """pandas' std (ddof=1) of the resampled values, per resample."""
    total = counts.sum(axis=1)
    mean = counts @ values / total
    return np.sqrt(np.maximum(counts @ (values * values) - total * mean ** 2, 0.0) / (total - 1))


def make_scorer(benchmark: str, data: BenchmarkData) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """(choice, counts) -> mu_o per resample, or None for a benchmark without a bootstrap scorer."""
    native = data.native
    if benchmark == "alpacaeval":
        return AlpacaLC(data)
    if benchmark == "arenahard":
        return _arenahard_scorer(data)
    if benchmark == "mtbench":
        return _mean_scorer((native["turn1"] + native["turn2"]) / 2.0)  # mean over both turns
    if "item_value" in native:  # benchmark files of one's own: mu_o is the mean of per-item values
        return _mean_scorer(native["item_value"])
    if "correct" in native:  # binary verdicts: accuracy / pass@1 in percent
        return _mean_scorer(native["correct"].astype(np.float64) * 100.0)
    return None


# --------------------------------------------------------------------------------------------
# Draws: mu_o per resample for a choice vector, cached on disk (keyed by everything they depend on)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED


class Bootstrap:
    """Draws for one set of settings; references and scorers are built once per (benchmark, pool)."""

    def __init__(self, settings: Settings = Settings(), cache: bool = True):
        self.settings = settings
        self.cache = cache
        self._scorers: dict[tuple, Any] = {}
        self._counts: dict[tuple, np.ndarray] = {}
        self._memo: dict[str, np.ndarray] = {}  # the same choice (a fixed router, the oracle) once

    def check_items(self, benchmark: str, models: list[str], ids: list[str], source: Path) -> BenchmarkData:
        """The pool's data, after checking the run scored exactly its items (paired resamples need it)."""
        data = store.load(benchmark, models)
        if list(data.ids) != list(ids):
            raise HarnessError(f"{source}: benchmark '{benchmark}': its items differ from the cache's "
                               f"for this pool ({len(ids)} vs {data.n_items}); re-run the router")
        return data

    def counts(self, benchmark: str, n_items: int) -> np.ndarray:
        key = (benchmark, n_items)
        if key not in self._counts:
            self._counts[key] = resample_counts(benchmark, n_items, self.settings.resamples, self.settings.seed)
        return self._counts[key]

    def mu_o(self, benchmark: str, models: list[str], choice: np.ndarray) -> np.ndarray | None:
        """mu_o in every resample for one choice vector (None: no scorer for this benchmark)."""
        data = store.load(benchmark, models)
        digest = self._digest(benchmark, models, choice)
        if digest in self._memo:
            return self._memo[digest]
        path = config.parsed_cache_dir() / "bootstrap" / f"{benchmark}-{digest}.npy" if self.cache else None
        if path is not None and path.exists():
            self._memo[digest] = np.load(path)
            return self._memo[digest]
        key = (benchmark, tuple(models))
        if key not in self._scorers:
            self._scorers[key] = make_scorer(benchmark, data)
        scorer = self._scorers[key]
        if scorer is None:
            return None
        draws = scorer(np.asarray(choice, dtype=np.int64), self.counts(benchmark, data.n_items))
        if path is not None:
            import io

            buf = io.BytesIO()
            np.save(buf, draws)
            atomic_write_bytes(path, buf.getvalue())
        self._memo[digest] = draws
        return draws

    def references(self, benchmark: str, models: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """(random, oracle) per resample: the candidates' mean and the oracle, recomputed each time."""
        data = store.load(benchmark, models)
        fixed = [self.mu_o(benchmark, models, data.fixed_choice(j)) for j in range(len(models))]
        oracle = self.mu_o(benchmark, models, data.oracle_choice())
        if oracle is None:
            return None
        return np.mean(np.stack(fixed), axis=0), oracle

    def _digest(self, benchmark: str, models: list[str], choice: np.ndarray) -> str:
        """Everything the draws depend on: settings, data version, calibration file, the choice, and
        the code of the scorers (this module and the benchmark adapters it imports)."""
        from harness.core.data import manifest_hash

        calibration = ""
        if benchmark == "alpacaeval":
            from benchmarks.alpacaeval import calibration_file

            calibration = calibration_file()[1]
        digest = hashlib.sha256()
        adapter = get_benchmark(benchmark)
        code = code_fingerprint(__name__, type(adapter))
        for part in (code, benchmark, ",".join(models), self.settings.resamples, self.settings.seed,
                     manifest_hash(), calibration, adapter.version):  # version: a benchmark file's sha256
            digest.update(f"{part}|".encode())
        digest.update(np.ascontiguousarray(choice, dtype=np.int64).tobytes())
        return digest.hexdigest()[:24]


# --------------------------------------------------------------------------------------------
# Per-router (seed-group) statistics
# --------------------------------------------------------------------------------------------

@dataclass
class GroupStats:
    key: GroupKey
    runs: list[Run]
    benchmarks: list[str]  # benchmarks every seed has, in the paper's order
    point_mu_o: dict[str, float]  # mean over seeds of the native figures from the run files
    point_mu_n: dict[str, float]
    std_mu_n: dict[str, float]  # across seeds (nan with one seed)
    draws_mu_o: dict[str, np.ndarray]  # per resample (seeds drawn too when there are several)
    draws_mu_n: dict[str, np.ndarray]
    seed_avgs: list[float] = field(default_factory=list)  # average mu_n of each seed

    @property
    def router(self) -> str:
        return self.key[0]

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    def scored(self) -> list[str]:
        """Benchmarks with bootstrap draws."""
        return [b for b in self.benchmarks if b in self.draws_mu_n]

    def avg_point(self, benchmarks: list[str] | None = None) -> float:
        benchmarks = benchmarks or self.benchmarks
        return float(np.mean([self.point_mu_n[b] for b in benchmarks]))

    def avg_draws(self, benchmarks: list[str] | None = None) -> np.ndarray:
        benchmarks = benchmarks or self.scored()
        return np.mean(np.stack([self.draws_mu_n[b] for b in benchmarks]), axis=0)

    def avg_std(self) -> float:
        return float(np.std(self.seed_avgs, ddof=1)) if len(self.seed_avgs) > 1 else math.nan


def interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = (100.0 - level) / 2.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def seed_resample(n_seeds: int, settings: Settings) -> np.ndarray:
    """(resamples, n_seeds) seed indices drawn with replacement; identity for one seed."""
    if n_seeds == 1:
        return np.zeros((settings.resamples, 1), dtype=np.int64)
    rng = np.random.default_rng([settings.seed, 7919, n_seeds])  # same for equal-size groups: paired
    return rng.integers(0, n_seeds, size=(settings.resamples, n_seeds))


def group_stats(runs: list[Run], boot: Bootstrap) -> GroupStats:
    first = runs[0]
    benchmarks = [b for b in _ordered(first.benchmarks) if all(b in r.benchmarks for r in runs)]
    pick = seed_resample(len(runs), boot.settings)
    stats = GroupStats(key=first.key, runs=runs, benchmarks=benchmarks, point_mu_o={}, point_mu_n={},
                       std_mu_n={}, draws_mu_o={}, draws_mu_n={})
    for bench in benchmarks:
        per_seed = [r.benchmarks[bench] for r in runs]
        stats.point_mu_o[bench] = float(np.mean([b.score for b in per_seed]))
        stats.point_mu_n[bench] = float(np.mean([b.normalized for b in per_seed]))
        stats.std_mu_n[bench] = float(np.std([b.normalized for b in per_seed], ddof=1)) if len(runs) > 1 else math.nan
        # a benchmark file that is gone (or not registered): point figures only, no draws
        draws = _bench_draws(runs, bench, boot) if bench in BENCHMARKS else None
        if draws is not None:
            mu_o, mu_n = draws  # (n_seeds, resamples)
            stats.draws_mu_o[bench] = _seed_mean(mu_o, pick)
            stats.draws_mu_n[bench] = _seed_mean(mu_n, pick)
    stats.seed_avgs = [float(np.mean([r.benchmarks[b].normalized for b in benchmarks])) for r in runs]
    return stats


def _seed_mean(per_seed: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Per resample, the mean over the drawn seeds."""
    return per_seed[pick, np.arange(pick.shape[0])[:, None]].mean(axis=1)


def _bench_draws(runs: list[Run], bench: str, boot: Bootstrap) -> tuple[np.ndarray, np.ndarray] | None:
    first = runs[0]
    refs = None
    mu_o_rows, mu_n_rows = [], []
    for run in runs:
        rb = run.benchmarks[bench]
        boot.check_items(bench, run.models, rb.ids, run.path)
        refs = refs or boot.references(bench, first.models)
        if refs is None:
            return None
        random, oracle = refs
        mu_o = random.copy() if rb.expected else boot.mu_o(bench, run.models, rb.choice)
        mu_o_rows.append(mu_o)
        mu_n_rows.append((mu_o - random) / (oracle - random) * 100.0)
    return np.stack(mu_o_rows), np.stack(mu_n_rows)


def _ordered(benchmarks: Iterable[str]) -> list[str]:
    names = list(benchmarks)
    return [b for b in PAPER_BENCHMARKS if b in names] + sorted(set(names) - set(PAPER_BENCHMARKS))


def all_group_stats(runs: list[Run] | None = None, settings: Settings = Settings(),
                    boot: Bootstrap | None = None) -> dict[GroupKey, GroupStats]:
    boot = boot or Bootstrap(settings)
    runs = load_runs() if runs is None else runs
    from harness.core.progress import progress
    return {key: group_stats(members, boot) for key, members in progress(group_runs(runs).items(), "bootstrap", "router")}


# --------------------------------------------------------------------------------------------
# Pairwise comparisons and ties with the leader
# --------------------------------------------------------------------------------------------

@dataclass
class Comparison:
    a: GroupKey
    b: GroupKey
    benchmarks: list[str]
    diff: float  # point: average mu_n of a minus b, over the common benchmarks
    ci: tuple[float, float]
    p_value: float
    per_benchmark: dict[str, tuple[float, tuple[float, float], float]]  # diff, ci, p

    @property
    def significant(self) -> bool:
        return self.p_value < TIE_ALPHA


def p_value(diff_draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'no difference': twice the smaller tail mass at 0, capped at 1."""
    low, high = float(np.mean(diff_draws <= 0)), float(np.mean(diff_draws >= 0))
    return min(1.0, 2.0 * min(low, high))


def compare(a: GroupStats, b: GroupStats) -> Comparison:
    if a.key[1] != b.key[1]:
        raise HarnessError(f"compare: '{a.router}' is on pool {a.key[1]}, '{b.router}' on pool {b.key[1]}; "
                           "a paired comparison needs the same pool")
    common = [x for x in a.scored() if x in b.scored()]
    if not common:
        raise HarnessError(f"compare: '{a.router}' and '{b.router}' share no benchmark with bootstrap draws")
    for bench in common:
        if a.runs[0].benchmarks[bench].ids != b.runs[0].benchmarks[bench].ids:
            raise HarnessError(f"compare: '{a.router}' and '{b.router}' scored different items on {bench} "
                               f"({a.runs[0].path.name}, {b.runs[0].path.name})")
    per = {}
    for bench in common:
        d = a.draws_mu_n[bench] - b.draws_mu_n[bench]
        per[bench] = (a.point_mu_n[bench] - b.point_mu_n[bench], interval(d), p_value(d))
    diff = a.avg_draws(common) - b.avg_draws(common)
    return Comparison(a=a.key, b=b.key, benchmarks=common, diff=a.avg_point(common) - b.avg_point(common),
                      ci=interval(diff), p_value=p_value(diff), per_benchmark=per)

