"""Pretrained-embedding routers: ``knn``, ``kmeans`` and ``smoothie`` (baseline cards 1-3).

All three embed text with a frozen sentence encoder (:mod:`routers.encoders`; ``encoder=`` option,
profile default: MiniLM for smoke/cpu, all-mpnet-base-v2 for paper) and use scikit-learn for the
neighbour search and clustering. Training data is whatever ``fit`` receives; under ``cv`` that is
the other folds' items with their ground-truth scores and the candidates' responses.

Score targets (knn, kmeans), as the cards prescribe: per-item min-max of the candidates' scores
(best 1, worst 0), and items where every candidate ties are *kept* as all-zero vectors, so they
enter the averages (they pull every candidate's mean down equally and change no ranking on their
own, but they dilute a neighbourhood). smoothie uses no scores at all.

Options (``OPTIONS="key=value ..."``): ``encoder``, ``max_length``, ``threads`` for every router;
``k`` (knn neighbours / kmeans clusters, default 100), ``n_init`` (kmeans, default 1), ``n0`` and
``floor`` (smoothie, defaults 1000 and 1e-6).
"""
from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from harness.core.errors import HarnessError
from routers import register_router
from routers.base import Router, RouterContext, RoutingData
from routers.encoders import Encoder, check_profile, encoder_for
from routers.labels import per_item_normalized

ENCODER_OPTIONS = ("encoder", "max_length", "threads")
UNTRAINED_N = 6500  # init_untrained: about one cv training fold of paper5 (4/5 of 8,124 items)


