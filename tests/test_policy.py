"""Policies are validated when built, with an error naming the setting."""

from __future__ import annotations

import pytest
from hypothesis import given

from support import OPTIONS
from webchat_wrapup import (
    ClassificationOption,
    ClassificationPolicy,
    DropdownClassification,
    ErrorCode,
    ExpiryRule,
    FreeTextClassification,
    InvalidPolicy,
    QueuePolicy,
    WrapUpPolicy,
)
from webchat_wrapup.testing.strategies import queue_policies


def test_the_defaults_match_the_seed_products_admin_settings() -> None:
    policy = WrapUpPolicy()
    assert policy.enabled
    assert policy.countdown_seconds == 60
    assert policy.extension_seconds == 60
    assert policy.max_extensions == 3
    assert policy.early_exit_allowed


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"countdown_seconds": 0}, "countdown_seconds"),
        ({"countdown_seconds": -5}, "countdown_seconds"),
        ({"countdown_seconds": 3601}, "countdown_seconds"),
        ({"countdown_seconds": 1.5}, "countdown_seconds"),
        ({"extension_seconds": 0}, "extension_seconds"),
        ({"extension_seconds": 10**6}, "extension_seconds"),
        ({"max_extensions": -1}, "max_extensions"),
        ({"max_extensions": 11}, "max_extensions"),
        ({"max_extensions": True}, "max_extensions"),
        ({"enabled": "yes"}, "enabled"),
        (
            {"countdown_seconds": None, "early_exit_allowed": False},
            "early_exit_allowed",
        ),
    ],
)
def test_invalid_wrap_up_settings_are_refused(
    settings: dict[str, object], setting: str
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        WrapUpPolicy(**settings)  # type: ignore[arg-type]
    assert caught.value.setting == setting
    assert caught.value.code is ErrorCode.INVALID_POLICY
    assert setting in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_zero_extensions_and_no_countdown_are_valid() -> None:
    assert WrapUpPolicy(max_extensions=0).max_extensions == 0
    assert WrapUpPolicy(countdown_seconds=None).countdown is None


@pytest.mark.parametrize(
    "options",
    [
        (),
        (ClassificationOption("a", "A"), ClassificationOption("a", "Again")),
        (ClassificationOption("a", "A", retired=True),),
        (ClassificationOption("", "Empty"),),
        (ClassificationOption("a", "  "),),
        (ClassificationOption("a", "Bad\x00label"),),
        (ClassificationOption("a", "A", group=" "),),
        ("not an option",),
    ],
)
def test_invalid_dropdowns_are_refused(options: tuple[object, ...]) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        DropdownClassification(options)  # type: ignore[arg-type]
    assert caught.value.setting == "options"


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"min_length": 0}, "min_length"),
        ({"min_length": 50, "max_length": 10}, "min_length"),
        ({"max_length": 1001}, "max_length"),
    ],
)
def test_invalid_free_text_limits_are_refused(
    settings: dict[str, int], setting: str
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        FreeTextClassification(**settings)
    assert caught.value.setting == setting


def test_a_timeout_default_not_in_the_list_is_refused() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        ClassificationPolicy(
            choices=DropdownClassification(OPTIONS),
            on_expiry=ExpiryRule.APPLY_DEFAULT,
            timeout_default="missing",
        )
    assert caught.value.setting == "timeout_default"


def test_a_retired_timeout_default_is_refused() -> None:
    with pytest.raises(InvalidPolicy):
        ClassificationPolicy(
            choices=DropdownClassification(OPTIONS), timeout_default="old"
        )


def test_applying_a_default_needs_a_default() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        ClassificationPolicy(on_expiry=ExpiryRule.APPLY_DEFAULT)
    assert caught.value.setting == "timeout_default"


@pytest.mark.parametrize("default", ["  padded", "x" * 101, "tab\there"])
def test_a_free_text_timeout_default_must_be_clean_valid_text(default: str) -> None:
    with pytest.raises(InvalidPolicy):
        ClassificationPolicy(timeout_default=default)


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"additional_text_max_length": -1}, "additional_text_max_length"),
        ({"additional_text_max_length": 10_001}, "additional_text_max_length"),
        ({"required": 1}, "required"),
        ({"on_expiry": "apply_default"}, "on_expiry"),
        ({"choices": "dropdown"}, "choices"),
    ],
)
def test_invalid_classification_settings_are_refused(
    settings: dict[str, object], setting: str
) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        ClassificationPolicy(**settings)  # type: ignore[arg-type]
    assert caught.value.setting == setting


def test_a_required_classification_needs_wrap_up_enabled() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        QueuePolicy(
            "q",
            WrapUpPolicy(enabled=False),
            ClassificationPolicy(required=True),
        )
    assert caught.value.setting == "required"


@pytest.mark.parametrize("queue_id", ["", " q", 5])
def test_a_queue_needs_a_usable_id(queue_id: object) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        QueuePolicy(queue_id)  # type: ignore[arg-type]
    assert caught.value.setting == "queue_id"


def test_a_queue_refuses_parts_of_the_wrong_type() -> None:
    with pytest.raises(InvalidPolicy):
        QueuePolicy("q", wrap_up="fast")  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicy):
        QueuePolicy("q", classification="free")  # type: ignore[arg-type]


def test_retired_options_are_hidden_from_new_choices() -> None:
    dropdown = DropdownClassification(OPTIONS)
    offered = [option.code for option in dropdown.offered(None)]
    assert offered == ["refund", "invoice", "late", "other"]
    assert "old" in dropdown.by_code


def test_a_profile_keeps_only_its_codes() -> None:
    dropdown = DropdownClassification(OPTIONS)
    codes = [o.code for o in dropdown.offered(frozenset({"late", "old", "x"}))]
    assert codes == ["late"]


@given(queue_policies())
def test_every_generated_policy_survives_json(policy: QueuePolicy) -> None:
    assert QueuePolicy.from_dict(policy.to_dict()) == policy
