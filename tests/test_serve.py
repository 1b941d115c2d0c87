"""``routing-harness serve`` against fake upstream candidates on 127.0.0.1 (started and stopped here):
routes as the router's offline predict does, streams, passes through, cost-aware choice, errors in
OpenAI's shape (unknown model, malformed body, dead or failing upstream), inference off the event
loop and micro-batched, a router served from a run's fold cache with its provenance, the CLI."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
import httpx2  # noqa: E402
from openai import NotFoundError, OpenAI  # noqa: E402

from harness.core import config, protocols, store  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from harness.core.io import read_json  # noqa: E402
from harness.core.pools import PAPER5  # noqa: E402
from harness.serve import loading, settings  # noqa: E402
from harness.serve.app import Service, create_app  # noqa: E402
from harness.serve.batching import choose  # noqa: E402
from harness.serve.fake_upstream import FakeUpstream, answer_text  # noqa: E402
from harness.serve.server import BackgroundServer, loopback_socket  # noqa: E402
from routers import register_router  # noqa: E402
from routers.base import Router, RoutingData  # noqa: E402
from tests.conftest import cli_env  # noqa: E402

FIXED_SCORES = np.array([0.9, 0.8, 0.5, 0.2, 0.1])
PRICES = {"Yi-1.5-34B-Chat": 10.0, "internlm2_5-20b-chat": 1.0, "Phi-3-medium-4k-instruct": 1.0,
          "Llama-3.1-8B-Instruct": 1.0, "Qwen2.5-Coder-7B-Instruct": 0.0}


@register_router("serve_test_fixed_scores")
class FixedScores(Router):
    """The same scores for every prompt (cost-aware choices can be worked out by hand)."""

    def predict(self, items: RoutingData) -> np.ndarray:
        return np.tile(FIXED_SCORES[:len(self.models)], (len(items), 1))


@register_router("serve_test_slow")
class Slow(Router):
    """Sleeps in predict (a slow encoder) and routes by prompt length; records its batch sizes."""

    calls: list[int] = []

    def predict(self, items: RoutingData) -> np.ndarray:
        Slow.calls.append(len(items))
        time.sleep(0.4)
        scores = np.zeros((len(items), len(self.models)))
        scores[np.arange(len(items)), [len(p) % len(self.models) for p in items.prompts]] = 1.0
        return scores


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream(PAPER5)
    with BackgroundServer(upstream.app) as server:
        upstream.url = server.url
        yield upstream


def _service(fake, *served: loading.ServedRouter, **config) -> Service:
    raw = fake.config(fake.url, prices=config.pop("prices", None), **config)
    return Service(settings.parse(raw), {s.model_id: s for s in served})


def _ask(model: str, text: str, **extra) -> dict:
    return {"model": model, "messages": [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": text}], **extra}


def _reference(name: str) -> loading.ServedRouter:
    return loading.load(loading.RouterSpec(router=name))


async def _post_all(url: str, bodies: list[dict]) -> list[httpx2.Response]:
    async with httpx2.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))


# --- routing ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def knn():
    """knn with the shipped MiniLM, fitted on HumanEval's items (k=10)."""
    return loading.load(loading.RouterSpec(router="knn", fit="pool", benchmarks=["humaneval"], options={"k": "10"}))


def test_routes_as_offline_predict(fake, knn):
    prompts = store.load("mbpp", PAPER5).prompts[:24]
    shards = lambda: sorted((config.parsed_cache_dir() / "embeddings").rglob("*.npz"))  # noqa: E731
    before = shards()
    items = RoutingData(uids=[f"q{i}" for i in range(len(prompts))], benchmarks=["mbpp"] * len(prompts),
                        prompts=prompts, models=list(PAPER5))
    offline = [PAPER5[i] for i in np.argmax(knn.router.predict(items), axis=1)]
    assert len(set(offline)) > 1, "a test where every prompt goes to one candidate proves little"
    with BackgroundServer(create_app(_service(fake, knn))) as server:
        replies = asyncio.run(_post_all(server.url, [_ask("router-knn", p) for p in prompts]))
        sizes = server.server.config.app.state.service.scorers["router-knn"].batch_sizes
    assert [r.status_code for r in replies] == [200] * len(prompts)
    served = [r.headers["x-routing-candidate"] for r in replies]
    assert served == offline
    for reply, prompt, chosen in zip(replies, prompts, offline):
        body = reply.json()
        assert body["routing"]["candidate"] == chosen and body["routing"]["router"] == "router-knn"
        assert float(reply.headers["x-routing-ms"]) == pytest.approx(body["routing"]["routing_ms"], abs=1e-3)
        assert body["choices"][0]["message"]["content"] == answer_text(chosen, {"model": f"upstream/{chosen}",
                                                                                "messages": _ask("", prompt)["messages"]})
    assert max(sizes) > 1 and sum(sizes) == len(prompts)  # concurrent requests shared predict calls
    assert shards() == before  # queries are not written into the training-prompt embedding cache


