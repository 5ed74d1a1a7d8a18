"""DEMO ONLY: helpers for `make demo` (a real Sentry 23.7.1 instance on loopback).

Not part of the plugin package. Relay, Kafka and Snuba, which real SDK ingestion needs,
cannot run here, so the demo hands events to Sentry's processing pipeline where the
ingest consumer would, and uses the one Snuba stub the tests use (eventstream.py).
"""
