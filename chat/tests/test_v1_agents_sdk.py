"""The OpenAI Agents SDK with its default model (the Responses API) through Switchboard,
against a loopback chat-completions upstream: a plain run and a function tool run."""

from __future__ import annotations

import asyncio

import pytest

agents = pytest.importorskip("agents", reason="openai-agents is a dev dependency")

from openai import AsyncOpenAI  # noqa: E402

from chat.models import ApiKey  # noqa: E402
from providers.models import Provider  # noqa: E402


@pytest.fixture
def model(live_gateway: str, fake_openai) -> agents.OpenAIResponsesModel:  # type: ignore[no-untyped-def]
    Provider.objects.create(
        name="compat", kind="openai_compatible", base_url=fake_openai.base_url,
        api_key="sk-compat", models=["gpt-test"],
    )  # fmt: skip
    agents.set_tracing_disabled(True)  # offline: no trace export to OpenAI
    key = ApiKey.issue("agents", scopes=["chat"])[1]
    client = AsyncOpenAI(base_url=f"{live_gateway}/v1", api_key=key, max_retries=0)
    return agents.OpenAIResponsesModel(model="compat/gpt-test", openai_client=client)


def run(agent: agents.Agent, text: str) -> agents.RunResult:
    return asyncio.run(agents.Runner.run(agent, text))


def test_an_agent_answers(model, fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.reply("Hello, agent user.")
    agent = agents.Agent(name="greeter", instructions="Greet.", model=model)

    result = run(agent, "Hi")

    assert result.final_output == "Hello, agent user."
    sent = fake_openai.requests[0]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Greet."}


def test_an_agent_calls_a_tool_and_uses_its_result(model, fake_openai) -> None:  # type: ignore[no-untyped-def]
    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    fake_openai.reply("", tool_calls=[{"id": "call_1", "name": "get_weather",
                                       "arguments": {"city": "Rome"}}])  # fmt: skip
    fake_openai.reply("It is sunny in Rome.")
    agent = agents.Agent(name="weather", tools=[get_weather], model=model)

    result = run(agent, "Weather in Rome?")

    assert result.final_output == "It is sunny in Rome."
    second = fake_openai.requests[1]["json"]["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny in Rome"}
