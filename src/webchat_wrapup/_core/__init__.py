"""The pure core: values, the transition rules and the decide step.

Everything in this package imports only the standard library, attrs,
python-statemachine and this package itself; nothing here reads a clock, a
file or a store. ``tests/test_purity.py`` holds it to that.
"""
