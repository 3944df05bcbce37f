"""A fake OpenAI API: ``POST /v1/responses`` (streamed SSE or JSON), Chat Completions, models."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes._base import FakeServer, sse

__all__ = ["FakeOpenAI"]


class FakeOpenAI(FakeServer):
    """Answers every Responses / Chat Completions request with ``reply``."""

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def response_requests(self) -> list[Any]:
        return [r.body for r in self.requests if r.path.split("?")[0].endswith("/responses")]

    def respond(self, method: str, path: str, body: Any) -> tuple[int, str, bytes]:
        route = path.split("?", 1)[0]
        if route.startswith("/v1"):
            route = route[3:]
        request = body if isinstance(body, dict) else {}
        model = str(request.get("model", "gpt-fake"))
        if method == "GET" and route == "/responses":
            # a WebSocket upgrade (Codex tries one first): 426 makes it use HTTPS at once
            return self.json({"error": {"message": "use HTTP", "type": "upgrade_required"}}, 426)
        if method == "POST" and route == "/responses":
            if request.get("stream"):
                return 200, self.EVENTS, self._response_stream(model)
            return self.json(self._response(model))
        if method == "POST" and route == "/chat/completions":
            if request.get("stream"):
                return 200, self.EVENTS, self._chat_stream(model)
            return self.json(self._chat(model))
        if method == "GET" and route == "/models":
            return self.json({"object": "list", "data": [{"id": model, "object": "model"}]})
        return self.json({"error": {"message": f"no route {route}", "type": "not_found"}}, 404)

    def _item(self) -> dict[str, Any]:
        return {
            "type": "message",
            "id": "msg_fake",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": self.reply, "annotations": []}],
        }

    def _response(self, model: str, *, done: bool = True) -> dict[str, Any]:
        return {
            "id": "resp_fake",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed" if done else "in_progress",
            "model": model,
            "output": [self._item()] if done else [],
            "usage": {
                "input_tokens": 12,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 6,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 18,
            },
        }

    def _response_stream(self, model: str) -> bytes:
        item = self._item()
        part = item["content"][0]
        return sse(
            [
                (
                    "response.created",
                    {"type": "response.created", "response": self._response(model, done=False)},
                ),
                (
                    "response.output_item.added",
                    {
                        "type": "response.output_item.added",
                        "output_index": 0,
                        "item": {**item, "status": "in_progress", "content": []},
                    },
                ),
                (
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": 0,
                        "content_index": 0,
                        "delta": part["text"],
                    },
                ),
                (
                    "response.output_item.done",
                    {"type": "response.output_item.done", "output_index": 0, "item": item},
                ),
                (
                    "response.completed",
                    {"type": "response.completed", "response": self._response(model)},
                ),
            ]
        )

    def _chat(self, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
        }

    def _chat_stream(self, model: str) -> bytes:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            {**base, "choices": [{"index": 0, "delta": {"content": self.reply}}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        return sse([(None, chunk) for chunk in chunks]) + b"data: [DONE]\n\n"
