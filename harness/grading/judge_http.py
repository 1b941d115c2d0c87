"""Reading a judge endpoint's HTTP answers for :mod:`harness.grading.judge`: a 200 that is not a
chat completion (broken JSON, an HTML error page from a proxy, no ``choices``) becomes
:class:`Malformed`, whose message says what came back; the client retries it like a 5xx. Imports:
core only."""
from __future__ import annotations

import json
import math
from typing import Any

from harness.core.errors import HarnessError


class Malformed(Exception):
    """An HTTP 200 that is not a chat completion; the message says what came back."""


def completion(raw: Any) -> dict:
    """{"content", "logprobs", "usage"} of a raw OpenAI-compatible response, read from its JSON body
    (not through the SDK's lenient model, which turns an HTML page into a string and an empty
    ``choices`` into an IndexError later); :class:`Malformed` when it is not a chat completion."""
    body = raw.text
    try:
        payload = json.loads(body)
    except ValueError:
        kind = raw.headers.get("content-type", "") or "no content type"
        raise Malformed(f"HTTP {raw.status_code} with a body that is not JSON: {kind}, {_snippet(body)}") from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        what = "an empty 'choices'" if choices == [] else "no usable 'choices'"
        raise Malformed(f"HTTP {raw.status_code} with {what}: {_snippet(body)}")
    try:
        choice, usage = choices[0], payload.get("usage") or {}
        content = choice["message"].get("content") or ""
        top = None
        lp = (choice.get("logprobs") or {}).get("content")
        if lp:
            top = [{"token": t["token"], "logprob": float(t["logprob"])} for t in lp[0].get("top_logprobs") or []]
        return {"content": str(content), "logprobs": top,
                "usage": {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                          "completion_tokens": int(usage.get("completion_tokens") or 0)}}
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        raise Malformed(f"HTTP {raw.status_code} with a choice that is not a chat message: {_snippet(body)}") from None


def _snippet(body: str) -> str:
    text = " ".join(body.split())
    return repr(text[:80] + ("…" if len(text) > 80 else "")) if text else "an empty body"


def seconds_from_env(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise HarnessError(f"judge: {name}={value!r}: expected a number of seconds > 0")
    return seconds
