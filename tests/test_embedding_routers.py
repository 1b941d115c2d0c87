"""Pretrained-embedding routers (knn, kmeans, smoothie), their encoder, and the task_best reference.

Hand computations use a fake encoder (known vectors); the rest runs on small real subsets of
paper5 (gsm8k + humaneval) through the real MiniLM encoder and its on-disk embedding cache.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.core import store
from harness.core.errors import HarnessError
from harness.core.pools import PAPER5
from harness.core.protocols import cross_validate, cv_folds
from harness.core.runner import routing_data
from routers import build_router
from routers.base import Router, RouterContext, RoutingData
from routers.embedding import pairwise_sq_distances, smoothie_weights, triplet_deltas
from routers.encoders import OFFLINE_ENCODER, PAPER_ENCODER, Encoder, resolve_encoder
from routers.labels import per_item_normalized


class FakeEncoder:
    """Texts -> fixed vectors, so neighbours and scores can be worked out by hand."""

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table

    def encode(self, texts, desc=""):
        return np.stack([np.asarray(self.table[t], dtype=np.float32) for t in texts])

    def config(self):
        return {"encoder": "fake", "max_length": 0}

    def parameter_count(self):
        return 0


def _router(name: str, models: list[str], seed: int = 0, profile: str = "smoke", **options) -> Router:
    return build_router(name, RouterContext(models=list(models), seed=seed, profile=profile,
                                            options={k: str(v) for k, v in options.items()}))


def _toy(prompts: list[str], scores, responses=None, models=("a", "b", "c")) -> RoutingData:
    return RoutingData(uids=[f"toy/{i}" for i in range(len(prompts))], benchmarks=["toy"] * len(prompts),
                       prompts=prompts, models=list(models), responses=responses,
                       scores=None if scores is None else np.asarray(scores, dtype=np.float64))


def _angle(deg: float) -> np.ndarray:
    return np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg))])


@pytest.fixture(scope="module")
def small() -> RoutingData:
    """40 gsm8k + 40 humaneval items of paper5 (seeded pick), with scores and responses."""
    datas = {b: store.load(b, PAPER5) for b in ("gsm8k", "humaneval")}
    data = routing_data(datas, PAPER5)
    rng = np.random.default_rng(0)
    labels = np.asarray(data.benchmarks)
    pick = np.concatenate([rng.choice(np.flatnonzero(labels == b), 40, replace=False) for b in datas])
    return data.subset(np.sort(pick))


def _split(data: RoutingData) -> tuple[RoutingData, RoutingData]:
    folds = cv_folds(data.benchmarks, 4, seed=0)
    return data.subset(np.flatnonzero(folds != 0)), data.subset(np.flatnonzero(folds == 0)).queries()


# --- kNN ------------------------------------------------------------------------------------------

def test_knn_equals_hand_computation_with_tied_items_as_zeros():
    angles = {"p0": 0, "p1": 10, "p2": 20, "p3": 90, "p4": 180, "q": 12}
    table = {k: _angle(v) for k, v in angles.items()}
    scores = [[1, 0, 0.5],    # p0 -> normalized (1, 0, .5)
              [2, 2, 2],      # p1 all tied -> (0, 0, 0), kept
              [0, 4, 2],      # p2 -> (0, 1, .5)
              [9, 0, 0],      # p3 (90 deg away)
              [0, 0, 9]]      # p4 (opposite)
    router = _router("knn", ["a", "b", "c"], k=3)
    router.encoder = FakeEncoder(table)
    router.fit(_toy(["p0", "p1", "p2", "p3", "p4"], scores))
    got = router.predict(_toy(["q"], None))
    # the 3 highest dot products with q (12 deg): p1 (2 deg), p2 (8), p0 (12); unweighted mean
    expected = (np.array([1, 0, 0.5]) + np.zeros(3) + np.array([0, 1, 0.5])) / 3
    np.testing.assert_allclose(got[0], expected, atol=1e-6)
    # cost hook: n_train dot products of d=2, n_train comparisons, k*T adds
    assert router.extra_flops_per_query() == 2 * 5 * 2 + 5 + 3 * 3


def test_knn_k_larger_than_training_set_uses_all():
    table = {"p0": _angle(0), "p1": _angle(50), "q": _angle(5)}
    router = _router("knn", ["a", "b", "c"], k=100)
    router.encoder = FakeEncoder(table)
    router.fit(_toy(["p0", "p1"], [[0, 1, 2], [2, 1, 0]]))
    np.testing.assert_allclose(router.predict(_toy(["q"], None))[0], [0.5, 0.5, 0.5])


# --- k-means --------------------------------------------------------------------------------------

def test_kmeans_deterministic_and_cluster_vectors_are_member_means(small):
    train, test = _split(small)
    first = _router("kmeans", PAPER5, seed=3, k=6)
    first.fit(train)
    second = _router("kmeans", PAPER5, seed=3, k=6)
    second.fit(train)
    np.testing.assert_array_equal(first.kmeans.cluster_centers_, second.kmeans.cluster_centers_)
    np.testing.assert_array_equal(first.predict(test), second.predict(test))
    targets = per_item_normalized(train.scores)
    for c in range(6):
        members = first.kmeans.labels_ == c
        np.testing.assert_allclose(first.cluster_scores[c], targets[members].mean(axis=0))
    assert first.config()["n_init"] == 1 and first.config()["k"] == 6


# --- SMOOTHIE -------------------------------------------------------------------------------------

def test_triplet_estimator_recovers_known_noise_levels():
    rng = np.random.default_rng(0)
    n, d = 4000, 64
    sigma = np.array([0.3, 0.5, 0.8, 1.0, 1.5])
    truth = rng.standard_normal((n, 1, d))
    voters = truth + sigma[None, :, None] * rng.standard_normal((n, len(sigma), d))
    distances = pairwise_sq_distances(voters).mean(axis=0)
    deltas = triplet_deltas(distances)
    np.testing.assert_allclose(deltas, d * sigma ** 2, rtol=0.05)  # delta_i = d * sigma_i^2
    theta = smoothie_weights(deltas, d, floor=1e-6)
    assert theta.sum() == pytest.approx(1.0) and int(np.argmax(theta)) == 0
    assert np.all(np.diff(theta) < 0)  # less noise, more weight


def test_triplet_is_the_average_over_pairs_and_floor_handles_nonpositive_delta():
    rng = np.random.default_rng(1)
    d = rng.random((5, 5))
    d = d + d.T
    np.fill_diagonal(d, 0)
    # closed form of the 6-pair average for T = 5: ((T-2) S_i - (total - S_i)) / (2 * 6)
    s = d.sum(axis=1)
    total = d[np.triu_indices(5, 1)].sum()
    np.testing.assert_allclose(triplet_deltas(d), (3 * s - (total - s)) / 12)
    theta = smoothie_weights(np.array([0.5, -0.2, 0.0, 0.3]), dim=8, floor=1e-6)
    assert int(np.argmax(theta)) == 1 and np.all(theta > 0)  # floored: first non-positive wins


def test_smoothie_local_routes_by_the_neighbourhood_responses():
    """Two prompt regions; in region A candidate a answers at the centre of the others, in B c does."""
    rng = np.random.default_rng(0)
    table, prompts, responses = {}, [], []
    for region, centre, best in (("A", 0, 0), ("B", 90, 2)):
        for i in range(30):
            name = f"{region}{i}"
            table[name] = _angle(centre + rng.uniform(-5, 5))
            prompts.append(name)
            truth = rng.standard_normal(16)
            row = []
            for t in range(3):
                key = f"{name}-r{t}"
                table[key] = truth + (0.1 if t == best else 1.0) * rng.standard_normal(16)
                row.append(key)
            responses.append(row)
    table["qA"], table["qB"] = _angle(1), _angle(88)
    router = _router("smoothie", ["a", "b", "c"], n0=20)
    router.encoder = FakeEncoder(table)
    router.fit(_toy(prompts, None, responses=responses))  # label-free: no scores at all
    weights = router.predict(_toy(["qA", "qB"], None))
    assert weights.argmax(axis=1).tolist() == [0, 2]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_smoothie_on_real_items_is_label_free_and_deterministic(small):
    train, test = _split(small)
    first = _router("smoothie", PAPER5, n0=10)
    first.fit(train)
    shuffled = RoutingData(**{**train.__dict__, "scores": np.random.default_rng(0).random(train.scores.shape)})
    second = _router("smoothie", PAPER5, n0=10)
    second.fit(shuffled)
    got = first.predict(test)
    np.testing.assert_array_equal(got, second.predict(test))
    assert got.shape == (len(test), 5) and np.allclose(got.sum(axis=1), 1.0)


# --- determinism and leakage ----------------------------------------------------------------------

@pytest.mark.parametrize("name,options", [("knn", {"k": 5}), ("kmeans", {"k": 4}), ("smoothie", {"n0": 8})])
def test_same_seed_same_choices(small, name, options):
    train, test = _split(small)
    choices = []
    for _ in range(2):
        router = _router(name, PAPER5, seed=7, **options)
        router.fit(train)
        choices.append(router.predict(test).argmax(axis=1))
    np.testing.assert_array_equal(*choices)


class RecordingRouter(Router):
    learns = True
    log: list[tuple[str, list[str], bool]] = []

    def fit(self, train, valid=None):
        RecordingRouter.log.append(("fit", list(train.uids), train.scores is not None))

    def predict(self, items):
        # held-out items carry opaque ids (no benchmark in them): record their prompts instead
        RecordingRouter.log.append(("predict", list(items.prompts), items.scores is None and items.responses is None))
        return np.zeros((len(items), len(self.models)))


def test_cv_never_fits_on_a_held_out_item(small, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))  # no cached folds: every fold fits
    RecordingRouter.log = []
    out = cross_validate(lambda: RecordingRouter(RouterContext(models=PAPER5)), "recording", small, 5, 0,
                         progress=False)
    folds = out[1]
    log = RecordingRouter.log
    assert [kind for kind, _, _ in log] == ["fit", "predict"] * 5
    uid_of = dict(zip(small.prompts, small.uids))
    assert len(uid_of) == len(small)  # prompts identify the items here
    predicted = []
    for fold in range(5):
        (_, fit_uids, labelled), (_, test_prompts, stripped) = log[2 * fold], log[2 * fold + 1]
        test_uids = [uid_of[p] for p in test_prompts]
        assert labelled and stripped  # training has labels; held-out items come without them
        assert not set(fit_uids) & set(test_uids)
        assert set(test_uids) == {u for u, f in zip(small.uids, folds) if f == fold}
        assert set(fit_uids) | set(test_uids) == set(small.uids)
        predicted += test_uids
    assert sorted(predicted) == sorted(small.uids)  # every item exactly once out of fold


# --- task_best ------------------------------------------------------------------------------------

def test_task_best_picks_the_coder_on_humaneval():
    data = routing_data({b: store.load(b, PAPER5) for b in ("gsm8k", "humaneval")}, PAPER5)
    train, test = _split(data)
    router = _router("task_best", PAPER5)
    router.fit(train)
    assert router.best()["humaneval"] == "Qwen2.5-Coder-7B-Instruct"
    assert router.best()["gsm8k"] == "internlm2_5-20b-chat"  # the best single model on GSM8K
    labelled = data.subset(np.flatnonzero(cv_folds(data.benchmarks, 4, seed=0) == 0))
    choice = router.predict(labelled.queries(benchmark_label=True)).argmax(axis=1)  # task_best's entitlement
    expected = [PAPER5.index(router.best()[b]) for b in labelled.benchmarks]
    np.testing.assert_array_equal(choice, expected)
    assert router.learns and router.parameter_count() == 0


# --- encoder and bad input ------------------------------------------------------------------------

def test_profiles_choose_the_encoder_and_its_max_length():
    assert (resolve_encoder("cpu").name, resolve_encoder("cpu").max_length) == (OFFLINE_ENCODER, 256)
    assert resolve_encoder("smoke").name == OFFLINE_ENCODER
    assert (resolve_encoder("paper").name, resolve_encoder("paper").max_length) == (PAPER_ENCODER, 384)
    assert resolve_encoder("cpu", "mpnet").name == PAPER_ENCODER
    router = _router("knn", PAPER5, profile="cpu", max_length=128)
    assert router.config()["max_length"] == 128 and router.config()["encoder"] == OFFLINE_ENCODER


def test_embeddings_are_unit_norm_and_cached_per_text(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    encoder = Encoder(resolve_encoder("cpu"), progress=False)
    vecs = encoder.encode(["a routing test", "another one", "a routing test"])
    assert vecs.shape == (3, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vecs[0], vecs[2])
    assert len(list((tmp_path / "embeddings").glob("*/*.npz"))) == 1
    fresh = Encoder(resolve_encoder("cpu"), progress=False)
    fresh._model = object()  # reading from the cache must not run the model
    np.testing.assert_array_equal(fresh.encode(["another one"])[0], vecs[1])
    assert encoder.parameter_count() == 22_713_216


def test_bad_input_is_one_line(monkeypatch):
    with pytest.raises(HarnessError, match=r"unknown profile 'tpu' \(known: .*smoke.*cpu.*paper"):
        _router("knn", PAPER5, profile="tpu")
    with pytest.raises(HarnessError, match="unknown profile 'tpu'"):
        _router("task_best", PAPER5, profile="tpu")
    with pytest.raises(HarnessError, match="unknown option 'kk'"):
        _router("knn", PAPER5, kk=3)
    with pytest.raises(HarnessError, match="k=0 must be at least 1"):
        _router("kmeans", PAPER5, k=0)
    with pytest.raises(HarnessError, match="at least 3 candidates"):
        _router("smoothie", PAPER5[:2])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    router = _router("knn", PAPER5, encoder="no-such-org/no-such-encoder")
    with pytest.raises(HarnessError) as err:
        router.fit(_toy(["x"], [[0, 1, 2, 3, 4]], models=PAPER5))
    message = str(err.value)
    assert "no-such-org/no-such-encoder" in message and "encoder=" in message and "\n" not in message
