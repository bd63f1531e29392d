"""Totals, prices and reports over the index: `costs` sums and prices price groups,
`pricing` knows what a token costs, `grouping` groups requests for `report`, `queries`
answers `status`, `log` and `show`.

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes.
"""
