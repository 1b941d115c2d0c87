"""Forwarding a chat completion to a candidate's upstream OpenAI-compatible endpoint (httpx2).

One pooled async client serves every candidate. A transport failure (refused connection, timeout,
broken response) or a 408/429/5xx answer is retried once after a short pause; if the second attempt
fails too the request is reported as an upstream error (HTTP 502, OpenAI-style body) naming the
candidate and the endpoint. Other 4xx answers are the caller's fault upstream (a bad parameter) and
are relayed with their status and the upstream's message, without a retry.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import httpx2

from harness.serve.settings import Candidate

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRIES = 1  # "retried once then reported"
RETRY_DELAY_S = 0.25


class UpstreamError(Exception):
    """An upstream failure, as the routing server reports it to its client."""

    def __init__(self, status: int, message: str, code: str, kind: str = "upstream_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind


def _error_message(response: httpx2.Response) -> str:
    """The upstream's own error message when its body is OpenAI-shaped, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return json.dumps(body)[:200]


class Upstreams:
    """``await upstreams.complete(candidate, body)`` / ``await upstreams.open_stream(candidate, body)``."""

    def __init__(self, retries: int = RETRIES, retry_delay: float = RETRY_DELAY_S, max_connections: int = 256):
        self.retries = retries
        self.retry_delay = retry_delay
        self.client = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=max_connections,
                                                              max_keepalive_connections=max_connections))
        self.attempts = 0  # upstream attempts made, retries included (tests, /info)

    async def aclose(self) -> None:
        await self.client.aclose()

    @staticmethod
    def _headers(candidate: Candidate) -> dict[str, str]:
        return {"Authorization": f"Bearer {candidate.api_key}"} if candidate.api_key else {}

    async def _send(self, candidate: Candidate, body: dict[str, Any], stream: bool) -> httpx2.Response:
        """The upstream's final answer (any status), after at most ``retries`` retries."""
        url = f"{candidate.base_url}/chat/completions"
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay)
            self.attempts += 1
            request = self.client.build_request("POST", url, json=body, headers=self._headers(candidate),
                                                timeout=candidate.timeout)
            try:
                response = await self.client.send(request, stream=stream)
            except httpx2.TransportError as exc:  # refused, reset, timed out: worth one more try
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if response.status_code in RETRY_STATUS:
                await response.aread()
                why = f"HTTP {response.status_code}: {_error_message(response)}"
                await response.aclose()
                continue
            return response
        raise UpstreamError(502, f"candidate '{candidate.name}' ({url}) failed after {self.retries + 1} attempts: "
                                 f"{why}", code="upstream_unavailable")

    @staticmethod
    async def _check(candidate: Candidate, response: httpx2.Response) -> None:
        if response.status_code < 400:
            return
        await response.aread()
        message = _error_message(response)
        await response.aclose()
        raise UpstreamError(response.status_code, f"candidate '{candidate.name}' answered HTTP "
                                                  f"{response.status_code}: {message}",
                            code="upstream_rejected", kind="invalid_request_error")

    async def complete(self, candidate: Candidate, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._send(candidate, body, stream=False)
        await self._check(candidate, response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamError(502, f"candidate '{candidate.name}': the answer is not a JSON object",
                                code="upstream_bad_response")
        return data

    async def open_stream(self, candidate: Candidate, body: dict[str, Any]) -> httpx2.Response:
        """The upstream's streaming response, headers received and status checked; read it with
        :func:`relay` (which closes it)."""
        response = await self._send(candidate, body, stream=True)
        await self._check(candidate, response)
        return response


def sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


def error_event(message: str, code: str) -> bytes:
    return sse(json.dumps({"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}))


async def relay(candidate: Candidate, response: httpx2.Response, routing: dict[str, Any]) -> AsyncIterator[bytes]:
    """Re-emit the upstream's SSE chunks; the first chunk gains the ``routing`` field. A stream that
    breaks off ends with an OpenAI-style error event (its status line has already been sent)."""
    first = True
    try:
        async for event in httpx2.EventSource(response):
            if event.data == "[DONE]":
                break
            if first:
                try:
                    chunk = json.loads(event.data)
                except ValueError:
                    chunk = None
                if isinstance(chunk, dict):
                    chunk["routing"] = routing
                    first = False
                    yield sse(json.dumps(chunk))
                    continue
            yield sse(event.data)
        yield sse("[DONE]")
    except (httpx2.TransportError, httpx2.StreamError) as exc:
        yield error_event(f"candidate '{candidate.name}': the stream broke off ({type(exc).__name__}: {exc})",
                          "upstream_stream_broken")
    finally:
        await response.aclose()
