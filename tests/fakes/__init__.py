"""Fake model APIs for end-to-end tests of the real agent CLIs.

``FakeAnthropic`` (Messages API, streamed SSE) and ``FakeOpenAI`` (Responses API streamed,
Chat Completions) serve on 127.0.0.1 on a random port, in a thread, and record every request.
Each answers every prompt with its ``reply`` text, so a test can look for it in the agent's
output. Usable as context managers::

    with FakeAnthropic(reply="hi from the fake") as api:
        ...  # ANTHROPIC_BASE_URL=http://127.0.0.1:{api.port}
        assert api.requests
"""

from __future__ import annotations

from tests.fakes._anthropic import FakeAnthropic
from tests.fakes._base import FakeServer, Recorded
from tests.fakes._openai import FakeOpenAI

__all__ = ["FakeAnthropic", "FakeOpenAI", "FakeServer", "Recorded"]
