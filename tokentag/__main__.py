"""`python -m tokentag`: the same entry as the console script."""

from __future__ import annotations

from tokentag._entry import main

main()
