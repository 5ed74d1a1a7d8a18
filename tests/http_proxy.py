"""A test tool: an HTTP forwarder on loopback that records what passes and can answer
chosen requests itself with an error status first (Sentry API 5xx/429/401 faults), so the
real components on both sides stay real."""
import http.client
import http.server
import threading
import time
from typing import Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from net_helpers import unused_port

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
               "proxy-authenticate", "host", "content-length"}


class Recorded(NamedTuple):
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    status: int
    at: float          # time.time() when the answer was sent back


class Fault(NamedTuple):
    method: str
    path_contains: str
    status: int
    body: bytes = b'{"detail": "injected by the test proxy"}'
    headers: Tuple[Tuple[str, str], ...] = ()


class Proxy:
    def __init__(self, target: str):
        self.target = urlsplit(target)
        self.records: List[Recorded] = []
        self.faults: List[Fault] = []
        self.lock = threading.Lock()
        self.port = unused_port()
        self.url = "http://127.0.0.1:%d" % self.port
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._take_fault(self.command, self.path)
                if fault:
                    status, headers, data = fault.status, list(fault.headers), fault.body
                else:
                    status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                proxy._record(Recorded(self.command, self.path, dict(self.headers), body, status, time.time()))
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def inject(self, method: str, path_contains: str, statuses, headers=()) -> None:
        with self.lock:
            self.faults.extend(Fault(method, path_contains, s, headers=tuple(headers)) for s in statuses)

    def _take_fault(self, method: str, path: str) -> Optional[Fault]:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.method == method and fault.path_contains in path:
                    return self.faults.pop(i)
        return None

    def _record(self, record: Recorded) -> None:
        with self.lock:
            self.records.append(record)

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        try:
            conn.request(method, path, body=body or None,
                         headers={k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS})
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        except OSError as exc:
            return 502, [("Content-Type", "text/plain")], ("proxy: %s" % exc).encode()
        finally:
            conn.close()

    def matching(self, method: str, path_contains: str) -> List[Recorded]:
        with self.lock:
            return [r for r in self.records if r.method == method and path_contains in r.path]
