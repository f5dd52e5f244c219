"""Registers this library's strategies with Hypothesis, through its entry point.

Hypothesis calls :func:`_hypothesis_setup_hook` when it is imported, so
``st.from_type(QueuePolicy)`` and friends work in any test suite that has
webchat-wrapup installed; the core itself never imports Hypothesis.
"""

from __future__ import annotations

from hypothesis import strategies as st

from .._commands import COMMAND_TYPES
from .._policy import ClassificationPolicy, QueuePolicy, WrapUpPolicy
from .strategies import classification_policies, commands, queue_policies


def _hypothesis_setup_hook() -> None:
    st.register_type_strategy(QueuePolicy, queue_policies())
    st.register_type_strategy(WrapUpPolicy, queue_policies().map(lambda p: p.wrap_up))
    st.register_type_strategy(ClassificationPolicy, classification_policies())
    for command_type in COMMAND_TYPES:
        st.register_type_strategy(command_type, commands(kinds=(command_type,)))
