"""A stand-in for candidates' upstream endpoints: one OpenAI-compatible app that answers for many
candidates, each under its own prefix (``<url>/<candidate>/v1``), for tests, the bench and a dry run
of ``routing-harness serve`` without real LLMs.

Every answer names the candidate that gave it and the model name it was asked for, so a test can tell
where a request went. ``script`` makes a candidate fail: a list of HTTP statuses used up one per
request (then 200). Responses are built from the openai package's own types, so they have the
shape a real endpoint's have.

    python -m harness.serve.fake_upstream --port 9000 --candidates a,b,c   # serves until killed
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MAX_LOG = 10_000  # requests kept per candidate (bounded: the bench sends thousands)


def answer_text(candidate: str, body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    last = users[-1].get("content") if users else ""
    return f"[{candidate}|{body.get('model')}] {str(last)[:60]}"


class FakeUpstream:
    def __init__(self, candidates: list[str], delay_s: float = 0.0, chunks: int = 3):
        self.candidates = list(candidates)
        self.delay_s = delay_s
        self.chunks = chunks
        self.script: dict[str, list[int]] = {}
        self.requests: dict[str, list[dict[str, Any]]] = {c: [] for c in candidates}
        self.app = Starlette(routes=[Route("/{candidate}/v1/chat/completions", self.chat, methods=["POST"]),
                                     Route("/{candidate}/v1/models", self.models, methods=["GET"])])

    def base_url(self, server_url: str, candidate: str) -> str:
        return f"{server_url}/{candidate}/v1"

    def config(self, server_url: str, prices: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
        """A serve config (as a dict) pointing every candidate at this fake."""
        cands = {}
        for name in self.candidates:
            entry: dict[str, Any] = {"base_url": self.base_url(server_url, name), "model": f"upstream/{name}",
                                     "timeout": 30}
            if prices and name in prices:
                entry["price"] = prices[name]
            cands[name] = entry
        return {"candidates": cands, **extra}

    async def models(self, request: Request) -> Response:
        name = request.path_params["candidate"]
        return JSONResponse({"object": "list", "data": [{"id": f"upstream/{name}", "object": "model",
                                                         "created": 0, "owned_by": "fake"}]})

    async def chat(self, request: Request) -> Response:
        name = request.path_params["candidate"]
        if name not in self.requests:
            return JSONResponse({"error": {"message": f"no candidate {name}", "type": "invalid_request_error"}},
                                status_code=404)
        body = await request.json()
        if len(self.requests[name]) < MAX_LOG:
            self.requests[name].append(body)
        script = self.script.get(name)
        if script:
            status = script.pop(0)
            if status != 200:
                return JSONResponse({"error": {"message": f"scripted failure {status}", "type": "server_error"}},
                                    status_code=status)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        text = answer_text(name, body)
        if body.get("stream"):
            return StreamingResponse(self._stream(body, text), media_type="text/event-stream")
        completion = ChatCompletion(
            id=f"fake-{name}-{len(self.requests[name])}", object="chat.completion", created=int(time.time()),
            model=str(body.get("model")),
            choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
        return JSONResponse(completion.model_dump(mode="json", exclude_none=True))

    async def _stream(self, body: dict[str, Any], text: str):
        size = max(1, -(-len(text) // self.chunks))
        pieces = [text[i:i + size] for i in range(0, len(text), size)]
        for i, piece in enumerate(pieces + [None]):
            delta = {"role": "assistant", "content": piece} if i == 0 else ({"content": piece} if piece else {})
            chunk = ChatCompletionChunk(id="fake-stream", object="chat.completion.chunk", created=int(time.time()),
                                        model=str(body.get("model")),
                                        choices=[{"index": 0, "delta": delta,
                                                  "finish_reason": None if piece is not None else "stop"}])
            yield f"data: {json.dumps(chunk.model_dump(mode='json', exclude_none=True))}\n\n"
        yield "data: [DONE]\n\n"


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description="fake OpenAI-compatible candidates on 127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--candidates", required=True, help="comma-separated candidate names")
    p.add_argument("--delay-ms", type=float, default=0.0, help="each answer's delay (a model's latency)")
    args = p.parse_args(argv)
    fake = FakeUpstream([c for c in args.candidates.split(",") if c], delay_s=args.delay_ms / 1000)
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
