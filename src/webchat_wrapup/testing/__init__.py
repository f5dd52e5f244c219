"""Tools for testing code that embeds webchat-wrapup (needs Hypothesis).

The core never imports this package. :class:`BlockingStore` (which needs
nothing more) runs an :class:`~webchat_wrapup.ports.AsyncStore` behind the
blocking :class:`~webchat_wrapup.ports.Store`, so the contract suite in
:mod:`webchat_wrapup.testing.contract` tests an asyncio store unchanged.
"""

from .blocking import BlockingService, BlockingStore

__all__ = ["BlockingService", "BlockingStore"]
