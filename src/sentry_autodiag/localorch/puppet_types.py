"""The local orchestrator's view of sentry_autodiag.puppet_types (the product's checker).

The checker lives in the product package: the settings check needs it in production, where
this development double is not installed.
"""
from ..puppet_types import CHECKED, PuppetTypeError, is_checked, matches, parse_type

__all__ = ["CHECKED", "PuppetTypeError", "is_checked", "matches", "parse_type"]
