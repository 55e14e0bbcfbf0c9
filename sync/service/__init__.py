"""The nightly service: the run lock, the schedule loop, its settings, logs, status and mail."""
