"""The scalability experiment's plan (paper notes, section 6): which pools of T candidates, which
routers and settings, and where each run and table lives. Pools of size T are the first T of the
paper's 8-candidate list (T=3 and 5: the first 3 and 5 of paper5; T=8: paper5 +
deepseek-coder-6.7b-instruct, Llama-3.2-3B-Instruct, Qwen2.5-1.5B-Instruct). A benchmark whose cache
lacks one of the pool's models is written as "not in cache" -- never scored on a substitute pool.
Training the runs is :mod:`harness.experiments.scalability`; the table, :mod:`.scalability_table`.
"""

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from benchmarks import PAPER_BENCHMARKS, get_benchmark
from harness.core import config, runner
from harness.cost.measure import DEFAULT_SAMPLE
from harness.core.errors import HarnessError
from harness.core.io import read_json
from harness.core.pools import PAPER5, PAPER8_EXTRA, resolve_pool


CANDIDATES = PAPER5 + PAPER8_EXTRA  # pools of size T are its first T models
DEFAULT_SIZES = [3, 5, 8]
DEFAULT_ROUTERS = ["mlc", "lookahead_clm", "lookahead_mlm"]
# Documented alternative pool for a second table. An 8-pool with gemma-2-9b-it exists only on
# AlpacaEval and MT-Bench (MATH/HumanEval hold at most 6 models), so the alternative that reaches the
# paper's three benchmarks is paper5 + gemma-2-9b-it (T=6; every benchmark but Arena-Hard).
ALTERNATIVES: dict[str, list[str]] = {"gemma6": PAPER5 + ["gemma-2-9b-it"]}
NOT_IN_CACHE = "not in cache"
NOT_RUN = "not run yet"
NOT_MEASURED = "not measured"


@dataclass
class Settings:
    sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))
    routers: list[str] = field(default_factory=lambda: list(DEFAULT_ROUTERS))
    benchmarks: list[str] = field(default_factory=lambda: list(PAPER_BENCHMARKS))
    profile: str = "cpu"
    seed: int = 0
    folds: int = 5
    alternative: str | None = None  # optional second table, e.g. "gemma6": hours of cpu training cold
    force: bool = False  # re-evaluate and re-measure runs that exist (fold caches are still re-used)
    train: bool = True  # False: only read existing runs; the others' cells say "not run yet"
    measure: bool = True  # False: only read existing cost figures
    cost_sample: int = DEFAULT_SAMPLE
    jobs: int = 1  # runs trained side by side (harness.experiments.lanes), the cores split between them
    router_modules: list[str] = field(default_factory=list)  # --router-module files, passed to the lanes


@dataclass
class Pool:
    size: int
    label: str
    models: list[str]
    available: list[str]  # requested benchmarks whose cache has every model of the pool
    missing: dict[str, list[str]]  # benchmark -> pool models its cache lacks
    note: str = ""


# --------------------------------------------------------------------------------------------------
# Pools and what the cache has


def parse_sizes(spec: str | list[int]) -> list[int]:
    """``"3,5,8"`` -> [3, 5, 8]; each size is a pool of 2..8 candidates."""
    parts = spec if isinstance(spec, list) else [s.strip() for s in str(spec).split(",") if s.strip()]
    sizes = []
    for part in parts:
        try:
            size = int(part)
        except ValueError:
            raise HarnessError(f"SIZES={spec}: '{part}' is not a whole number") from None
        if not 2 <= size <= len(CANDIDATES):
            raise HarnessError(f"SIZES={spec}: {size} is outside 2..{len(CANDIDATES)} "
                               f"(the candidate list is {','.join(CANDIDATES)})")
        sizes.append(size)
    if not sizes:
        raise HarnessError(f"SIZES={spec!r}: name at least one pool size")
    return sorted(set(sizes))


def check_alternative(name: str | None) -> str | None:
    if name in (None, "", "none"):
        return None
    if name not in ALTERNATIVES:
        raise HarnessError(f"--alternative {name}: unknown (known: {', '.join(ALTERNATIVES)}, none)")
    return name


@lru_cache(maxsize=None)
def cached_models(benchmark: str, root: str) -> frozenset[str]:
    return frozenset(get_benchmark(benchmark).models(Path(root)))


def make_pool(models: list[str], benchmarks: list[str], note: str = "") -> Pool:
    root = str(config.cache_root())
    missing = {b: [m for m in models if m not in cached_models(b, root)] for b in benchmarks}
    label, _ = resolve_pool(",".join(models))
    return Pool(size=len(models), label=label, models=list(models),
                available=[b for b in benchmarks if not missing[b]],
                missing={b: ms for b, ms in missing.items() if ms}, note=note)


def main_pools(s: Settings) -> list[Pool]:
    return [make_pool(CANDIDATES[:t], s.benchmarks) for t in s.sizes]


def alternative_pools(s: Settings) -> list[Pool]:
    if not s.alternative:
        return []
    return [make_pool(ALTERNATIVES[s.alternative], s.benchmarks, note=s.alternative)]


def pool_name(pool: Pool) -> str:
    """Short name for tables: the pool's label, or 'paper5 + extra' for a custom pool."""
    if "," not in pool.label:
        return pool.label
    base = [m for m in PAPER5 if m in pool.models]
    extra = [m for m in pool.models if m not in PAPER5]
    if pool.models[:len(base)] == base and len(base) in (3, 5):
        return f"paper{len(base)} + " + " + ".join(extra) if extra else f"paper{len(base)}"
    return ", ".join(pool.models)



# --------------------------------------------------------------------------------------------------
# Learned routers: read a run, or evaluate it


def run_name(router: str, pool: Pool, s: Settings) -> str:
    return runner.run_file_name(router, pool.label, "cv", s.profile, s.seed)


def read_run(router: str, pool: Pool, s: Settings) -> dict | None:
    path = config.results_dir() / "runs" / run_name(router, pool, s)
    if not path.exists():
        return None
    run = read_json(path)
    if list(run.get("models", [])) != pool.models:
        raise HarnessError(f"{path}: holds pool {','.join(run.get('models', []))}, expected {','.join(pool.models)}")
    return run


def ordered(names: set[str] | list[str]) -> list[str]:
    """Benchmarks in the paper's table order (then any others by name)."""
    return sorted(names, key=lambda b: (PAPER_BENCHMARKS.index(b) if b in PAPER_BENCHMARKS else 99, b))


def make_command(s: Settings) -> str:
    """The ``make scalability`` line that writes this table: defaults left out, the rest as variables."""
    default = Settings()
    parts = ["make scalability"]
    if s.sizes != default.sizes:
        parts.append(f"SIZES={','.join(map(str, s.sizes))}")
    if s.routers != default.routers:
        parts.append(f"SCALABILITY_ROUTERS='{' '.join(s.routers)}'")
    if s.benchmarks != default.benchmarks:
        parts.append(f"BENCHMARKS={','.join(s.benchmarks)}")
    for name, value in (("PROFILE", s.profile), ("SEED", s.seed), ("FOLDS", s.folds)):
        if value != getattr(default, name.lower()):
            parts.append(f"{name}={value}")
    if s.alternative != default.alternative:
        parts.append(f"SCALABILITY_ALT={s.alternative or 'none'}")
    return " ".join(parts)



def table_path() -> Path:
    return config.results_dir() / "scalability.md"


def alternative_path(name: str) -> Path:
    return config.results_dir() / f"scalability_{name}.md"
