"""Arena-Hard v0.1: win rate against gpt-4-0314 from a Bradley-Terry fit, judge gpt-4-1106-preview.

Battles follow arena-hard-auto and the authors' evaluation: game 1 has the baseline as A, game 2
swaps positions (its verdict is read mirrored); a strong verdict counts as 3 battles, a weak one
as 1, ``A=B`` is one tie, and a judge failure (score null) is a strong win for the baseline. Under
the ``official`` conventions (harness.core.conventions) a failed game is dropped instead, as
arena-hard-auto v0.1's ``show_result.py`` gives it weight 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import register_benchmark
from benchmarks._fields import Seen, at_line, bad, first_turn, get, ident, known, numbered_jsonl, sequence, text
from benchmarks.base import Benchmark, BenchmarkData, ItemTable, ModelRecords
from harness.core.errors import HarnessError

BASELINE = "gpt-4-0314"
# Value of a verdict from assistant A's side; NaN marks a judge failure.
VERDICT_VALUE = {"A>>B": 3.0, "A>B": 1.0, "A=B": 0.0, "B>A": -1.0, "B>>A": -3.0}
FAILED_GAME_GT = -6.0
QUESTION_TABLE = "the Arena-Hard questions (question.jsonl.gz)"


def verdict_value(game: object, where: str) -> float:
    """A game's verdict from assistant A's side; a null verdict (judge failure) reads as NaN."""
    verdict = get(game, "score", where)
    if verdict is None:
        return np.nan
    if not isinstance(verdict, str) or verdict not in VERDICT_VALUE:
        raise bad(where, "score", f"a verdict ({', '.join(VERDICT_VALUE)}) or null", verdict)
    return VERDICT_VALUE[verdict]


def battle_counts(game1: np.ndarray, game2: np.ndarray,
                  conventions: str = "paper") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per item (model wins, baseline wins, ties) in battles, from the A-side verdict values. A judge
    failure (NaN) is a strong baseline win (``paper``) or no battle at all (``official``)."""
    failed = -3.0 if conventions == "paper" else np.nan  # NaN compares False: no win, loss or tie
    # model's side: game 1 mirrored (model is B), game 2 as is (model is A)
    sides = np.stack([np.where(np.isnan(game1), failed, -game1),
                      np.where(np.isnan(game2), failed, game2)])
    wins = np.where(sides > 0, np.abs(sides), 0).sum(axis=0)
    losses = np.where(sides < 0, np.abs(sides), 0).sum(axis=0)
    ties = (sides == 0).sum(axis=0).astype(np.float64)
    return wins, losses, ties


