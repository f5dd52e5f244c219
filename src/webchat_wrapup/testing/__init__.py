"""Tools for testing code that embeds webchat-wrapup (needs Hypothesis).

The core never imports this package.
"""
