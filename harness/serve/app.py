"""The ASGI app (Starlette): the OpenAI Chat Completions API in front of a router and its upstreams.

- ``POST /v1/chat/completions``: ``model`` names a served router (``router-<name>``) or a candidate
  (passed straight through). A router scores the last user message (or the conversation, as the
  router declares), picks argmax(score - λ·price) (λ from ``routing.lambda`` in the body, else the
  config's ``default_lambda``; plain argmax when λ = 0) and the request goes to that candidate's
  upstream with ``model`` replaced by the upstream's model name. The answer carries ``routing``
  (router, candidate, routing_ms, ...) in the body (the first chunk when streaming) and the headers
  ``x-routing-candidate``, ``x-routing-router``, ``x-routing-ms``.
- ``GET /v1/models``: routers (with their provenance) and candidates; ``GET /info``: the same in full
  plus the server's settings and batch statistics; ``GET /health``.

Errors are OpenAI-shaped: ``{"error": {"message", "type", "param", "code"}}``.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness import __version__
from harness.serve.batching import BatchScorer, choose
from harness.serve.loading import ServedRouter
from harness.serve.settings import Candidate, ServeConfig, check_pool
from harness.serve.upstream import UpstreamError, Upstreams, relay


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def error_response(status: int, message: str, kind: str, param: str | None = None,
                   code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                        status_code=status)


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class RoutingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    lam: float | None = Field(default=None, ge=0, alias="lambda")


class ChatRequest(BaseModel):
    """What the server reads of a request; every other field is forwarded untouched."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = False
    routing: RoutingOptions | None = None


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def prompt_text(messages: list[Message], mode: str) -> str:
    """What the router scores: the last user message, or every message's text (``conversation``)."""
    if mode == "conversation":
        text = "\n\n".join(t for t in (_text(m.content) for m in messages) if t)
    else:
        users = [m for m in messages if m.role == "user"]
        if not users:
            raise RequestError(400, "messages: no user message to route on", param="messages")
        text = _text(users[-1].content)
    if not text.strip():
        raise RequestError(400, "messages: the message to route on has no text", param="messages")
    return text


@dataclass
class Service:
    """Everything the app serves: the config, the fitted routers and their batch scorers."""

    config: ServeConfig
    routers: dict[str, ServedRouter]
    scorers: dict[str, BatchScorer] = field(default_factory=dict)
    upstreams: Upstreams | None = None

    def __post_init__(self) -> None:
        for served in self.routers.values():
            check_pool(self.config, served.models, served.name)
            _ = served.input  # a bad serve_input fails at start-up, not on the first request
            self.scorers[served.model_id] = BatchScorer(served.predict, served.name, self.config.max_batch)

    async def start(self) -> None:
        self.upstreams = Upstreams()
        for scorer in self.scorers.values():
            scorer.start()

    async def stop(self) -> None:
        for scorer in self.scorers.values():
            await scorer.stop()
        if self.upstreams is not None:
            await self.upstreams.aclose()

    def prices(self, served: ServedRouter) -> list[float | None]:
        return [self.config.candidates[m].price for m in served.models]


