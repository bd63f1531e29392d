"""The dashboard: one self-contained HTML page of a repository's tokens and cost.

`figures` gathers what the page shows through the functions `report --json`,
`release --all --json` and `status --json` are built from, so every figure on the page is
theirs; `page` puts the figures, the page's script and style and the chart library
(Chart.js, fetched at build time, see setup.py) into one file that needs no network;
`serve` serves it on 127.0.0.1 and builds it again when the ledger changes.

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes, tokentag.report,
tokentag.release.
"""
