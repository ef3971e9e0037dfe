"""The one error type for input rxrank cannot trust (its own module so every layer can raise it)."""

from __future__ import annotations

__all__ = ["RxrankInputError"]


class RxrankInputError(ValueError):
    """An input that rxrank cannot trust; the message says where and how to fix it."""