def bradley_terry_winrate(wins: float, losses: float, ties: float) -> float:
    """Win rate (%) of the model against the baseline from a Bradley-Terry logistic fit.

    As in arena-hard-auto, each win is weighted 2 and each tie 1 on both sides; with only the two
    players the fit has a closed form, (wins + ties/2) / total, which the test suite checks.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.array([[np.log(10.0)], [np.log(10.0)]])
    y = np.array([1, 0])
    weights = np.array([2 * wins + ties, 2 * losses + ties], dtype=np.float64)
    if weights.min() <= 0:  # separable: the MLE is at the boundary
        return 100.0 if weights[1] <= 0 else 0.0
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=1000)  # unpenalised
    lr.fit(x, y, sample_weight=weights)
    rating_gap = 400.0 * lr.coef_[0][0]  # Elo scale, baseline anchored
    return float(100.0 / (1.0 + 10.0 ** (-rating_gap / 400.0)))


def closed_form_winrate(wins: np.ndarray, losses: np.ndarray, ties: np.ndarray) -> np.ndarray:
    return 100.0 * (wins + 0.5 * ties) / (wins + losses + ties)


@register_benchmark("arenahard")
class ArenaHard(Benchmark):
    name = "arenahard"
    title = "Arena-Hard"
    metric = "bt_win_rate"
    official_rules = "a judge failure (null verdict) is dropped, not a strong baseline win"
    folder = "ArenaHard"
    version = 2
    bootstrap_rounds = 100

    def _dir(self, root: Path) -> Path:
        return root / "test" / self.folder

    def models(self, root: Path) -> list[str]:
        judged = {p.name.removesuffix(".jsonl.gz") for p in (self._dir(root) / "model_judgment").glob("*.jsonl.gz")}
        answered = {p.name.removesuffix(".jsonl.gz") for p in (self._dir(root) / "model_answer").glob("*.jsonl.gz")}
        return sorted(judged & answered)

    def item_files(self, root: Path) -> list[Path]:
        return [self._dir(root) / "question.jsonl.gz"]

    def model_files(self, root: Path, model: str) -> list[Path]:
        return [self._dir(root) / "model_judgment" / f"{model}.jsonl.gz",
                self._dir(root) / "model_answer" / f"{model}.jsonl.gz"]

    def read_items(self, root: Path) -> ItemTable:
        path = self.item_files(root)[0]
        ids, prompts, clusters = [], [], []
        seen = Seen("question")
        for lineno, row in numbered_jsonl(path):
            qid = ident(row, "question_id", at_line(path, lineno))
            where = at_line(path, lineno, qid)
            seen.add(qid, where)
            ids.append(qid)
            prompts.append(first_turn(row, "turns", where, "content"))
            clusters.append(text(row, "cluster", where, default=""))
        return ItemTable(ids=ids, prompts=prompts, meta={"cluster": clusters})

    @staticmethod
    def read_answers(path: Path, items: ItemTable) -> dict[str, str]:
        """Question id -> first-turn answer of an arena-hard-auto ``model_answer`` file. Every id
        must be a question of the table, once."""
        table, seen, answers = set(items.ids), Seen("answer"), {}
        for lineno, row in numbered_jsonl(path):
            where = at_line(path, lineno)
            qid = known(ident(row, "question_id", where), table, where, QUESTION_TABLE)
            where = at_line(path, lineno, qid)
            seen.add(qid, where)
            choice = sequence(row, "choices", where)[0]
            answers[qid] = first_turn(choice, "turns", f"{where}: field 'choices[0]'", "content")
        return answers

    @staticmethod
    def read_judgments(path: Path, items: ItemTable) -> dict[str, tuple[float, float]]:
        """Question id -> the A-side verdict values of its two games (NaN: judge failure). Every id
        must be a question of the table, once: an unknown id would otherwise read as an unanswered
        item, a repeated one as a silent "last one wins"."""
        table, seen, games = set(items.ids), Seen("judgment"), {}
        for lineno, row in numbered_jsonl(path):
            where = at_line(path, lineno)
            qid = known(ident(row, "question_id", where), table, where, QUESTION_TABLE)
            where = at_line(path, lineno, qid)
            seen.add(qid, where)
            pair = sequence(row, "games", where, min_len=2)
            if len(pair) != 2:
                raise HarnessError(f"{where}: field 'games': expected 2 games, found {len(pair)}")
            g1, g2 = (verdict_value(game, f"{where}: field 'games[{k}]'") for k, game in enumerate(pair))
            games[qid] = (g1, g2)
        return games

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        judgment_path, answer_path = self.model_files(root, model)
        answers = self.read_answers(answer_path, items)
        judged = self.read_judgments(judgment_path, items)
        # judged but unanswered: treated like a missing answer (the item is dropped for the pool)
        ids = [q for q in judged if q in answers]
        g1 = np.array([judged[q][0] for q in ids], dtype=np.float64)
        g2 = np.array([judged[q][1] for q in ids], dtype=np.float64)
        gt = np.where(np.isnan(g1) | np.isnan(g2), FAILED_GAME_GT, np.nan_to_num(g2) - np.nan_to_num(g1))
        return ModelRecords(model=model, source=str(judgment_path), ids=ids,
                            answers=[answers[q] for q in ids],
                            native={"game1": g1, "game2": g2}, gt=gt)

    @staticmethod
    def official_gt(data: BenchmarkData) -> np.ndarray:
        """Per-item ground truth when failed games are dropped: they add nothing (paper: -6)."""
        return np.nan_to_num(data.native["game2"]) - np.nan_to_num(data.native["game1"])

    def score(self, data: BenchmarkData, choice: np.ndarray, *, seed: int = 0,
              detail: bool = True, conventions: str = "paper") -> dict[str, Any]:
        game1, game2 = data.routed("game1", choice), data.routed("game2", choice)
        wins, losses, ties = battle_counts(game1, game2, conventions)
        total = (wins.sum(), losses.sum(), ties.sum())
        out: dict[str, Any] = {"score": bradley_terry_winrate(*total), "battles_won": float(total[0]),
                               "battles_lost": float(total[1]), "battles_tied": float(total[2]),
                               "judge_failures": int(np.isnan(game1).sum() + np.isnan(game2).sum())}
        if detail:
            # arena-hard-auto resamples battles; a multinomial draw over the outcome counts is the
            # same resampling, and the fit's closed form makes each round O(1)
            rng = np.random.default_rng(seed)
            n = int(sum(total))
            draws = rng.multinomial(n, np.asarray(total) / n, size=self.bootstrap_rounds)
            rates = closed_form_winrate(draws[:, 0], draws[:, 1], draws[:, 2])
            out["ci_low"], out["ci_high"] = (float(q) for q in np.percentile(rates, [2.5, 97.5]))
            out["bootstrap_rounds"] = self.bootstrap_rounds
        return out
