"""AlpacaEval, Arena-Hard and MT-Bench answers from an OpenAI-compatible endpoint (the ``openai``
client), with the benchmarks' own prompts (:mod:`harness.candidates.chat_prompts`).

* **Resumable**: each item's answer is one file, written atomically when the item is done
  (``<work>/chat/<benchmark>/<settings key>/<item>.json``); a re-run sends only the items without
  one. The settings key hashes the endpoint model, template and generation settings, so a change of
  settings generates afresh instead of mixing answers.
* **Bounded parallelism**: at most ``--concurrency`` requests in flight (a thread pool of that size;
  an MT-Bench item's two turns are sequential, as the second sees the first answer).
* **Progress**: answers done, rate and ETA on stderr, at most every 2 seconds.
* **Errors**: an endpoint that cannot be reached, or does not serve the model, is one line before
  any generation starts; a request that still fails after the client's retries stops the run
  (answers already written stay).
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from harness.candidates import chat_prompts
from harness.candidates.chat_prompts import ChatItem
from harness.candidates.settings import CandidateSpec
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, read_json


class Endpoint:
    """Chat completions from one model at one OpenAI-compatible endpoint."""

    def __init__(self, spec: CandidateSpec):
        try:
            from openai import OpenAI
        except ImportError:
            raise HarnessError("the openai package is missing (pip install -e '.[candidates]')") from None
        self.base_url, self.model = spec.base_url, spec.name_at_endpoint
        self.client = OpenAI(base_url=spec.base_url, api_key=spec.api_key or "none", timeout=spec.timeout_s,
                             max_retries=3)

    def check(self) -> None:
        """One line, before any generation, for an endpoint that is down or lacks the model."""
        import openai

        try:
            served = [m.id for m in self.client.with_options(max_retries=0, timeout=15).models.list()]
        except openai.APIConnectionError as exc:
            raise HarnessError(f"--base-url {self.base_url}: cannot reach the endpoint ({type(exc).__name__})") from None
        except openai.APIStatusError:
            return  # no /models route: the first request will tell
        if served and self.model not in served:
            raise HarnessError(f"--base-url {self.base_url}: serves {', '.join(served[:8])}, not '{self.model}' "
                               "(name it with --endpoint-model)")

    def chat(self, messages: list[dict], settings: dict) -> str:
        import openai

        options = {k: v for k, v in settings.items() if v is not None}
        try:
            reply = self.client.chat.completions.create(model=self.model, messages=messages, **options)
        except openai.APIConnectionError as exc:
            raise HarnessError(f"{self.base_url}: no answer ({type(exc).__name__}); re-run to resume") from None
        except openai.APIStatusError as exc:
            raise HarnessError(f"{self.base_url}: model '{self.model}' refused the request (HTTP {exc.status_code}): "
                               f"{str(exc)[:200]}") from None
        if not reply.choices:
            raise HarnessError(f"{self.base_url}: an answer without choices for model '{self.model}'")
        return reply.choices[0].message.content or ""


class Progress:
    """``label: done/total (rate/s, ETA ...)`` on stderr, at most every ``every`` seconds."""

    def __init__(self, label: str, total: int, done: int, every: float = 2.0):
        self.label, self.total, self.done, self.every = label, total, done, every
        self.start_done, self.start, self.last = done, time.time(), 0.0

    def step(self) -> None:
        self.done += 1
        now = time.time()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float) -> str:
        fresh, elapsed = self.done - self.start_done, max(now - self.start, 1e-9)
        rate = fresh / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_text = "?" if eta == float("inf") else f"{int(eta // 60)}m{int(eta % 60):02d}s"
        return f"{self.label}: {self.done}/{self.total} ({rate:.2f}/s, ETA {eta_text})"


def settings_key(spec: CandidateSpec, benchmark: str) -> str:
    blob = json.dumps({"model": spec.name_at_endpoint, "url": spec.base_url, "conv": spec.conv_template,
                       "max_tokens": spec.max_tokens, "temperature": spec.temperature, "bench": benchmark},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def answer_path(folder: Path, item: ChatItem) -> Path:
    return folder / f"{hashlib.sha256(item.id.encode()).hexdigest()[:24]}.json"


def _answer(endpoint: Endpoint, spec: CandidateSpec, item: ChatItem, template: str) -> dict:
    """Every turn of one item, in one conversation; the record says what was sent."""
    sent = chat_prompts.settings(item.benchmark, item, spec.max_tokens, spec.temperature)
    started, answers, requests = time.time(), [], []
    if item.benchmark == "mtbench":
        conv = chat_prompts.fastchat_conversation(spec.model, spec.conv_template)
        for turn in item.turns:
            conv.append_message(conv.roles[0], turn)
            conv.append_message(conv.roles[1], None)
            messages = conv.to_openai_api_messages()
            answers.append(endpoint.chat(messages, sent))
            conv.update_last_message(answers[-1])
            requests.append(messages)
    else:
        messages = chat_prompts.alpaca_messages(item.turns[0]) if item.benchmark == "alpacaeval" \
            else [{"role": "user", "content": item.turns[0]}]
        answers.append(endpoint.chat(messages, sent))
        requests.append(messages)
    return {"benchmark": item.benchmark, "id": item.id, "category": item.category, "turns": item.turns,
            "answers": answers,
            "generation": {"template": template, "settings": sent, "messages": requests,
                           "endpoint": spec.base_url, "endpoint_model": spec.name_at_endpoint,
                           "seconds": round(time.time() - started, 3)}}


def generate(spec: CandidateSpec, benchmark: str, endpoint: Endpoint | None = None) -> list[dict]:
    """Answers to the benchmark's first ``--limit`` items (all of them when unset), in item order."""
    endpoint = endpoint or Endpoint(spec)
    items = chat_prompts.items(benchmark, spec.limit)
    template = chat_prompts.template_name(benchmark, spec.model, spec.conv_template)
    folder = spec.work / "chat" / benchmark / settings_key(spec, benchmark)
    todo = [it for it in items if not _readable(answer_path(folder, it))]
    progress = Progress(f"candidate {spec.model}: {benchmark} answers", len(items), len(items) - len(todo))
    if todo:
        with ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="rh-answer") as pool:
            futures = {pool.submit(_answer, endpoint, spec, it, template): it for it in todo}
            pending, error = set(futures), None
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    if fut.cancelled():
                        continue
                    if fut.exception() is not None:
                        error = error or fut.exception()
                        continue
                    atomic_write_json(answer_path(folder, futures[fut]), fut.result())  # kept for a re-run
                    progress.step()
                if error is not None:  # stop sending; the requests in flight finish and are kept
                    for other in pending:
                        other.cancel()
            if error is not None:
                raise error
    return [read_json(answer_path(folder, it)) for it in items]


def _readable(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        read_json(path)
        return True
    except HarnessError:
        path.unlink(missing_ok=True)  # a damaged answer file is asked for again
        return False
