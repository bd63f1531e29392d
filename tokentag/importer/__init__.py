"""`tokentag import`: past transcripts into the ledger, and past work onto past commits.

May import: tokentag.core, tokentag.git, tokentag.ledger, tokentag.notes, tokentag.capture.
"""
