"""A fake Anthropic Messages API: ``POST /v1/messages`` (streamed SSE or JSON)."""

from __future__ import annotations

from typing import Any

from tests.fakes._base import FakeServer, sse

__all__ = ["FakeAnthropic"]


class FakeAnthropic(FakeServer):
    """Answers every message request with ``reply``; counts tokens; 404 for the rest."""

    def __enter__(self) -> FakeAnthropic:
        self.start()
        return self

    def message_requests(self) -> list[Any]:
        return [
            r.body
            for r in self.requests
            if r.path.startswith("/v1/messages?") or (r.path == "/v1/messages")
        ]

    def respond(self, method: str, path: str, body: Any) -> tuple[int, str, bytes]:
        route = path.split("?", 1)[0]
        if method == "POST" and route == "/v1/messages/count_tokens":
            return self.json({"input_tokens": 12})
        if method == "POST" and route == "/v1/messages":
            model = body.get("model", "claude-fake") if isinstance(body, dict) else "claude-fake"
            if isinstance(body, dict) and body.get("stream"):
                return 200, self.EVENTS, self._stream(model)
            return self.json(self._message(model))
        return self.json(
            {"type": "error", "error": {"type": "not_found_error", "message": route}}, 404
        )

    def _usage(self) -> dict[str, int]:
        return {
            "input_tokens": 12,
            "output_tokens": 6,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    def _message(self, model: str) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": self.reply}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": self._usage(),
        }

    def _stream(self, model: str) -> bytes:
        start = {**self._message(model), "content": [], "stop_reason": None}
        start["usage"] = {**self._usage(), "output_tokens": 1}
        return sse(
            [
                ("message_start", {"type": "message_start", "message": start}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                ("ping", {"type": "ping"}),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": self.reply},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": 6},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        )
