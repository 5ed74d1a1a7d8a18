"""Sends a burst of signed webhooks from its own process and prints the answer latencies
as JSON (used by bench_gateway; a separate process so the sender's own work does not
share a GIL with the live Sentry server that the worker writes to)."""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from sentry_autodiag.gateway import signature


def main():
    spec = json.load(sys.stdin)
    sessions = {}

    def post(body_text):
        import threading
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        body = body_text.encode()
        start = time.perf_counter()
        response = session.post(spec["url"], data=body, timeout=5, headers={
            "Content-Type": "application/json", "Sentry-Hook-Resource": "event_alert",
            "Sentry-Hook-Signature": signature.sign(body, spec["secret"])})
        return time.perf_counter() - start, response.status_code

    with ThreadPoolExecutor(spec["senders"]) as pool:
        started = time.perf_counter()
        results = list(pool.map(post, spec["bodies"]))
        wall = time.perf_counter() - started
    json.dump({"latencies": [r[0] for r in results], "statuses": [r[1] for r in results], "wall": wall}, sys.stdout)


if __name__ == "__main__":
    main()
