"""Helpers for testing code that uses migrata (and migrata itself)."""

from __future__ import annotations

from .fake import FakeBackend

__all__ = ["FakeBackend"]
