"""A small client of Sentry's REST API: the comments of an issue, and the token's scopes.

Uses the organization-scoped paths (`/api/0/organizations/<org>/issues/<id>/comments/`),
present in 23.7.1 and the only ones sentry.io keeps. 5xx, 429 and connection errors are
retried with backoff (Retry-After honoured, bounded); 401/403 mean the integration's
token is revoked or lacks a scope, which no retry fixes. Errors form one hierarchy, as
in `requests`, so a caller catches `SentryAPIError` or a precise subclass.
"""
import logging
import random
import time
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import requests

logger = logging.getLogger("sentry_autodiag.gateway")

ALREADY_POSTED = "You have already posted that comment"
MAX_RETRY_AFTER = 30.0
MAX_PAGES = 20          # 100 comments a page: an issue with more than 2000 comments is not ours to scan


class SentryAPIError(Exception):
    """Sentry's API did not do what was asked."""
    retryable = False

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.status = status


class TransientError(SentryAPIError):
    """5xx, 429, timeouts, connection errors, after the client's own retries."""
    retryable = True


class TokenRefused(SentryAPIError):
    """401/403: the integration's token was revoked, or lacks the scope (event:write)."""


class IssueGone(SentryAPIError):
    """404: the issue was deleted (or belongs to another organization)."""


class BadAnswer(SentryAPIError):
    """Any other answer; the message holds what Sentry said."""


class RateLimit(NamedTuple):
    """Sentry's X-Sentry-Rate-Limit-* headers of one answer (None when absent)."""
    remaining: Optional[int]
    reset: Optional[float]       # epoch seconds when the window resets

    @classmethod
    def of(cls, response: requests.Response) -> "RateLimit":
        def number(name, kind):
            try:
                return kind(response.headers.get(name, ""))
            except ValueError:
                return None
        return cls(number("X-Sentry-Rate-Limit-Remaining", int), number("X-Sentry-Rate-Limit-Reset", float))

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


class SentryClient:
    def __init__(self, url: str, organization: str, token: str, ca_file: Optional[str] = None,
                 timeout=(5.0, 15.0), retries: int = 4, backoff: float = 0.5):
        self.url = url.rstrip("/")
        self.organization = organization
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = requests.Session()
        self.session.headers.update({"Authorization": "Bearer %s" % token, "User-Agent": "sentry-autodiag-gateway"})
        self.session.verify = ca_file or True   # a private CA for self-hosted; never off
        self.session.trust_env = False          # no proxy or CA surprises from the worker's environment

    def __repr__(self):
        return "SentryClient(%r, %r)" % (self.url, self.organization)

    def close(self) -> None:
        self.session.close()

    # --- the API we use ---------------------------------------------------------------

    def post_comment(self, issue_id: str, text: str) -> str:
        """Adds a comment; "posted", or "duplicate" when Sentry says this exact text is there."""
        try:
            self._request("POST", self._issue_path(issue_id, "comments/"), json={"text": text}, expect=(200, 201))
        except BadAnswer as exc:
            if exc.status == 400 and ALREADY_POSTED in exc.message:
                return "duplicate"
            raise
        return "posted"

    def comments(self, issue_id: str) -> Iterator[Dict[str, Any]]:
        """The issue's comments, newest first, following Sentry's cursor pagination."""
        url = self.url + self._issue_path(issue_id, "comments/")
        params: Optional[Dict[str, str]] = {"per_page": "100"}
        for _ in range(MAX_PAGES):
            response = self._request("GET", url, params=params, absolute=True)
            items = _json(response)
            if not isinstance(items, list):
                raise BadAnswer("comments: expected a list, got %s" % type(items).__name__, response.status_code)
            for item in items:
                if isinstance(item, dict):
                    yield item
            following = response.links.get("next") or {}
            if following.get("results") != "true" or not following.get("url"):
                return
            url, params = following["url"], None

    def pages(self, path: str, params: Optional[Dict[str, str]] = None, max_pages: int = 10
              ) -> Iterator[Tuple[List[Any], "RateLimit"]]:
        """A listing, one page at a time (a list each), following Sentry's Link header while it
        says `results="true"`, for at most `max_pages` pages; each with the rate-limit headers."""
        url = self.url + path
        for _ in range(max_pages):
            response = self._request("GET", url, params=params, absolute=True)
            items = _json(response)
            if not isinstance(items, list):
                raise BadAnswer("%s: expected a list, got %s" % (path, type(items).__name__), response.status_code)
            yield items, RateLimit.of(response)
            following = response.links.get("next") or {}
            if following.get("results") != "true" or not following.get("url"):
                return
            url, params = following["url"], None

    def get(self, path: str, params: Optional[Dict[str, str]] = None) -> Any:
        """One JSON document (an object) of the API."""
        body = _json(self._request("GET", path, params=params))
        if not isinstance(body, dict):
            raise BadAnswer("%s: expected an object, got %s" % (path, type(body).__name__))
        return body

    def whoami(self) -> Dict[str, Any]:
        """GET /api/0/: the token's scopes (`auth.scopes`) when the token is valid."""
        response = self._request("GET", "/api/0/")
        body = _json(response)
        if not isinstance(body, dict) or not body.get("auth"):
            raise TokenRefused("Sentry did not accept the token (GET /api/0/ shows no authentication)", 401)
        return body

    def _issue_path(self, issue_id: str, tail: str) -> str:
        return "/api/0/organizations/%s/issues/%s/%s" % (self.organization, issue_id, tail)

    # --- transport ---------------------------------------------------------------------

    def _request(self, method: str, path: str, expect=(200,), absolute: bool = False, **kwargs) -> requests.Response:
        url = path if absolute else self.url + path
        last: Optional[SentryAPIError] = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, last))
            try:
                response = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise BadAnswer("TLS verification of %s failed: %s" % (self.url, exc))
            except requests.RequestException as exc:
                last = TransientError("%s %s: %s" % (method, path, type(exc).__name__))
                continue
            if response.status_code in expect:
                return response
            error = _error_for(response, method, path)
            if not error.retryable:
                raise error
            last = error
        assert last is not None
        raise last

    def _delay(self, attempt: int, last: Optional[SentryAPIError]) -> float:
        retry_after = getattr(last, "retry_after", None)
        if retry_after is not None:
            return min(MAX_RETRY_AFTER, retry_after)
        return self.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise BadAnswer("Sentry answered %d with a body that is not JSON" % response.status_code, response.status_code)


def _detail(response: requests.Response) -> str:
    text = response.text[:500]
    try:
        body = response.json()
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"][:500]
    return text if not isinstance(body, str) else body[:500]


def _error_for(response: requests.Response, method: str, path: str) -> SentryAPIError:
    status = response.status_code
    where = "%s %s answered %d" % (method, path, status)
    if status in (401, 403):
        return TokenRefused("%s: %s. The integration's token may have been revoked, or the integration lacks "
                            "the permission Issue & Event: Read & Write." % (where, _detail(response)), status)
    if status == 404:
        return IssueGone("%s: the issue does not exist (deleted?)" % where, status)
    if status == 429 or status >= 500:
        error = TransientError("%s: %s" % (where, _detail(response)[:200]), status)
        try:
            error.retry_after = max(0.0, float(response.headers.get("Retry-After", "")))
        except ValueError:
            pass
        return error
    return BadAnswer("%s: %s" % (where, _detail(response)), status)


def comment_texts(comments: Iterator[Dict[str, Any]]) -> List[str]:
    """The text of each comment (Sentry puts it under data.text)."""
    texts = []
    for comment in comments:
        data = comment.get("data")
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            texts.append(data["text"])
    return texts
