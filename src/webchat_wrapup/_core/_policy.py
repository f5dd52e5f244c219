"""What an administrator sets per queue; every policy is validated when built."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

import attrs

from ._errors import ErrorCode, InvalidInput, InvalidPolicy, shown
from ._history import Classification
from ._json import document_from_dict, document_to_dict
from ._text import check_identifier, clean_line, clean_paragraphs

MAX_DURATION_SECONDS = 3600
MAX_EXTENSIONS = 10
MAX_FREE_TEXT_LENGTH = 1000
MAX_ADDITIONAL_TEXT_LENGTH = 10_000


def _check_int(setting: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPolicy(setting, f"must be a whole number, not {shown(value)}")
    if not low <= value <= high:
        raise InvalidPolicy(
            setting, f"must be between {low} and {high}, not {shown(value)}"
        )


def _check_bool(setting: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidPolicy(setting, f"must be true or false, not {shown(value)}")


class ExpiryRule(str, enum.Enum):
    """What expiry does to a chat nobody classified."""

    COMPLETE_UNCLASSIFIED = "complete_unclassified"
    APPLY_DEFAULT = "apply_default"


@attrs.frozen
class WrapUpPolicy:
    """The wrap-up countdown, its extension budget and its pauses.

    ``pause_allowed`` lets the agent pause the countdown (the time left is
    kept and resumes where it stopped); ``max_paused_seconds`` caps the
    total paused time of one wrap-up, after which the countdown resumes by
    itself, so pausing cannot be used to stay out of the queue.
    """

    enabled: bool = True
    countdown_seconds: int | None = 60
    extension_seconds: int = 60
    max_extensions: int = 3
    early_exit_allowed: bool = True
    pause_allowed: bool = True
    max_paused_seconds: int | None = None
    countdown: timedelta | None = attrs.field(init=False, eq=False, repr=False)
    extension: timedelta = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_bool("enabled", self.enabled)
        if self.countdown_seconds is not None:
            _check_int(
                "countdown_seconds", self.countdown_seconds, 1, MAX_DURATION_SECONDS
            )
        _check_int("extension_seconds", self.extension_seconds, 1, MAX_DURATION_SECONDS)
        _check_int("max_extensions", self.max_extensions, 0, MAX_EXTENSIONS)
        _check_bool("early_exit_allowed", self.early_exit_allowed)
        _check_bool("pause_allowed", self.pause_allowed)
        if self.max_paused_seconds is not None:
            _check_int(
                "max_paused_seconds", self.max_paused_seconds, 1, MAX_DURATION_SECONDS
            )
        if not self.early_exit_allowed and self.countdown_seconds is None:
            raise InvalidPolicy(
                "early_exit_allowed",
                "a wrap-up with no countdown must let the agent complete it",
            )
        seconds = self.countdown_seconds
        countdown = None if seconds is None else timedelta(seconds=seconds)
        object.__setattr__(self, "countdown", countdown)
        object.__setattr__(self, "extension", timedelta(seconds=self.extension_seconds))


@attrs.frozen
class ClassificationOption:
    """One entry of the dropdown; ``group`` nests it, e.g. Billing > Refund."""

    code: str
    label: str
    group: str | None = None
    retired: bool = False


@attrs.frozen
class DropdownClassification:
    """The agent picks one of the administrator's options."""

    kind: ClassVar[str] = "dropdown"
    options: tuple[ClassificationOption, ...]
    by_code: Mapping[str, ClassificationOption] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if isinstance(self.options, list):  # frozen values hold tuples
            object.__setattr__(self, "options", tuple(self.options))
        if not isinstance(self.options, tuple):
            raise InvalidPolicy("options", f"{shown(self.options)} is not a tuple")
        if not self.options:
            raise InvalidPolicy("options", "a dropdown needs at least one option")
        by_code: dict[str, ClassificationOption] = {}
        for option in self.options:
            if not isinstance(option, ClassificationOption):
                raise InvalidPolicy("options", f"{shown(option)} is not an option")
            _check_option(option)
            if option.code in by_code:
                raise InvalidPolicy(
                    "options", f"code {shown(option.code)} appears twice"
                )
            by_code[option.code] = option
        if all(option.retired for option in self.options):
            raise InvalidPolicy("options", "every option is retired")
        object.__setattr__(self, "by_code", by_code)

    def offered(
        self, profile: frozenset[str] | None
    ) -> tuple[ClassificationOption, ...]:
        """The options an agent with ``profile`` may choose (retired ones hidden)."""
        return tuple(
            option
            for option in self.options
            if not option.retired and (profile is None or option.code in profile)
        )


