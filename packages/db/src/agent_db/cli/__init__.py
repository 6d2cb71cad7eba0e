"""Everything the toolkit prints: Rich for people, Markdown for job summaries, JSON for scripts.

Commands return data; these modules turn it into text. Text that comes from outside (revision
messages, other sessions' queries, ledger rows, flags quoted in errors) is escaped before Rich
sees it.
"""
