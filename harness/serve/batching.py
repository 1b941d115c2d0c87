"""Router inference off the event loop, micro-batched, and the (cost-aware) choice.

Each served router has one worker thread (routers are not thread-safe) fed by an asyncio queue. The
worker takes every request that is waiting when it becomes free, up to ``max_batch``, and scores them
in one ``predict`` call: under load the encoder's forward pass is shared by many requests, and a lone
request is never held back to wait for company.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


@dataclass
class Scored:
    scores: np.ndarray  # (T,) this prompt's row
    queued_ms: float  # from submission to the start of its batch
    predict_ms: float  # the batch's predict call
    batch_size: int


@dataclass
class _Job:
    prompt: str
    future: asyncio.Future
    submitted: float = field(default_factory=time.perf_counter)


class BatchScorer:
    """``await scorer.score(prompt)`` -> that prompt's scores, computed in a batch with its neighbours."""

    def __init__(self, predict: Callable[[list[str]], np.ndarray], name: str, max_batch: int = 32):
        self.predict = predict
        self.name = name
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []  # every batch's size, for tests and the bench (bounded below)
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"router-{name}")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def score(self, prompt: str) -> Scored:
        if self._queue is None:
            raise RuntimeError(f"scorer {self.name} not started")
        job = _Job(prompt, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            while len(jobs) < self.max_batch and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            jobs = [j for j in jobs if not j.future.done()]  # a client that went away is not scored
            if not jobs:
                continue
            started = time.perf_counter()
            try:
                scores = await loop.run_in_executor(self._pool, self.predict, [j.prompt for j in jobs])
            except Exception as exc:  # the router failed: every request of the batch gets the error
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            predict_ms = (time.perf_counter() - started) * 1000
            if len(self.batch_sizes) < 100_000:
                self.batch_sizes.append(len(jobs))
            for job, row in zip(jobs, scores):
                if not job.future.done():
                    job.future.set_result(Scored(np.asarray(row, dtype=np.float64),
                                                 (started - job.submitted) * 1000, predict_ms, len(jobs)))


def choose(scores: np.ndarray, prices: Sequence[float | None] | None, lam: float) -> int:
    """The candidate index: argmax(score - lam * price) (ties to the first in pool order, as the
    evaluation's argmax). With ``lam == 0`` prices are not needed and the choice is the plain argmax."""
    scores = np.asarray(scores, dtype=np.float64)
    if lam == 0:
        return int(np.argmax(scores))
    if prices is None or any(p is None for p in prices):
        raise ValueError("cost-aware routing needs a price for every candidate")
    return int(np.argmax(scores - lam * np.asarray(prices, dtype=np.float64)))