def _check_option(option: ClassificationOption) -> None:
    try:
        check_identifier(option.code, "option code")
        _check_clean_name(option.label, "label")
        if option.group is not None:
            _check_clean_name(option.group, "group")
    except InvalidInput as error:
        raise InvalidPolicy("options", error.message) from error
    _check_bool("retired", option.retired)


def _check_clean_name(value: str, what: str) -> None:
    """A label or group: non-empty text, exactly as cleaning leaves it."""
    cleaned = clean_line(value, what)
    if not cleaned or cleaned != value:
        raise InvalidPolicy("options", f"{what} {shown(value)} must be clean text")


@attrs.frozen
class FreeTextClassification:
    """The agent types the classification."""

    kind: ClassVar[str] = "free_text"
    min_length: int = 1
    max_length: int = 100

    def __attrs_post_init__(self) -> None:
        _check_int("max_length", self.max_length, 1, MAX_FREE_TEXT_LENGTH)
        _check_int("min_length", self.min_length, 1, self.max_length)


@attrs.frozen
class ClassificationPolicy:
    """How chats are classified, and what expiry does to an unclassified chat."""

    choices: DropdownClassification | FreeTextClassification = FreeTextClassification()
    required: bool = False
    on_expiry: ExpiryRule = ExpiryRule.COMPLETE_UNCLASSIFIED
    timeout_default: str | None = None
    additional_text_max_length: int = 4000

    def __attrs_post_init__(self) -> None:
        if not isinstance(
            self.choices, (DropdownClassification, FreeTextClassification)
        ):
            raise InvalidPolicy(
                "choices", f"{shown(self.choices)} is not a classification mode"
            )
        _check_bool("required", self.required)
        if not isinstance(self.on_expiry, ExpiryRule):
            raise InvalidPolicy(
                "on_expiry", f"{shown(self.on_expiry)} is not an expiry rule"
            )
        _check_int(
            "additional_text_max_length",
            self.additional_text_max_length,
            0,
            MAX_ADDITIONAL_TEXT_LENGTH,
        )
        if self.on_expiry is ExpiryRule.APPLY_DEFAULT and self.timeout_default is None:
            raise InvalidPolicy(
                "timeout_default", "apply_default needs a timeout default"
            )
        if self.timeout_default is not None:
            if not isinstance(self.timeout_default, str):
                raise InvalidPolicy(
                    "timeout_default", f"{shown(self.timeout_default)} is not text"
                )
            self._check_timeout_default(self.timeout_default)

    def _check_timeout_default(self, value: str) -> None:
        try:
            default = self.timeout_classification()
        except InvalidInput as error:
            raise InvalidPolicy("timeout_default", error.message) from error
        if default is not None and default.code is None and default.label != value:
            raise InvalidPolicy("timeout_default", f"{shown(value)} is not clean text")

    def timeout_classification(self) -> Classification | None:
        """The classification expiry applies to an unclassified chat, if any."""
        if self.timeout_default is None:
            return None
        if isinstance(self.choices, DropdownClassification):
            return self.choose(code=self.timeout_default, text=None, profile=None)
        return self.choose(code=None, text=self.timeout_default, profile=None)

    def choose(
        self, code: str | None, text: str | None, profile: frozenset[str] | None
    ) -> Classification:
        """The classification an agent with ``profile`` chose, or a typed error."""
        if isinstance(self.choices, DropdownClassification):
            if code is None or text is not None:
                raise _mode_mismatch("dropdown", "a code")
            return _pick(self.choices, code, profile)
        if text is None or code is not None:
            raise _mode_mismatch("free text", "a text")
        return _typed(self.choices, text)

    def clean_additional_text(self, text: str | None) -> str | None:
        """``text`` cleaned and checked against the maximum length."""
        if text is None:
            return None
        cleaned = clean_paragraphs(text, "additional text")
        if len(cleaned) > self.additional_text_max_length:
            raise InvalidInput(
                ErrorCode.ADDITIONAL_TEXT_TOO_LONG,
                f"additional text has {len(cleaned)} characters; "
                f"at most {self.additional_text_max_length} are allowed",
                length=len(cleaned),
                max_length=self.additional_text_max_length,
            )
        return cleaned or None


