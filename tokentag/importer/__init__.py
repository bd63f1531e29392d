"""`tokentag import`: past transcripts into the ledger, and past work onto past commits.

`discovery` finds the candidate transcripts and the new bytes of each; `reader` reads them
(in forked worker processes, see `forked`, when there is enough) and routes each request
by its own cwd; `writer` writes batches deduplicated against the index; `inference` gives
what no hook saw to the past commits that followed it; `run` drives the whole; `options`
holds what was asked and what was done. `estimates` takes usage no transcript shows, as
a person or another tool states it (`tokentag record`).

Exactly once: every ledger write dedups by request key under the repository lock, against
requests from hooks and earlier imports alike.

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes, tokentag.capture.
"""
