"""tokentag: token and cost attribution for AI coding agents, per commit and per release."""

from __future__ import annotations

__version__ = "0.1.0"
