"""``tool_call_reward`` / ``binary_reward`` score as upstream's do: upstream's own module from the sdist
(standard library only) is loaded beside ours and both score the same responses."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import training_hub
from tests.compat.upstream import upstream_root

pytestmark = pytest.mark.unit


def _upstream_rewards() -> ModuleType:
    path = upstream_root() / "src" / "training_hub" / "algorithms" / "rewards.py"
    spec = importlib.util.spec_from_file_location("upstream_training_hub_rewards", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _openai_style(name: str, arguments: Any, legacy: bool = False) -> SimpleNamespace:
    """An object shaped like the OpenAI SDK's ``Choice`` (attribute access)."""
    function = SimpleNamespace(name=name, arguments=arguments)
    if legacy:
        message = SimpleNamespace(tool_calls=None, function_call=function)
    else:
        message = SimpleNamespace(tool_calls=[SimpleNamespace(function=function)], function_call=None)
    return SimpleNamespace(message=message)


def _dict_style(name: str, arguments: Any, legacy: bool = False) -> dict[str, Any]:
    function = {"name": name, "arguments": arguments}
    return {"function_call": function} if legacy else {"tool_calls": [{"function": function}]}


EXPECTED = ("get_weather", {"city": "Paris", "days": 3})
RESPONSES = [
    ("get_weather", json.dumps({"city": "Paris", "days": 3})),
    ("get_weather", {"days": "3", "city": " Paris "}),  # numbers as text, padded text
    ("functions.get_weather", {"city": "Paris", "days": 3.0}),
    ("Get-Weather", {"city": "Paris", "days": 3}),
    ("get_weather", {"city": "Rome", "days": 3}),
    ("get_weather", "{not json"),
    ("get_weather", {}),
    ("get_time", {"city": "Paris", "days": 3}),
    ("weather", {"city": "Paris", "days": 3}),
]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("style", [_openai_style, _dict_style])
@pytest.mark.parametrize(("name", "arguments"), RESPONSES)
def test_tool_call_reward_equals_upstreams(style: Any, legacy: bool, name: str, arguments: Any) -> None:
    upstream = _upstream_rewards()
    response = style(name, arguments, legacy)
    ours = training_hub.tool_call_reward(response, *EXPECTED)
    assert ours == upstream.tool_call_reward(response, *EXPECTED)
    assert ours in (0.0, 0.5, 1.0)


def test_tool_call_reward_scores() -> None:
    assert training_hub.tool_call_reward(_dict_style(*RESPONSES[1]), *EXPECTED) == 1.0
    assert training_hub.tool_call_reward(_dict_style(*RESPONSES[4]), *EXPECTED) == 0.5
    assert training_hub.tool_call_reward(_dict_style(*RESPONSES[7]), *EXPECTED) == 0.0
    assert training_hub.tool_call_reward({"content": "no call"}, *EXPECTED) == 0.0
    assert training_hub.tool_call_reward({"tool_calls": []}, "f", {}) == 0.0
    assert training_hub.tool_call_reward(_dict_style("f", None), "f", {}) == 1.0


@pytest.mark.parametrize(
    ("value", "threshold"), [(1.0, 1.0), (0.9999995, 1.0), (0.99, 1.0), (0.5, 0.5), (0.2, 0.5)]
)
def test_binary_reward_equals_upstreams(value: float, threshold: float) -> None:
    assert training_hub.binary_reward(value, threshold) == _upstream_rewards().binary_reward(value, threshold)
