"""Tool calls through the gateway to the real local SmolLM2 server (`provider = "local"`). The model
is tiny: what is tested is the mechanism: a named choice is a call whose arguments the server's
grammar holds to the schema; "auto" and "required" among several tools are asked as JSON whose
grammar allows only the tools' shapes (or an answer); a conversation with calls and results is
accepted by the server's chat template; streaming gives the same call."""

import pytest
from pydantic import BaseModel, Field

from ragwright.models import ChatMessage, Tool, tool_result
from tests.models.test_local_gateway import gateway  # noqa: F401 - the module's local-model gateway

pytestmark = pytest.mark.slow


class Weather(BaseModel):
    """Get the current weather in a city."""

    city: str = Field(min_length=1, max_length=40)
    unit: str = Field("celsius", pattern="^(celsius|fahrenheit)$")


class Search(BaseModel):
    """Search the documents for a query."""

    query: str = Field(min_length=1, max_length=60)


WEATHER, SEARCH = Tool.from_model(Weather), Tool.from_model(Search)
ASK = [ChatMessage("user", "What is the weather in Paris?")]


@pytest.fixture
def local(gateway):  # noqa: F811 - test_local_gateway's module gateway, shared with its tests
    return gateway


def test_a_named_choice_is_a_call_that_fits_the_schema(local):
    result = local.chat(ASK, model="default", tools=[WEATHER, SEARCH], tool_choice="weather", max_tokens=48)
    (call,) = result.tool_calls
    assert call.name == "weather" and WEATHER.errors(call) == [] and result.finish_reason == "tool_calls"
    assert isinstance(WEATHER.parse(call), Weather)
    stream = local.stream(ASK, model="default", tools=[WEATHER], tool_choice="required", max_tokens=48, use_cache=False)
    assert list(stream) == [] and stream.result.tool_calls[0].name == "weather"


@pytest.mark.parametrize("choice", ["auto", "required"])
def test_auto_and_required_among_several_tools_are_held_to_their_shapes(local, choice):
    result = local.chat(ASK, model="default", tools=[WEATHER, SEARCH], tool_choice=choice, max_tokens=64)
    if choice == "required" or result.tool_calls:
        (call,) = result.tool_calls
        tool = {"weather": WEATHER, "search": SEARCH}[call.name]
        assert tool.errors(call) == []
    else:
        assert result.text and not result.text.lstrip().startswith("{")  # an answer, unwrapped


def test_a_conversation_with_calls_and_results_is_accepted(local):
    first = local.chat(ASK, model="default", tools=[WEATHER], tool_choice="weather", max_tokens=48)
    history = [*ASK, first.message, tool_result(first.tool_calls[0], "18 degrees and sunny")]
    final = local.chat(history, model="default", tools=[WEATHER], tool_choice="none", max_tokens=24)
    assert final.text and not final.tool_calls
    streamed = local.stream(
        history, model="default", tools=[WEATHER], tool_choice="auto", max_tokens=48, use_cache=False
    )
    text = "".join(streamed)
    assert streamed.result.tool_calls or text == streamed.result.text
