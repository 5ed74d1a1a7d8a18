"""A test tool: a requests transport adapter that answers a real OrchestratorClient with
recorded HTTP answers in order (no network, no TLS) and keeps what the client sent."""
import json
import re

import requests
from requests.adapters import BaseAdapter

# "$REPEAT(c,n)" inside a recorded body stands for n copies of c (a huge output without a huge file)
REPEAT = re.compile(r"^\$REPEAT\((.),(\d+)\)$")


def _expand(value):
    if isinstance(value, str):
        found = REPEAT.match(value)
        return found.group(1) * int(found.group(2)) if found else value
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


class RecordedPE(BaseAdapter):
    """Answers each request with the next recorded answer ({status, headers, body | text});
    `sent` holds (method, url, JSON body or None) of each request."""

    def __init__(self, recorded):
        super().__init__()
        self.recorded = list(recorded)
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append((request.method, request.url, json.loads(request.body) if request.body else None))
        assert self.recorded, "the client asked more than the recording holds: %s %s" % (request.method, request.url)
        answer = self.recorded.pop(0)
        response = requests.Response()
        response.status_code = answer["status"]
        text = answer["text"] if "text" in answer else json.dumps(_expand(answer.get("body")))
        response._content = text.encode("utf-8")
        response.headers["Content-Type"] = "application/json"
        response.headers.update(answer.get("headers") or {})
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)  # as requests' own adapter
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass
