"""Releases: `releases` finds a release's commits between tags and sums them from the ledger
and the notes, `notes_file` writes the section into the release notes, `history` gives
reports their commits and tags read the same way, `report_rows` gathers any report's rows.

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes, tokentag.report.
"""
