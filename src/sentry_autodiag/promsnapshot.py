"""The node's metrics around the event, from Prometheus: client, queries and analysis.

The state of a node at one moment says little without the minutes before it. While the
Puppet job runs, a background thread asks Prometheus (`/api/v1/query_range`) for the
admin's named PromQL queries from 15 minutes before the event to now, and reduces every
series to a few numbers and a sparkline; the note shows them, and a series that jumped
away from its own baseline just before the event becomes a finding.

Prometheus is a helper, never a dependency: every failure (slow, refused, 500, a body
that is huge, not JSON, of the wrong shape, NaN/Inf) ends as a short reason, within a
fixed time budget and a fixed body size. The result is a plain JSON-safe dict, so a
front end can park it in Redis until the job's note is written.
"""
import calendar
import functools
import json
import logging
import math
import re
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

import requests
import yaml

from .orchestrator import PinnedCAAdapter, make_ssl_context

logger = logging.getLogger("sentry_autodiag")

BUDGET = 10.0               # seconds for all queries of one snapshot together
CONNECT_TIMEOUT = 3.0
BEFORE = 15 * 60            # seconds of history before the event
MAX_AFTER = 30 * 60         # the range ends at now, but at most this long after the event
MAX_POINTS = 120            # per series: the step is chosen so a range has about this many
MAX_BODY = 2 * 1024 * 1024  # bytes of one answer
MAX_SERIES_READ = 200       # series of one answer looked at
MAX_VALUES_READ = 5000      # points of one series looked at
MAX_ROWS_PER_QUERY = 4      # series shown per query (the rest are counted)
MAX_QUERIES = 12
MAX_QUERY_TEXT = 1000
MAX_QUERIES_TEXT = 20000
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 30
EVENT_MARK = "┃"
RECENT = 120.0              # "just before the event": this many seconds
MIN_BASELINE_POINTS = 4
JUMP_SIGMAS = 4.0           # robust z-score over the baseline (median, MAD) that counts as a jump
JUMP_RELATIVE = 0.10        # ... and at least this fraction of the baseline's level
NO_DATA = "no data for this node"
UNITS = ("percent", "bytes", "per_second", "")
QUERY_NAME = re.compile(r"\A[a-z][a-z0-9_]{0,31}\Z")
LABEL_NAME = re.compile(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,63}\Z")
NODE_TEMPLATE = re.compile(r"\A(?:[A-Za-z0-9_.:/-]|\{certname\}|\{short\}){1,120}\Z")


class Query(NamedTuple):
    name: str
    expr: str                   # PromQL with {node} / {node_re} / {label} placeholders
    unit: str = ""              # percent, bytes, per_second or "" (plain number)
    min_change: float = 0.0     # a jump must also move at least this much (in the series' unit)


# node_exporter (1.x) metric names. {label}="{node}" selects the node (see the settings).
# Counters use irate over [2m] (the last two scrapes): right from a series' second scrape on,
# where rate() over a window longer than the series' life divides by the whole window.
_SEL = '{label}="{node}"'
DEFAULT_QUERIES: Tuple[Query, ...] = (
    Query("cpu_busy", '100 * (1 - avg(irate(node_cpu_seconds_total{mode="idle",%s}[2m])))' % _SEL, "percent", 10),
    Query("load1", "node_load1{%s}" % _SEL, "", 1),
    Query("mem_available", "node_memory_MemAvailable_bytes{%s}" % _SEL, "bytes", 0),
    Query("swap_used", "node_memory_SwapTotal_bytes{%s} - node_memory_SwapFree_bytes{%s}" % (_SEL, _SEL),
          "bytes", 64 * 1024 * 1024),
    Query("disk_busy", "100 * max(irate(node_disk_io_time_seconds_total{%s}[2m]))" % _SEL, "percent", 10),
    Query("fs_free", '100 * min(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|squashfs",%s} '
                     '/ node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|squashfs",%s})' % (_SEL, _SEL), "percent", 2),
    Query("net_errors", "sum(irate(node_network_receive_errs_total{%s}[2m]) + "
                        "irate(node_network_transmit_errs_total{%s}[2m]))" % (_SEL, _SEL), "per_second", 0),
    Query("tcp_retrans", "irate(node_netstat_Tcp_RetransSegs{%s}[2m])" % _SEL, "per_second", 1),
)