async def _parse(request: Request) -> tuple[dict[str, Any], ChatRequest]:
    try:
        body = await request.json()
    except ValueError:
        raise RequestError(400, "the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return body, ChatRequest.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        raise RequestError(400, f"{param}: {err['msg']}" if param else err["msg"], param=param) from None


async def _route(service: Service, served: ServedRouter, req: ChatRequest, started: float) -> tuple[Candidate, dict]:
    lam = req.routing.lam if req.routing and req.routing.lam is not None else service.config.default_lambda
    prices = service.prices(served)
    if lam and any(p is None for p in prices):
        unpriced = [m for m, p in zip(served.models, prices) if p is None]
        raise RequestError(400, f"routing.lambda={lam}: cost-aware routing needs a price for every candidate; "
                                f"{', '.join(unpriced)} have none in {service.config.source}", param="routing.lambda")
    text = prompt_text(req.messages, served.input)
    try:
        scored = await service.scorers[served.model_id].score(text)
    except Exception as exc:  # the router itself failed: a server error, said plainly
        raise RequestError(500, f"router '{served.name}' failed: {type(exc).__name__}: {exc}",
                           kind="server_error", code="router_failed") from None
    index = choose(scored.scores, prices, lam)
    candidate = service.config.candidates[served.models[index]]
    return candidate, {
        "router": served.model_id, "candidate": candidate.name,
        "routing_ms": round((time.perf_counter() - started) * 1000, 3),
        "predict_ms": round(scored.predict_ms, 3), "queued_ms": round(scored.queued_ms, 3),
        "batch_size": scored.batch_size, "lambda": lam,
        "scores": {m: float(s) for m, s in zip(served.models, scored.scores)},
    }


def _headers(routing: dict[str, Any]) -> dict[str, str]:
    return {"x-routing-candidate": routing["candidate"], "x-routing-router": routing["router"] or "",
            "x-routing-ms": f"{routing['routing_ms']:.3f}"}


async def chat_completions(request: Request) -> Response:
    started = time.perf_counter()
    service: Service = request.app.state.service
    body, req = await _parse(request)
    if req.model in service.routers:
        served = service.routers[req.model]
        candidate, routing = await _route(service, served, req, started)
    elif req.model in service.config.candidates:
        candidate = service.config.candidates[req.model]
        routing = {"router": None, "candidate": candidate.name,
                   "routing_ms": round((time.perf_counter() - started) * 1000, 3)}
    else:
        known = ", ".join([*service.routers, *service.config.candidates])
        raise RequestError(404, f"The model '{req.model}' does not exist (served here: {known})",
                           param="model", code="model_not_found")
    forward = {k: v for k, v in body.items() if k != "routing"}
    forward["model"] = candidate.model
    if req.stream:
        response = await service.upstreams.open_stream(candidate, forward)
        return StreamingResponse(relay(candidate, response, routing), media_type="text/event-stream",
                                 headers={**_headers(routing), "cache-control": "no-cache"})
    answer = await service.upstreams.complete(candidate, forward)
    answer["routing"] = routing
    return JSONResponse(answer, headers=_headers(routing))


def _model_entry(model_id: str, owner: str, created: int, **extra: Any) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner, **extra}


async def models(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    data = [_model_entry(r.model_id, "routing-harness", request.app.state.started, provenance=r.provenance)
            for r in service.routers.values()]
    data += [_model_entry(c.name, "upstream", request.app.state.started, upstream=c.public())
             for c in service.config.candidates.values()]
    return JSONResponse({"object": "list", "data": data})


async def info(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    routers = []
    for r in service.routers.values():
        sizes = service.scorers[r.model_id].batch_sizes
        routers.append({**r.provenance, "input": r.input, "batches": len(sizes),
                        "mean_batch_size": round(sum(sizes) / len(sizes), 2) if sizes else None})
    return JSONResponse({
        "server": "routing-harness serve", "version": __version__, "config": service.config.source,
        "default_lambda": service.config.default_lambda, "max_batch": service.config.max_batch,
        "upstream_attempts": service.upstreams.attempts if service.upstreams else 0,
        "routers": routers, "candidates": [c.public() for c in service.config.candidates.values()],
    })


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.kind, exc.param, exc.code)


async def _upstream_error(request: Request, exc: UpstreamError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.kind, None, exc.code)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                          "invalid_request_error", None, None)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}", "server_error", None, None)


def create_app(service: Service) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = Starlette(
        routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"]),
                Route("/v1/models", models, methods=["GET"]),
                Route("/info", info, methods=["GET"]),
                Route("/health", health, methods=["GET"])],
        exception_handlers={RequestError: _request_error, UpstreamError: _upstream_error,
                            HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan)
    app.state.service = service
    app.state.started = int(time.time())
    return app