def parse_settings(router: str, defaults: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by options (strings from the CLI coerced to the default's type)."""
    out = dict(defaults)
    for key, value in options.items():
        if key in ENCODER_OPTIONS:
            continue
        if key not in defaults:
            known = ", ".join([*defaults, *ENCODER_OPTIONS])
            raise HarnessError(f"router '{router}': unknown option '{key}' (known: {known})")
        try:
            out[key] = type(defaults[key])(value)
        except (TypeError, ValueError):
            raise HarnessError(f"router '{router}': option {key}={value!r} is not a "
                               f"{type(defaults[key]).__name__}") from None
    return out


class EmbeddingRouter(Router):
    """Shared plumbing: profile check, settings, the encoder and its cost."""

    learns = True
    name = "embedding"
    DEFAULTS: dict[str, Any] = {}
    VERSION = 1  # bump when predictions change for the same settings: it keys the cv fold cache

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        check_profile(ctx.profile)
        self.settings = parse_settings(self.name, self.DEFAULTS, ctx.options)
        for key, value in self.settings.items():
            if isinstance(value, int) and value < 1:
                raise HarnessError(f"router '{self.name}': option {key}={value} must be at least 1")
        self.encoder: Encoder = encoder_for(ctx.profile, ctx.options)
        self.n_train = 0
        self.dim = 0

    def config(self) -> dict[str, Any]:
        return {**self.encoder.config(), **self.settings, "version": self.VERSION}

    def parameter_count(self) -> int:
        return self.encoder.parameter_count()

    def embed(self, texts: list[str], desc: str) -> np.ndarray:
        vecs = self.encoder.encode(texts, desc)
        self.dim = vecs.shape[1]
        return vecs

    def _untrained_prompts(self) -> np.ndarray:
        """Random unit vectors standing in for UNTRAINED_N training prompts; the encoder then runs
        uncached so a cost measurement sees its forward pass."""
        self.encoder.use_cache = False
        self.dim = self.encoder.dimension()
        self.n_train = UNTRAINED_N
        rng = np.random.default_rng(self.ctx.seed)
        return _unit(rng.standard_normal((UNTRAINED_N, self.dim)).astype(np.float32))

    def _check_train(self, train: RoutingData) -> None:
        if len(train) == 0:
            raise HarnessError(f"router '{self.name}': no training items")
        if train.scores is None:
            raise HarnessError(f"router '{self.name}': training items have no scores")


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


@register_router("knn")
class KNNRouter(EmbeddingRouter):
    """kNN (card 1): the unweighted mean of the per-item min-max normalized score vectors of the k
    training prompts with the highest dot product (= cosine, the embeddings are unit-norm) to the
    test prompt. All-tied training items count as all-zero vectors. Brute-force search."""

    name = "knn"
    DEFAULTS = {"k": 100}

    def fit(self, train: RoutingData, valid: RoutingData | None = None) -> None:
        self._check_train(train)
        self._index(self.embed(train.prompts, "train prompts"), per_item_normalized(train.scores))

    def _index(self, prompts: np.ndarray, targets: np.ndarray) -> None:
        self.targets = targets
        self.n_train = len(prompts)
        k = min(self.settings["k"], self.n_train)
        # cosine distance on unit vectors is 1 - dot: nearest = highest dot product
        self.search = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(prompts)

    def predict(self, items: RoutingData) -> np.ndarray:
        neighbours = self.search.kneighbors(self.embed(items.prompts, "prompts"), return_distance=False)
        return self.targets[neighbours].mean(axis=1)

    def init_untrained(self) -> None:
        prompts = self._untrained_prompts()
        rng = np.random.default_rng(self.ctx.seed)
        self._index(prompts, rng.random((len(prompts), len(self.models))))

    def extra_flops_per_query(self) -> float:
        # n_train dot products of length d (2 FLOPs per multiply-add), n_train comparisons for the
        # top-k selection, then the mean of k score vectors
        k = min(self.settings["k"], self.n_train)
        return float(2 * self.n_train * self.dim + self.n_train + k * len(self.models))


@register_router("kmeans")
class KMeansRouter(EmbeddingRouter):
    """k-means (card 2): ``KMeans(n_clusters=k, random_state=seed)`` on the unit-norm training prompt
    embeddings; a cluster's vector is the unweighted mean of its members' per-item min-max
    normalized scores (all-tied items as zeros); a test prompt goes to the argmax of its nearest
    centroid's vector.

    ``n_init=1`` is set explicitly: it is what sklearn >= 1.4's default ``n_init="auto"`` means for
    k-means++ init, and the authors' ``random_state=0`` run used sklearn's defaults. Unlike the
    authors' code the training set is not shuffled before fitting, so a seed fixes the centroids.
    """

    name = "kmeans"
    DEFAULTS = {"k": 100, "n_init": 1}

    def fit(self, train: RoutingData, valid: RoutingData | None = None) -> None:
        self._check_train(train)
        self._cluster(self.embed(train.prompts, "train prompts"), per_item_normalized(train.scores))

    def _cluster(self, prompts: np.ndarray, targets: np.ndarray) -> None:
        self.n_train = len(prompts)
        clusters = min(self.settings["k"], self.n_train)
        self.kmeans = KMeans(n_clusters=clusters, random_state=self.ctx.seed,
                             n_init=self.settings["n_init"]).fit(prompts)
        self.cluster_scores = cluster_means(self.kmeans.labels_, targets, clusters)

    def predict(self, items: RoutingData) -> np.ndarray:
        return self.cluster_scores[self.kmeans.predict(self.embed(items.prompts, "prompts"))]

    def init_untrained(self) -> None:
        prompts = self._untrained_prompts()
        rng = np.random.default_rng(self.ctx.seed)
        self._cluster(prompts, rng.random((len(prompts), len(self.models))))

    def extra_flops_per_query(self) -> float:
        # distances to every centroid (2 FLOPs per multiply-add) and the argmin over them
        clusters = min(self.settings["k"], self.n_train) if self.n_train else self.settings["k"]
        return float(2 * clusters * self.dim + clusters)


def cluster_means(labels: np.ndarray, targets: np.ndarray, clusters: int) -> np.ndarray:
    """Mean target vector per cluster; a cluster left empty falls back to the overall mean."""
    out = np.tile(targets.mean(axis=0), (clusters, 1))
    counts = np.bincount(labels, minlength=clusters)
    sums = np.zeros_like(out)
    np.add.at(sums, labels, targets)
    filled = counts > 0
    out[filled] = sums[filled] / counts[filled, None]
    return out


def triplet_deltas(distances: np.ndarray) -> np.ndarray:
    """SMOOTHIE's triplet estimate of each voter's error delta_i = E||lambda_i - y||^2.

    ``distances``: (..., T, T) mean squared distances D_ab between voters' embeddings. Since
    E||l_i - l_j||^2 = delta_i + delta_j, each pair {j, k} of the other voters gives the estimate
    (D_ij + D_ik - D_jk) / 2 of delta_i; the C(T-1, 2) estimates are averaged.
    """
    t = distances.shape[-1]
    if t < 3:
        raise HarnessError(f"smoothie needs at least 3 candidates (the triplet estimator); got {t}")
    deltas = np.zeros(distances.shape[:-1])
    for i in range(t):
        pairs = list(combinations([j for j in range(t) if j != i], 2))
        for j, k in pairs:
            deltas[..., i] += 0.5 * (distances[..., i, j] + distances[..., i, k] - distances[..., j, k])
        deltas[..., i] /= len(pairs)
    return deltas


def smoothie_weights(deltas: np.ndarray, dim: int, floor: float) -> np.ndarray:
    """theta_i = d / (2 delta_i), normalised to sum to 1 per query.

    A delta estimate <= 0 (identical or empty responses make it possible) would give a negative
    theta and flip the normalised order, as it would in the original; we floor delta at ``floor``
    first, so the route is argmin of the floored delta (ties to the first candidate in pool order).
    This departs from the original code only where the original misbehaves.
    """
    theta = dim / (2.0 * np.maximum(deltas, floor))
    return theta / theta.sum(axis=-1, keepdims=True)


@register_router("smoothie")
class SmoothieRouter(EmbeddingRouter):
    """SMOOTHIE (card 3), train-time Smoothie-Local, label-free.

    For a test prompt, its n0 nearest training prompts (Euclidean on the prompt embeddings, sklearn
    ``NearestNeighbors``, uniform weights) are the sample set; the voters are the candidates'
    *training* responses to those prompts (the response text only, embedded with the same encoder).
    D_ab = mean over the sample set of ||lambda_a - lambda_b||^2, delta_i by the triplet method,
    theta_i = d / (2 delta_i) normalised; route to argmax theta. No scores are used, and no response
    is needed at test time.

    The per-item T x T squared distances are computed once in ``fit``; a query's D is then the mean
    of its neighbours' matrices (a sparse neighbour graph times that table).
    """

    name = "smoothie"
    DEFAULTS = {"n0": 1000, "floor": 1e-6}

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        if len(self.models) < 3:  # each voter's estimate needs a pair of other voters
            raise HarnessError(f"router 'smoothie' needs at least 3 candidates (the triplet estimator); "
                               f"the pool has {len(self.models)}")

    def fit(self, train: RoutingData, valid: RoutingData | None = None) -> None:
        if len(train) == 0:
            raise HarnessError("router 'smoothie': no training items")
        if train.responses is None:
            raise HarnessError("router 'smoothie' needs the training items' responses")
        prompts = self.embed(train.prompts, "train prompts")
        t = len(self.models)
        flat = [train.responses[i][j] or "" for i in range(len(train)) for j in range(t)]
        responses = self.embed(flat, "train responses").reshape(len(train), t, -1)
        self._index(prompts, pairwise_sq_distances(responses))

    def _index(self, prompts: np.ndarray, pair_sq: np.ndarray) -> None:
        self.n_train = len(prompts)
        self.pair_sq = pair_sq.reshape(self.n_train, -1)  # (n, T*T)
        n0 = min(self.settings["n0"], self.n_train)
        self.search = NearestNeighbors(n_neighbors=n0, metric="euclidean", algorithm="brute").fit(prompts)

    def predict(self, items: RoutingData) -> np.ndarray:
        graph = self.search.kneighbors_graph(self.embed(items.prompts, "prompts"), mode="connectivity")
        t = len(self.models)
        counts = np.asarray(graph.sum(axis=1)).reshape(-1, 1)
        distances = np.asarray(graph @ self.pair_sq) / counts  # (m, T*T): the mean over neighbours
        deltas = triplet_deltas(distances.reshape(-1, t, t))
        return smoothie_weights(deltas, self.dim, self.settings["floor"])

    def init_untrained(self) -> None:
        prompts = self._untrained_prompts()
        rng = np.random.default_rng(self.ctx.seed)
        voters = _unit(rng.standard_normal((len(prompts), len(self.models), 8)))
        self._index(prompts, pairwise_sq_distances(voters))

    def extra_flops_per_query(self) -> float:
        # Euclidean search over n_train prompts (2 FLOPs per multiply-add), the top-n0 selection,
        # averaging n0 T x T tables, and the triplet estimator (3 terms per C(T-1,2) pair per voter)
        t = len(self.models)
        n0 = min(self.settings["n0"], self.n_train)
        return float(2 * self.n_train * self.dim + self.n_train + n0 * t * t + 3 * t * (t - 1) * (t - 2) / 2)


def pairwise_sq_distances(vectors: np.ndarray) -> np.ndarray:
    """(n, T, d) -> (n, T, T) squared Euclidean distances between each item's T vectors."""
    sq = np.einsum("ntd,ntd->nt", vectors, vectors)
    gram = np.einsum("ntd,nsd->nts", vectors, vectors)
    return np.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * gram, 0.0)