class MetricsError(Exception):
    """Why a query gave nothing: a short reason fit for one line of a note."""


# --- settings values ----------------------------------------------------------------------


def check_url(value: Any) -> str:
    """The Prometheus base URL ("" = no metrics): http(s), a host, no credentials in it."""
    value = (value or "").strip().rstrip("/") if isinstance(value, str) or value is None else None
    if value is None or len(value) > 500 or any(ord(c) < 33 for c in value):
        raise ValueError("The Prometheus URL must be one line, e.g. https://prometheus.example.com:9090.")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise ValueError("The Prometheus URL is http(s)://host[:port][/path], without user, query or fragment "
                         "(set the user and password in their own fields).")
    try:
        parts.port
    except ValueError:
        raise ValueError("The Prometheus URL has an invalid port.")
    return value


def check_label(value: Any) -> str:
    value = (value or "").strip() or "instance"
    if not LABEL_NAME.match(value):
        raise ValueError("A Prometheus label name holds letters, digits and _ and does not start with a digit.")
    return value


def check_node_template(value: Any) -> str:
    value = (value or "").strip() or "{certname}"
    if not NODE_TEMPLATE.match(value) or ("{certname}" not in value and "{short}" not in value):
        raise ValueError("Write the label value with {certname} (web01.example.com) or {short} (web01), "
                         "e.g. {certname}:9100.")
    return value


def parse_queries(value: Any) -> Tuple[Query, ...]:
    """Named queries from the settings text (YAML or JSON mapping, in order); "" = the defaults."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_QUERIES
    if isinstance(value, tuple) and value and all(isinstance(q, Query) for q in value):
        return value  # already parsed (Settings holds them so)
    if isinstance(value, str):
        return _parse_queries_text(value)
    return _parse_queries_data(value)


@functools.lru_cache(maxsize=64)
def _parse_queries_text(text: str) -> Tuple[Query, ...]:
    # Cached: settings are read on every event and every poll, and a parsed query is immutable.
    if len(text) > MAX_QUERIES_TEXT:
        raise ValueError("The queries are longer than %d characters." % MAX_QUERIES_TEXT)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise ValueError("YAML aliases (*name) are not allowed in the queries.")
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise ValueError("The queries are not valid YAML or JSON%s: %s." % (where, getattr(exc, "problem", None)
                                                                            or "invalid syntax"))
    return _parse_queries_data(data)


def _parse_queries_data(data: Any) -> Tuple[Query, ...]:
    if not isinstance(data, dict) or not data:
        raise ValueError("The queries are a mapping of names to PromQL, e.g. load1: node_load1{instance=\"{node}\"}.")
    if len(data) > MAX_QUERIES:
        raise ValueError("At most %d queries are allowed." % MAX_QUERIES)
    queries = []
    for name, spec in data.items():
        if not isinstance(name, str) or not QUERY_NAME.match(name):
            raise ValueError("Query %r: a name holds lower-case letters, digits and _ (at most 32)." % (str(name)[:40],))
        if isinstance(spec, str):
            spec = {"query": spec}
        if not isinstance(spec, dict) or set(spec) - {"query", "unit", "min_change"}:
            raise ValueError("Query %s: give the PromQL text, or {query: …, unit: …, min_change: …}." % name)
        expr, unit, min_change = spec.get("query"), spec.get("unit", "") or "", spec.get("min_change", 0)
        if not isinstance(expr, str) or not expr.strip() or len(expr) > MAX_QUERY_TEXT \
                or any(ord(c) < 32 and c not in "\n\t" for c in expr):
            raise ValueError("Query %s: query: PromQL text of at most %d characters." % (name, MAX_QUERY_TEXT))
        if "{node}" not in expr and "{node_re}" not in expr:
            raise ValueError("Query %s: query: select the node with {node} (e.g. instance=\"{node}\") or "
                             "{node_re} (in =~ matchers)." % name)
        if unit not in UNITS:
            raise ValueError("Query %s: unit: one of percent, bytes, per_second (or none)." % name)
        if isinstance(min_change, bool) or not isinstance(min_change, (int, float)) \
                or not math.isfinite(min_change) or min_change < 0:
            raise ValueError("Query %s: min_change: a number of 0 or more." % name)
        queries.append(Query(name, expr.strip(), unit, float(min_change)))
    return tuple(queries)


# --- PromQL text ---------------------------------------------------------------------------


def promql_string(value: str) -> str:
    """The body of a double-quoted PromQL string literal holding `value` exactly."""
    out = []
    for c in value:
        if c in "\\\"'":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 32 or ord(c) == 127:
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    return "".join(out)


def node_label_value(template: str, certname: str) -> str:
    """The node's value of the selecting label: the template with {certname} and {short}."""
    return template.replace("{certname}", certname).replace("{short}", certname.split(".", 1)[0])


