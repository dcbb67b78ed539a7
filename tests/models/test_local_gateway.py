"""The gateway in front of the real local SmolLM2 server (`provider = "local"`, started by
ragwright on first use): chat, streaming and JSON-schema output, end to end."""

from typing import Literal

import pytest
from pydantic import BaseModel

from ragwright.config import ModelSettings, RouteSettings, Settings
from ragwright.models import ChatMessage, Gateway
from tests.models.test_local_server import _require_llama_cpp

pytestmark = pytest.mark.slow
QUESTION = [ChatMessage("user", "What is the capital of France? Answer in one word.")]


class Capital(BaseModel):
    city: str
    continent: Literal["Europe", "Asia", "Africa", "America", "Oceania"]


@pytest.fixture(scope="module")
def gateway():
    _require_llama_cpp()
    settings = Settings(models={"local": ModelSettings(provider="local", model="smollm2-135m", timeout_s=300)},
                        routes={"default": RouteSettings(models=["local"])})
    gw = Gateway(settings)
    yield gw
    gw.close()


def test_chat_and_stream_agree(gateway):
    result = gateway.chat(QUESTION, model="default", max_tokens=16)
    assert "paris" in result.text.lower() and result.model == "local"
    assert result.usage.input_tokens > 5 and result.usage.output_tokens > 0 and not result.usage.estimated
    stream = gateway.stream(QUESTION, model="default", max_tokens=16, use_cache=False)
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == result.text and stream.result.text == result.text
    assert stream.result.usage.estimated  # llama.cpp's server sends no usage while streaming: counted here


def test_json_schema_output(gateway):
    capital = gateway.generate([ChatMessage("user", "Name the capital of France and its continent.")],
                               schema=Capital, model="default", max_tokens=48)
    assert isinstance(capital, Capital) and capital.continent in ("Europe", "Asia", "Africa", "America", "Oceania")
    assert capital.city