def test_streams_with_routing_on_the_first_chunk(fake):
    served = _reference("fixed:Llama-3.1-8B-Instruct")
    with BackgroundServer(create_app(_service(fake, served))) as server:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        chunks = list(client.chat.completions.create(**_ask(served.model_id, "stream me"), stream=True))
        with httpx2.stream("POST", f"{server.url}/v1/chat/completions",
                           json=_ask(served.model_id, "raw", stream=True)) as raw:
            assert raw.headers["content-type"].startswith("text/event-stream")
            assert raw.headers["x-routing-candidate"] == "Llama-3.1-8B-Instruct"
            events = [line for line in raw.iter_lines() if line.startswith("data: ")]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 3
    assert text == answer_text("Llama-3.1-8B-Instruct", {"model": "upstream/Llama-3.1-8B-Instruct",
                                                          "messages": [{"role": "user", "content": "stream me"}]})
    assert chunks[0].model_extra["routing"]["candidate"] == "Llama-3.1-8B-Instruct"
    assert all("routing" not in (c.model_extra or {}) for c in chunks[1:])
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["routing"]["router"] == served.model_id


def test_passes_through_to_a_named_candidate(fake):
    served = _reference("serve_test_slow")
    Slow.calls.clear()
    with BackgroundServer(create_app(_service(fake, served))) as server:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(**_ask("Phi-3-medium-4k-instruct", "direct"))
    reply = raw.parse()
    assert raw.headers["x-routing-candidate"] == "Phi-3-medium-4k-instruct"
    assert raw.headers["x-routing-router"] == ""
    assert reply.choices[0].message.content.startswith("[Phi-3-medium-4k-instruct|upstream/Phi-3-medium-4k-instruct]")
    assert reply.model_extra["routing"]["router"] is None
    assert Slow.calls == []  # the router was not asked
    assert fake.requests["Phi-3-medium-4k-instruct"][-1]["model"] == "upstream/Phi-3-medium-4k-instruct"


def test_cost_aware_choice_by_hand(fake):
    # scores 0.9 0.8 0.5 0.2 0.1, prices 10 1 1 1 0:
    # λ=0 -> Yi; λ=0.05 -> 0.4 0.75 0.45 0.15 0.1 -> internlm; λ=1 -> -9.1 -0.2 -0.5 -0.8 0.1 -> Qwen
    assert choose(FIXED_SCORES, list(PRICES.values()), 0.0) == 0
    assert choose(FIXED_SCORES, list(PRICES.values()), 0.05) == 1
    assert choose(FIXED_SCORES, list(PRICES.values()), 1.0) == 4
    served = _reference("serve_test_fixed_scores")
    with BackgroundServer(create_app(_service(fake, served, prices=PRICES, default_lambda=0.05))) as server:
        bodies = [_ask(served.model_id, "q", routing={"lambda": 0}), _ask(served.model_id, "q"),
                  _ask(served.model_id, "q", routing={"lambda": 1.0})]
        replies = asyncio.run(_post_all(server.url, bodies))
    assert [r.headers["x-routing-candidate"] for r in replies] == \
        ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Qwen2.5-Coder-7B-Instruct"]
    assert [r.json()["routing"]["lambda"] for r in replies] == [0, 0.05, 1.0]


def test_inference_is_off_the_event_loop_and_batched(fake):
    served = _reference("serve_test_slow")
    Slow.calls.clear()
    with BackgroundServer(create_app(_service(fake, served))) as server:
        results: list = []
        worker = threading.Thread(target=lambda: results.extend(asyncio.run(_post_all(
            server.url, [_ask(served.model_id, "x" * n) for n in range(1, 9)]))))
        worker.start()
        time.sleep(0.15)  # the first batch is in predict now (it sleeps 0.4 s)
        started = time.perf_counter()
        assert httpx2.get(f"{server.url}/health", timeout=5).status_code == 200
        health_s = time.perf_counter() - started
        worker.join(timeout=30)
    assert health_s < 0.25, f"/health waited {health_s:.2f} s behind the router's predict"
    assert [r.status_code for r in results] == [200] * 8
    assert max(Slow.calls) > 1 and sum(Slow.calls) == 8
    assert [r.headers["x-routing-candidate"] for r in results] == [PAPER5[n % 5] for n in range(1, 9)]


# --- errors ----------------------------------------------------------------------------------------