def expand(query: Query, label: str, node_value: str) -> str:
    """The query with the node put in: {node} escaped for a string literal, {node_re} escaped
    for an RE2 regex inside one, {label} the (validated) label name."""
    text = query.expr.replace("{label}", label)
    return text.replace("{node_re}", promql_string(re.escape(node_value))).replace("{node}", promql_string(node_value))


# --- the client ----------------------------------------------------------------------------


class Series(NamedTuple):
    labels: Dict[str, str]
    points: List[Tuple[float, float]]   # (unix time, finite value), in time order


class PrometheusClient:
    """query_range with bounded time and memory; TLS verified (the configured CA only, if one
    is given, else the system's trust store); credentials only ever sent over https."""

    def __init__(self, url: str, token: str = "", user: str = "", password: str = "", ca_pem: str = "",
                 user_agent: str = "sentry-autodiag", budget: float = BUDGET):
        self.budget = budget   # only for the messages: each call gets its own deadline
        self.base_url = check_url(url)
        if not self.base_url:
            raise MetricsError("no Prometheus URL is configured")
        https = self.base_url.startswith("https://")
        if (token or user or password) and not https:
            raise MetricsError("credentials are only sent over https; the Prometheus URL is http")
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update({"Accept": "application/json", "Accept-Encoding": "identity",
                                     "User-Agent": user_agent})
        if token:
            self.session.headers["Authorization"] = "Bearer " + token
        elif user or password:
            self.session.auth = (user, password)
        if https and ca_pem and ca_pem.strip():
            self.session.mount("https://", PinnedCAAdapter(make_ssl_context(ca_pem), max_retries=0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.session.close()

    def __repr__(self):
        return "PrometheusClient(%r)" % self.base_url  # never the credentials

    def query_range(self, expr: str, start: float, end: float, step: float, deadline: float) -> List[Series]:
        body = self._get("/api/v1/query_range", {"query": expr, "start": "%.3f" % start, "end": "%.3f" % end,
                                                 "step": "%g" % step, "timeout": "%ds" % max(1, int(self.budget))},
                         deadline)
        return parse_matrix(body)

    def _get(self, path: str, params: Dict[str, str], deadline: float) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MetricsError("no time left")
        try:
            response = self.session.get(self.base_url + path, params=params, stream=True, allow_redirects=False,
                                        timeout=(min(CONNECT_TIMEOUT, remaining), remaining))
        except requests.exceptions.SSLError:
            raise MetricsError("its TLS certificate does not verify against the configured CA")
        except requests.exceptions.Timeout:
            raise MetricsError("no answer within %g s" % self.budget)
        except requests.exceptions.RequestException as exc:
            raise MetricsError("unreachable (%s)" % type(exc).__name__)
        except ValueError:  # ssl: "check_hostname requires server_hostname"
            raise MetricsError("TLS needs the host name on Prometheus' certificate in the URL, not an IP address")
        try:
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise MetricsError("it sent a %s-compressed answer although none was asked for" % encoding[:20])
            raw = _read_bounded(response, deadline, self.budget)
        finally:
            response.close()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if response.status_code != 200:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                raise MetricsError("HTTP %d, %s: %s" % (response.status_code, str(body.get("errorType"))[:40],
                                                         body["error"][:200]))
            raise MetricsError("HTTP %d" % response.status_code)
        if body is None:
            raise MetricsError("the answer is not JSON")
        return body


def _read_bounded(response, deadline: float, budget: float) -> bytes:
    """The body, at most MAX_BODY bytes, by the deadline. Reads with read1 (one recv each, so a
    server dripping bytes cannot hold a read past the deadline); the socket's read timeout
    bounds each recv. No decoding: compressed answers were refused before."""
    fp = getattr(response.raw, "_fp", None)
    read = getattr(fp, "read1", None) or response.raw.read
    chunks, size = [], 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise MetricsError("no complete answer within %g s" % budget)
            chunk = read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY:
                raise MetricsError("the answer is larger than %d MiB" % (MAX_BODY // (1024 * 1024)))
            chunks.append(chunk)
    except MetricsError:
        raise
    except (OSError, requests.exceptions.RequestException) as exc:  # socket.timeout is an OSError
        if "timed out" in str(exc):
            raise MetricsError("no complete answer within %g s" % budget)
        raise MetricsError("the answer broke off (%s)" % type(exc).__name__)
    except Exception as exc:  # http.client's IncompleteRead and friends
        raise MetricsError("the answer broke off (%s)" % type(exc).__name__)
    return b"".join(chunks)


def parse_matrix(body: Any) -> List[Series]:
    """Prometheus' range answer → series of finite points; anything off-shape is an error or skipped."""
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
        raise MetricsError("the answer is not a Prometheus success answer")
    data = body["data"]
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise MetricsError("the answer is not a range of series (resultType %s)" % str(data.get("resultType"))[:20])
    series = []
    for item in data["result"][:MAX_SERIES_READ]:
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            continue
        metric = item.get("metric") if isinstance(item.get("metric"), dict) else {}
        labels = {str(k)[:64]: str(v)[:200] for k, v in list(metric.items())[:30]
                  if isinstance(k, str) and isinstance(v, str)}
        points = []
        for pair in item["values"][:MAX_VALUES_READ]:
            point = _point(pair)
            if point is not None:
                points.append(point)
        points.sort()
        series.append(Series(labels, points))
    return series


def _point(pair: Any) -> Optional[Tuple[float, float]]:
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    stamp, value = pair
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not isinstance(value, str) \
            or len(value) > 40:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or not math.isfinite(stamp):
        return None  # NaN is a gap; ±Inf cannot be drawn or compared
    return float(stamp), number


# --- analysis ------------------------------------------------------------------------------


def _median(values: List[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def jump(points: List[Tuple[float, float]], event: float, min_change: float = 0.0) -> Optional[Dict[str, float]]:
    """{"from": baseline median, "to": the most deviant value} when the series left its own
    baseline (the minutes before) in the RECENT seconds up to the event; else None."""
    baseline = [v for t, v in points if t < event - RECENT]
    recent = [v for t, v in points if event - RECENT <= t <= event + 1]
    if len(baseline) < MIN_BASELINE_POINTS or not recent:
        return None
    center = _median(baseline)
    sigma = 1.4826 * _median([abs(v - center) for v in baseline])
    extreme = max(recent, key=lambda v: abs(v - center))
    change = abs(extreme - center)
    threshold = max(JUMP_SIGMAS * sigma, JUMP_RELATIVE * abs(center), min_change, 1e-9)
    return {"from": center, "to": extreme} if change > threshold else None


def sparkline(points: List[Tuple[float, float]], start: float, end: float, event: float,
              width: int = SPARK_WIDTH) -> str:
    """One character per time slot (mean of its points, scaled min..max; blank: no data), with
    EVENT_MARK inserted at the event's slot."""
    span = max(end - start, 1e-9)
    slots: List[List[float]] = [[] for _ in range(width)]
    for t, v in points:
        if start <= t <= end:
            slots[min(width - 1, int((t - start) / span * width))].append(v)
    means = [sum(s) / len(s) if s else None for s in slots]
    known = [m for m in means if m is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    chars = []
    for m in means:
        if m is None:
            chars.append(" ")
        elif high - low <= 0:
            chars.append(SPARK[0])
        else:
            chars.append(SPARK[min(len(SPARK) - 1, int((m - low) / (high - low) * len(SPARK)))])
    mark = min(width, max(0, int(round((event - start) / span * width))))
    return "".join(chars[:mark]) + EVENT_MARK + "".join(chars[mark:])


def value_at(points: List[Tuple[float, float]], event: float, step: float) -> Optional[float]:
    """The last value at or just after the event time (within one step); None if none is near."""
    before = [(t, v) for t, v in points if t <= event + step / 2]
    if before and event - before[-1][0] <= 2 * step + 60:
        return before[-1][1]
    return None


def _labels_shown(series: List[Series]) -> List[str]:
    """Per series, only the labels that tell it apart from the query's other series."""
    if len(series) <= 1:
        return [""] * len(series)
    keys = sorted({k for s in series for k in s.labels if k != "__name__"})
    varying = [k for k in keys if len({s.labels.get(k) for s in series}) > 1]
    return [",".join("%s=%s" % (k, s.labels.get(k, "")) for k in varying)[:60] for s in series]


# --- the snapshot --------------------------------------------------------------------------


def window(event: Optional[float], now: float) -> Tuple[float, float, float, float]:
    """(start, end, event, step) for an event time (None or implausible: now)."""
    if event is None or not math.isfinite(event) or event > now + 300 or event < now - 7 * 86400:
        event = now
    start, end = event - BEFORE, min(now, event + MAX_AFTER)
    end = max(end, event)
    step = max(1.0, math.ceil((end - start) / MAX_POINTS))
    return start, end, event, step


def take(settings: Any, certname: str, event: Optional[float], now: Optional[float] = None,
         budget: float = BUDGET) -> Dict[str, Any]:
    """Runs every query of the settings for the node; never raises. A JSON-safe dict:
    {"status": "ok"|"failed", "reason", "start", "end", "event", "step", "rows": [...],
     "failed": [[name, reason]], "omitted": n}."""
    now = time.time() if now is None else now
    start, end, event, step = window(event, now)
    result: Dict[str, Any] = {"status": "ok", "reason": "", "start": start, "end": end, "event": event,
                              "step": step, "rows": [], "failed": [], "omitted": 0}
    deadline = time.monotonic() + budget
    try:
        queries = parse_queries(getattr(settings, "metrics_queries", None) or None)
        node_value = node_label_value(getattr(settings, "metrics_node_value", "{certname}") or "{certname}",
                                      certname)
        label = check_label(getattr(settings, "metrics_node_label", "instance"))
        client = PrometheusClient(settings.metrics_url, getattr(settings, "metrics_token", ""),
                                  getattr(settings, "metrics_user", ""), getattr(settings, "metrics_password", ""),
                                  getattr(settings, "metrics_ca_cert", ""), budget=budget)
    except (MetricsError, ValueError) as exc:
        return dict(result, status="failed", reason=_reason(exc))
    except Exception as exc:  # e.g. an unreadable CA: still only a line in the note
        return dict(result, status="failed", reason="the metrics settings cannot be used (%s)" % _reason(exc))
    with client:
        for query in queries:
            try:
                series = client.query_range(expand(query, label, node_value), start, end, step, deadline)
            except MetricsError as exc:
                result["failed"].append([query.name, _reason(exc)])
                if time.monotonic() >= deadline:
                    for rest in queries[queries.index(query) + 1:]:
                        result["failed"].append([rest.name, "not asked: the time budget was spent"])
                    break
                continue
            except Exception as exc:  # a bug or an odd transport error: one line, never a failed diagnosis
                logger.warning("autodiag.metrics.query-failed", exc_info=True)
                result["failed"].append([query.name, "failed (%s)" % type(exc).__name__])
                continue
            series = [s for s in series if s.points]
            shown = series[:MAX_ROWS_PER_QUERY]
            result["omitted"] += len(series) - len(shown)
            for s, labels in zip(shown, _labels_shown(shown)):
                values = [v for _, v in s.points]
                result["rows"].append({
                    "name": query.name, "labels": labels, "unit": query.unit,
                    "spark": sparkline(s.points, start, end, event),
                    "min": min(values), "max": max(values), "at_event": value_at(s.points, event, step),
                    "jump": jump(s.points, event, query.min_change),
                })
            if not series:
                result["failed"].append([query.name, NO_DATA])
        if not result["rows"] and result["failed"] and all(r == NO_DATA for _, r in result["failed"]):
            result["reason"] = why_no_data(client, label, node_value, start, end, step, deadline)
    if not result["rows"]:
        reasons = {reason for _, reason in result["failed"]}
        result["status"] = "failed"
        result["reason"] = result["reason"] or (reasons.pop() if len(reasons) == 1 else "; ".join(
            "%s: %s" % (name, reason) for name, reason in result["failed"][:3]))
    return result


def _utc(when: float, day: bool = True) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if day else "%H:%M:%S", time.gmtime(when))


def why_no_data(client: "PrometheusClient", label: str, node_value: str, start: float, end: float,
                step: float, deadline: float) -> str:
    """Why every query came back empty, in words an admin can act on: Prometheus has no
    sample of the node in the window at all (wrong label mapping, or not scraped), or only
    since a moment too recent for the queries (a Prometheus that has just started)."""
    span = "between %s and %s UTC" % (_utc(start), _utc(end, day=_utc(start)[:10] != _utc(end)[:10]))
    try:
        series = client.query_range(expand(Query("up", 'timestamp(up{{label}="{node}"})'), label, node_value),
                                     start, end, step, deadline)
    except Exception:  # the queries' own answers said "no data"; a failing extra question changes nothing
        return NO_DATA
    stamps = [v for s in series for _, v in s.points]
    if not stamps:
        return ('Prometheus has no samples of %s %s (no series with %s="%s": check the node label and node '
                "value settings, and that Prometheus scrapes the node)" % (node_value, span, label, node_value))
    first = min(stamps)
    if first > end - RECENT:
        return ("Prometheus has samples of %s only since %s UTC, too few for the queries (counters need two "
                "scrapes; a Prometheus that has just started fills in within a few scrape intervals)"
                % (node_value, _utc(first)))
    return ("Prometheus scrapes %s (samples since %s UTC) but no query found a series %s: check that the "
            "exporter answers (up) and the queries' metric names" % (node_value, _utc(first), span))


def failure(reason: str) -> Dict[str, Any]:
    """A snapshot that says only why there are no metrics."""
    return {"status": "failed", "reason": reason, "rows": [], "failed": [], "omitted": 0}


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def start_in_background(settings: Any, certname: str, event: Optional[float],
                        store: Callable[[Dict[str, Any]], None]) -> threading.Thread:
    """Takes the snapshot on a daemon thread and hands it to `store` (e.g. into Redis), so the
    Puppet job and the Prometheus queries run at the same time."""
    def run():
        try:
            snapshot = take(settings, certname, event)
        except Exception:  # take() does not raise; this guards the thread against a bug
            logger.warning("autodiag.metrics.failed", exc_info=True)
            snapshot = failure("the snapshot failed inside the plugin")
        try:
            store(snapshot)
        except Exception:
            logger.warning("autodiag.metrics.store-failed", exc_info=True)

    thread = threading.Thread(target=run, name="autodiag-metrics", daemon=True)
    thread.start()
    return thread


def event_seconds(since: Optional[str]) -> Optional[float]:
    """The flow's event time ('YYYY-MM-DDTHH:MM:SSZ', UTC) as unix seconds; None when absent or odd."""
    if not isinstance(since, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ")))
    except (ValueError, OverflowError):
        return None
