"""Errors that the command line turns into one line and a non-zero exit."""

from __future__ import annotations


class TokentagError(Exception):
    """An expected failure: bad input, a missing repository, an unknown tag."""

    exit_code = 1