def _error(reply: httpx2.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def test_bad_requests_get_openai_errors(fake):
    served = _reference("serve_test_fixed_scores")
    with BackgroundServer(create_app(_service(fake, served))) as server:
        url = f"{server.url}/v1/chat/completions"
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(NotFoundError, match="router-nope"):
            client.chat.completions.create(**_ask("router-nope", "q"))
        unknown = _error(httpx2.post(url, json=_ask("router-nope", "q")), 404)
        assert unknown["code"] == "model_not_found" and unknown["param"] == "model"
        assert "router-serve_test_fixed_scores" in unknown["message"]
        assert _error(httpx2.post(url, content=b"{not json"), 400)["code"] == "invalid_json"
        assert _error(httpx2.post(url, json=["a list"]), 400)["code"] == "invalid_json"
        assert _error(httpx2.post(url, json={"model": served.model_id}), 400)["param"] == "messages"
        assert _error(httpx2.post(url, json={"model": served.model_id, "messages": "hi"}), 400)["param"] == "messages"
        no_user = {"model": served.model_id, "messages": [{"role": "system", "content": "x"}]}
        assert "no user message" in _error(httpx2.post(url, json=no_user), 400)["message"]
        assert _error(httpx2.post(url, json=_ask(served.model_id, "q", routing={"lambda": -1})), 400)["param"] \
            == "routing.lambda"
        unpriced = _error(httpx2.post(url, json=_ask(served.model_id, "q", routing={"lambda": 0.5})), 400)
        assert unpriced["param"] == "routing.lambda" and "price" in unpriced["message"]
        assert _error(httpx2.get(f"{server.url}/v1/nothing"), 404)["type"] == "invalid_request_error"


def test_dead_and_failing_upstreams(fake):
    dead = loopback_socket()  # bound, never listening: connections are refused
    try:
        raw = fake.config(fake.url)
        raw["candidates"]["Yi-1.5-34B-Chat"]["base_url"] = f"http://127.0.0.1:{dead.getsockname()[1]}/v1"
        service = Service(settings.parse(raw), {})
        with BackgroundServer(create_app(service)) as server:
            url = f"{server.url}/v1/chat/completions"
            started = time.perf_counter()
            down = _error(httpx2.post(url, json=_ask("Yi-1.5-34B-Chat", "q"), timeout=30), 502)
            assert down["code"] == "upstream_unavailable" and "Yi-1.5-34B-Chat" in down["message"]
            assert "2 attempts" in down["message"] and time.perf_counter() - started < 10
            streamed = _error(httpx2.post(url, json=_ask("Yi-1.5-34B-Chat", "q", stream=True), timeout=30), 502)
            assert streamed["code"] == "upstream_unavailable"

            name = "internlm2_5-20b-chat"
            seen = len(fake.requests[name])
            fake.script[name] = [503]  # fails once: the retry answers
            assert httpx2.post(url, json=_ask(name, "q")).status_code == 200
            fake.script[name] = [500, 500]  # fails twice: reported
            assert _error(httpx2.post(url, json=_ask(name, "q")), 502)["code"] == "upstream_unavailable"
            fake.script[name] = [400]  # the upstream rejects the request: relayed, not retried
            rejected = _error(httpx2.post(url, json=_ask(name, "q")), 400)
            assert "scripted failure 400" in rejected["message"] and rejected["code"] == "upstream_rejected"
            assert len(fake.requests[name]) - seen == 2 + 2 + 1
    finally:
        dead.close()
        fake.script.clear()


def test_config_files_and_their_errors(tmp_path, fake):
    yaml_file = tmp_path / "serve.yaml"
    yaml_file.write_text("candidates:\n  a:\n    base_url: http://127.0.0.1:1/v1\n    api_key_env: SERVE_TEST_KEY\n"
                         "    price: 2.5\n  b:\n    base_url: http://127.0.0.1:1/v1/\n    model: up-b\n"
                         "default_lambda: 0.1\n")
    with pytest.raises(HarnessError, match=r"serve\.yaml: candidates\.a\.api_key_env: environment variable "
                                           r"SERVE_TEST_KEY is not set"):
        settings.load(yaml_file)
    cfg = settings.parse(settings._read(yaml_file), "serve.yaml", environ={"SERVE_TEST_KEY": "sk-test-secret"})
    assert cfg.candidates["a"].api_key == "sk-test-secret" and cfg.candidates["a"].model == "a"
    assert cfg.candidates["b"].base_url == "http://127.0.0.1:1/v1" and cfg.candidates["b"].model == "up-b"
    assert "sk-test-secret" not in json.dumps(cfg.candidates["a"].public())
    bad = tmp_path / "bad.json"
    for content, match in [("{", "not valid JSON"),
                           ('{"candidates": {"a": {"base_url": "http://x/v1", "prise": 1}}}', r"candidates\.a\.prise"),
                           ('{"candidates": {"a": {"base_url": "ftp://x"}}}', r"candidates\.a\.base_url"),
                           ('{"candidates": {}}', "candidates")]:
        bad.write_text(content)
        with pytest.raises(HarnessError, match=match):
            settings.load(bad)
    four = settings.parse({"candidates": {m: {"base_url": "http://127.0.0.1:1/v1"} for m in PAPER5[:4]}})
    with pytest.raises(HarnessError, match="Qwen2.5-Coder-7B-Instruct, which have no entry"):
        settings.check_pool(four, PAPER5, "knn")


# --- a run's router, provenance, the CLI -----------------------------------------------------------

def test_serves_a_runs_router_from_the_fold_cache(fake, results_dir):
    from harness.api import EvalConfig, evaluate

    evaluate(EvalConfig(router="mlc", benchmarks=["humaneval"], profile="smoke", folds=2, seed=0), write=True)
    run_file = next((results_dir / "runs").glob("mlc__paper5__cv__smoke__seed0.json"))
    run = read_json(run_file)
    served = loading.load(loading.RouterSpec(run=str(run_file), fold=1))
    prov = served.provenance
    assert prov["trained_on"]["source"] == "run fold cache" and prov["run_file"] == str(run_file)
    assert prov["run_router_config_matches"] is True
    # the served router is the run's fold-1 router: same scores as the out-of-fold ones cached for it
    data = store.load("humaneval", PAPER5)
    held_out = np.flatnonzero(protocols.cv_folds(["humaneval"] * data.n_items, 2, 0) == 1)
    key = run["routing"]["training"][1]["cache_key"]
    cached = np.load(Path(protocols.fitted_router_path(key)).parent.parent / "folds" / f"{key}.npy")
    prompts = [data.prompts[i] for i in held_out]
    np.testing.assert_allclose(served.predict(prompts), cached, rtol=1e-4, atol=1e-5)
    choices = run["benchmarks"]["humaneval"]["choice"]
    with BackgroundServer(create_app(_service(fake, served))) as server:
        replies = asyncio.run(_post_all(server.url, [_ask(served.model_id, prompts[j]) for j in range(12)]))
        listed = httpx2.get(f"{server.url}/v1/models").json()["data"]
        info = httpx2.get(f"{server.url}/info").json()
    assert [r.headers["x-routing-candidate"] for r in replies] == [PAPER5[choices[i]] for i in held_out[:12]]
    served_scores = [[r.json()["routing"]["scores"][m] for m in PAPER5] for r in replies]
    np.testing.assert_allclose(served_scores, cached[:12], rtol=1e-4, atol=1e-5)  # not only the argmax
    entry = next(m for m in listed if m["id"] == "router-mlc")
    for field in ("run_file", "commit", "data_manifest", "code_fingerprint"):
        assert entry["provenance"][field] and info["routers"][0][field] == entry["provenance"][field]
    assert entry["provenance"]["run_provenance"] == run["provenance"]
    assert {m["id"] for m in listed} == {"router-mlc", *PAPER5}
    # without the fitted router on disk it is refitted on the same fold's items, and says so
    Path(protocols.fitted_router_path(key)).unlink()
    refitted = loading.load(loading.RouterSpec(run=str(run_file), fold=1))
    assert refitted.provenance["trained_on"]["source"] == "cv" and refitted.provenance["trained_on"]["refitted_for_run"]
    assert refitted.provenance["trained_on"]["n_items"] == data.n_items - len(held_out)
    assert refitted.provenance["trained_on"]["fold"] == 1
    np.testing.assert_allclose(refitted.predict(prompts), cached, rtol=1e-4, atol=1e-5)  # seeded: the same fit


def test_cli_serves_and_reports_bad_input(tmp_path, fake, results_dir, capsys):
    from harness.cli import main

    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"candidates": {m: {"base_url": "http://127.0.0.1:1/v1"} for m in PAPER5[:3]}}))
    assert main(["serve", "--config", str(config), "--router", "random"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "serve.json" in err and "Llama-3.1-8B-Instruct" in err
    assert main(["serve", "--config", str(tmp_path / "none.yaml"), "--router", "random"]) == 2
    assert main(["serve", "--config", str(config)]) == 2
    assert main(["serve", "--config", str(config), "--router", "oracle"]) == 2
    assert "cannot route live traffic" in capsys.readouterr().err

    config.write_text(json.dumps(fake.config(fake.url)))
    port_holder = loopback_socket()
    port = port_holder.getsockname()[1]
    port_holder.close()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--config", str(config), "--router",
                             "fixed:Qwen2.5-Coder-7B-Instruct", "--port", str(port)],
                            env=cli_env(results_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.2)
        reply = httpx2.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                            json=_ask("router-fixed:Qwen2.5-Coder-7B-Instruct", "cli"), timeout=30)
        assert reply.headers["x-routing-candidate"] == "Qwen2.5-Coder-7B-Instruct"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
