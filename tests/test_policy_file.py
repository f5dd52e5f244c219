"""Policy files: inheritance, profiles, agents, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from webchat_wrapup import (
    AgentState,
    DropdownClassification,
    ExpiryRule,
    FreeTextClassification,
    InvalidPolicy,
    QueuePolicy,
)
from webchat_wrapup._core._agent import MAX_CAPACITY
from webchat_wrapup.tools.policy_file import (
    PolicyFileError,
    describe_seed_wrap_up,
    load_policy_file,
    parse_policy_file,
    seed_product_policies,
)

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = [{"code": "a", "label": "A"}, {"code": "b", "label": "B", "group": "G"}]


def test_queues_inherit_the_defaults_and_override_them() -> None:
    policies = parse_policy_file(
        {
            "defaults": {"countdown_seconds": 90, "max_extensions": 1},
            "queues": {"sales": {"max_extensions": 4}, "support": {}},
        }
    )
    sales, support = policies.queues["sales"], policies.queues["support"]
    assert (sales.wrap_up.countdown_seconds, sales.wrap_up.max_extensions) == (90, 4)
    assert (support.wrap_up.countdown_seconds, support.wrap_up.max_extensions) == (
        90,
        1,
    )
    assert sales.queue_id == "sales"


def test_every_setting_reaches_the_policy() -> None:
    policies = parse_policy_file(
        {
            "queues": {
                "q": {
                    "wrap_up": True,
                    "countdown_seconds": False,
                    "extension_seconds": 30,
                    "max_extensions": 0,
                    "early_exit": True,
                    "classification": "dropdown",
                    "options": OPTIONS,
                    "required": True,
                    "on_expiry": "apply_default",
                    "timeout_default": "a",
                    "additional_text_max_length": 10,
                    "capacity": 3,
                }
            }
        }
    )
    policy = policies.queues["q"]
    assert policy.wrap_up.countdown_seconds is None
    assert policy.wrap_up.extension_seconds == 30
    assert isinstance(policy.classification.choices, DropdownClassification)
    assert [o.code for o in policy.classification.choices.options] == ["a", "b"]
    assert policy.classification.on_expiry is ExpiryRule.APPLY_DEFAULT
    assert policy.classification.additional_text_max_length == 10
    assert policies.queue_capacity["q"] == 3
    assert policies.default_capacity == 3


def test_the_pause_settings_come_from_the_file() -> None:
    policies = parse_policy_file(
        {
            "defaults": {"max_paused_seconds": 120},
            "queues": {
                "sales": {},
                "support": {"max_paused_seconds": False},
                "vip": {"pause_allowed": False},
            },
        }
    )
    sales, support, vip = (
        policies.queues[n].wrap_up for n in ("sales", "support", "vip")
    )
    assert (sales.pause_allowed, sales.max_paused_seconds) == (True, 120)
    assert support.max_paused_seconds is None  # false: no limit
    assert (vip.pause_allowed, vip.max_paused_seconds) == (False, 120)


def test_free_text_limits_come_from_the_file() -> None:
    policies = parse_policy_file(
        {"queues": {"q": {"free_text_min_length": 3, "free_text_max_length": 9}}}
    )
    choices = policies.queues["q"].classification.choices
    assert choices == FreeTextClassification(min_length=3, max_length=9)


def test_profiles_and_agents() -> None:
    policies = parse_policy_file(
        {
            "defaults": {"classification": "dropdown", "options": OPTIONS},
            "queues": {"q": {}},
            "profiles": {"new": {"codes": ["a"]}},
            "agents": {"ana": {"profile": "new", "capacity": 2}},
        }
    )
    assert policies.agent("ana").classification_profile == frozenset({"a"})
    assert policies.agent("ana").capacity == 2
    assert policies.agent("bob").classification_profile is None


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"queues": {"q": {}}, "extra": {}}, "extra"),
        ({"queues": {}}, "queues"),
        ({"queues": {"q": 3}}, "queues.q"),
        ({"queues": {"q": {"countdown_seconds": True}}}, "queues.q.countdown_seconds"),
        ({"queues": {"q": {"countdown_seconds": 0}}}, "queues.q.countdown_seconds"),
        ({"queues": {"q": {"classification": "voice"}}}, "queues.q.classification"),
        ({"queues": {"q": {"classification": "dropdown"}}}, "queues.q.options"),
        ({"queues": {"q": {"on_expiry": "panic"}}}, "queues.q.on_expiry"),
        ({"queues": {"q": {"capacity": 11}}}, "queues.q.capacity"),
        ({"queues": {"q": {"early_exit": 1}}}, "queues.q.early_exit"),
        ({"queues": {"q": {"pause_allowed": "no"}}}, "queues.q.pause_allowed"),
        (
            {"queues": {"q": {"max_paused_seconds": True}}},
            "queues.q.max_paused_seconds",
        ),
        ({"queues": {"q": {"max_paused_seconds": 0}}}, "queues.q.max_paused_seconds"),
        (
            {"queues": {"q": {"classification": "dropdown", "options": [5]}}},
            "queues.q.options[0]",
        ),
        (
            {
                "queues": {
                    "q": {"classification": "dropdown", "options": [{"code": "a"}]}
                }
            },
            "queues.q.options[0].label",
        ),
        ({"queues": {"q": {}}, "profiles": {"p": {"codes": ["zz"]}}}, "profiles.p"),
        ({"queues": {"q": {}}, "profiles": {"p": {"names": []}}}, "profiles.p"),
        ({"queues": {"q": {}}, "agents": {"a": {"shift": 1}}}, "agents.a.shift"),
        ({"queues": {"q": {}}, "agents": {"a": {"capacity": 0}}}, "agents.a.capacity"),
    ],
)
def test_errors_name_the_file_and_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy_file(data, "day.toml")
    assert caught.value.file == "day.toml"
    assert caught.value.key.startswith(key)
    assert str(caught.value).startswith(f"day.toml: {key}")


def test_the_shipped_examples_are_valid() -> None:
    for name in ("policy.toml", "policy-45s.toml"):
        policies = load_policy_file(ROOT / "examples" / name)
        assert set(policies.queues) == {"sales", "support"}


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"\xff\xfe[queues.q]")
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policy_file(path)


def test_an_inherited_bad_value_is_blamed_on_the_defaults() -> None:
    data = {"defaults": {"countdown_seconds": -5}, "queues": {"sales": {}}}
    with pytest.raises(PolicyFileError) as caught:
        parse_policy_file(data, "day.toml")
    assert caught.value.key == "defaults.countdown_seconds"
    assert "(in queues.sales)" in str(caught.value)
    data = {"defaults": {"countdown_seconds": -5}, "queues": {"q": {}}}
    data["queues"]["q"]["countdown_seconds"] = -7
    with pytest.raises(PolicyFileError) as caught:
        parse_policy_file(data, "day.toml")
    assert caught.value.key == "queues.q.countdown_seconds"


def test_a_queue_with_no_settings_gets_the_librarys_own_defaults() -> None:
    policies = parse_policy_file({"queues": {"q": {}}})
    assert policies.queues["q"] == QueuePolicy("q")
    assert policies.queue_capacity["q"] == AgentState.new("a").capacity
    assert policies.agent("anyone").capacity == AgentState.new("a").capacity


def test_the_seed_products_defaults_are_sixty_seconds_and_three_extensions() -> None:
    (policy,) = seed_product_policies().queues.values()
    wrap_up = policy.wrap_up
    assert (wrap_up.countdown_seconds, wrap_up.max_extensions) == (60, 3)
    assert wrap_up.extension_seconds == 60
    assert describe_seed_wrap_up() == "a 60 s countdown, 3 extensions of 60 s"


@pytest.mark.parametrize("capacity", [0, MAX_CAPACITY + 1])
@pytest.mark.parametrize(
    ("section", "key"),
    [("queues", "queues.q.capacity"), ("agents", "agents.a.capacity")],
)
def test_a_capacity_is_refused_exactly_as_the_library_refuses_it(
    capacity: int, section: str, key: str
) -> None:
    with pytest.raises(InvalidPolicy) as core:
        AgentState.new("a", capacity=capacity)
    data: dict[str, object] = {"queues": {"q": {}}}
    data[section] = {key.split(".")[1]: {"capacity": capacity}}
    with pytest.raises(PolicyFileError) as caught:
        parse_policy_file(data, "day.toml")
    assert caught.value.key == key
    assert caught.value.problem == core.value.reason
