"""PLACEHOLDER (being written): golang-migrate layout."""

from __future__ import annotations

from .base import NO, Entry, ReadResult

NAME = "golang-migrate"


def detect(entries: list[Entry]) -> int:
    return NO


def read(entries: list[Entry]) -> ReadResult:
    raise NotImplementedError
