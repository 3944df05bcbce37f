"""A fake Anthropic Messages API: ``POST /v1/messages`` (streamed SSE or JSON).

With ``tool_use=(NAME, INPUT)``, a conversation that offers tool ``NAME`` is answered with a
``tool_use`` block calling it with ``INPUT``; the next request, carrying the ``tool_result``,
is answered with ``reply`` followed by ``tool_result: <its text>`` (so the agent's output
shows what the tool returned). Requests that do not offer the tool (titles, quota checks)
get ``reply``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes._base import FakeServer, sse

__all__ = ["FakeAnthropic", "tool_result_text"]

TOOL_USE_ID = "toolu_fake_01"


def tool_result_text(body: Any) -> str | None:
    """The text of the ``tool_result`` in a request's last message (None: none)."""
    if not isinstance(body, dict) or not body.get("messages"):
        return None
    content = body["messages"][-1].get("content")
    if not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                return inner
            texts = [b.get("text", "") for b in inner or () if isinstance(b, dict)]
            return ("\n".join(texts)) + (" (is_error)" if block.get("is_error") else "")
    return None


class FakeAnthropic(FakeServer):
    """Answers every message request with ``reply``; counts tokens; 404 for the rest."""

    def __init__(
        self,
        reply: str = "Hello from the fake API.",
        *,
        tool_use: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(reply)
        self.tool_use = tool_use

    def tool_results(self) -> list[str]:
        """Every ``tool_result`` text the agent sent back, in order."""
        found = (tool_result_text(body) for body in self.message_requests())
        return [text for text in found if text is not None]

    def offered_tools(self) -> set[str]:
        """Names of every tool the agent offered the model."""
        return {
            str(tool.get("name"))
            for body in self.message_requests()
            if isinstance(body, dict)
            for tool in body.get("tools") or ()
            if isinstance(tool, dict)
        }

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
            stream = isinstance(body, dict) and bool(body.get("stream"))
            if self._wants_tool(body):
                assert self.tool_use is not None
                name, args = self.tool_use
                if stream:
                    return 200, self.EVENTS, self._tool_stream(model, name, args)
                return self.json(self._tool_message(model, name, args))
            text = self.reply
            result = tool_result_text(body)
            if result is not None:
                text = f"{self.reply} tool_result: {result}"
            if stream:
                return 200, self.EVENTS, self._stream(model, text)
            return self.json(self._message(model, text))
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

    def _wants_tool(self, body: Any) -> bool:
        if self.tool_use is None or not isinstance(body, dict):
            return False
        names = {t.get("name") for t in body.get("tools") or () if isinstance(t, dict)}
        return self.tool_use[0] in names and tool_result_text(body) is None

    def _tool_message(self, model: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        block = {"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": args}
        return {**self._message(model), "content": [block], "stop_reason": "tool_use"}

    def _tool_stream(self, model: str, name: str, args: dict[str, Any]) -> bytes:
        start = {**self._message(model), "content": [], "stop_reason": None}
        start["usage"] = {**self._usage(), "output_tokens": 1}
        block = {"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(args)}
        return sse(
            [
                ("message_start", {"type": "message_start", "message": start}),
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": block},
                ),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                        "usage": {"output_tokens": 6},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        )

    def _message(self, model: str, text: str | None = None) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": self.reply if text is None else text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": self._usage(),
        }

    def _stream(self, model: str, text: str | None = None) -> bytes:
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
                        "delta": {
                            "type": "text_delta",
                            "text": self.reply if text is None else text,
                        },
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
