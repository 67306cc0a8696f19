"""Linkage errors.

LinkageError
├── InvalidNino (also ValueError)      the input is not a usable National Insurance number
└── UnknownKey (also KeyError)         a hash names a key id the key ring does not hold
"""

from __future__ import annotations

__all__ = ["InvalidNino", "LinkageError", "UnknownKey"]


class LinkageError(Exception):
    """Root of every error raised by :mod:`linkage`."""


class InvalidNino(LinkageError, ValueError):
    """The value is not a valid NINO. ``reason`` is a stable code; the message never repeats the value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownKey(LinkageError, KeyError):
    """A key id that this key ring does not hold."""
