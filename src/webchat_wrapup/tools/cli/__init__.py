"""The command line: ``webchat-wrapup`` and ``python -m webchat_wrapup``."""
