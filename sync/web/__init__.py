"""The web intake: schools download and upload their workbooks, the coordinator watches.

settings.py ([web] of the configuration), store.py (links and uploads, SQLite beside the
history), intake.py (check, accept, store, sync), app.py (the Starlette application),
security.py (headers, rate limits, CSRF, the redacted access log).
"""