def _mode_mismatch(mode: str, wanted: str) -> InvalidInput:
    return InvalidInput(
        ErrorCode.CLASSIFICATION_MODE_MISMATCH,
        f"this queue classifies by {mode}: give {wanted}, and only that",
        mode=mode.replace(" ", "_"),
    )


def _pick(
    choices: DropdownClassification, code: str, profile: frozenset[str] | None
) -> Classification:
    option = choices.by_code.get(code)
    if option is None:
        raise InvalidInput(
            ErrorCode.UNKNOWN_CLASSIFICATION,
            f"classification code {shown(code)} is not in this queue's list",
            classification_code=code,
        )
    if option.retired:
        raise InvalidInput(
            ErrorCode.RETIRED_CLASSIFICATION,
            f"classification {shown(code)} is retired and can no longer be chosen",
            classification_code=code,
        )
    if profile is not None and code not in profile:
        raise InvalidInput(
            ErrorCode.CLASSIFICATION_NOT_IN_PROFILE,
            f"classification {shown(code)} is not in this agent's profile",
            classification_code=code,
        )
    return Classification(label=option.label, code=option.code, group=option.group)


def _typed(choices: FreeTextClassification, text: str) -> Classification:
    cleaned = clean_line(text, "classification")
    if len(cleaned) < choices.min_length:
        raise InvalidInput(
            ErrorCode.FREE_TEXT_TOO_SHORT,
            f"classification has {len(cleaned)} characters; "
            f"at least {choices.min_length} are needed",
            length=len(cleaned),
            min_length=choices.min_length,
        )
    if len(cleaned) > choices.max_length:
        raise InvalidInput(
            ErrorCode.FREE_TEXT_TOO_LONG,
            f"classification has {len(cleaned)} characters; "
            f"at most {choices.max_length} are allowed",
            length=len(cleaned),
            max_length=choices.max_length,
        )
    return Classification(label=cleaned)


@attrs.frozen
class QueuePolicy:
    """Everything configured for one chat queue."""

    queue_id: str
    wrap_up: WrapUpPolicy = WrapUpPolicy()
    classification: ClassificationPolicy = ClassificationPolicy()

    def __attrs_post_init__(self) -> None:
        try:
            check_identifier(self.queue_id, "queue_id")
        except InvalidInput as error:
            raise InvalidPolicy("queue_id", error.message) from error
        if not isinstance(self.wrap_up, WrapUpPolicy):
            raise InvalidPolicy(
                "wrap_up", f"{shown(self.wrap_up)} is not a WrapUpPolicy"
            )
        if not isinstance(self.classification, ClassificationPolicy):
            raise InvalidPolicy("classification", "is not a ClassificationPolicy")
        if self.classification.required and not self.wrap_up.enabled:
            raise InvalidPolicy(
                "required",
                "a required classification needs wrap-up enabled: "
                "nothing could hold the agent until it is given",
            )

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data, with ``schema_version``."""
        return document_to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> QueuePolicy:
        """The value :meth:`to_dict` wrote; a typed error if ``data`` is not one."""
        return document_from_dict(cls, data)
