"""PLACEHOLDER (being written): dotted layout."""

from __future__ import annotations

from .base import NO, Entry, ReadResult

NAME = "dotted"


def detect(entries: list[Entry]) -> int:
    return NO


def read(entries: list[Entry]) -> ReadResult:
    raise NotImplementedError
