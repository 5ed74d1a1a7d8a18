"""The metrics snapshot: real series from a real Prometheus + node_exporter (Debian's packages),
hostile answers from a local server, and the analysis and rendering on their own."""
import gzip
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from net_helpers import unused_port
from prometheus_fixtures import NODE, NODE_INSTANCE, real_prometheus  # noqa: F401 (fixture)
from sentry_autodiag import promsnapshot as ps
from localorch import pki
from sentry_autodiag.report import NoteContext, metric_findings, render_metrics, render_report

SPARK_CHARS = set(ps.SPARK + ps.EVENT_MARK + " ")


def metrics_settings(url, **overrides):
    values = dict(metrics_url=url, metrics_token="", metrics_user="", metrics_password="", metrics_ca_cert="",
                  metrics_node_label="instance", metrics_node_value="{certname}", metrics_queries=None)
    values.update(overrides)
    return SimpleNamespace(**values)


def real_settings(prom, **overrides):
    values = dict(metrics_ca_cert=prom.ca_pem, metrics_user=prom.user, metrics_password=prom.password,
                  metrics_node_value=prom.node_value)
    values.update(overrides)
    return metrics_settings(prom.url, **values)


def rows_by_name(snapshot):
    return {row["name"]: row for row in snapshot["rows"]}


# --- a real Prometheus scraping a real node_exporter ------------------------------------------


class TestRealPrometheus:
    def test_default_queries_read_the_nodes_real_series(self, real_prometheus):
        now = time.time()
        snapshot = ps.take(real_settings(real_prometheus), NODE, now - 2)
        assert snapshot["status"] == "ok", snapshot
        rows = rows_by_name(snapshot)
        # what node_exporter exposes everywhere (a container may lack disks or swap)
        for name in ("cpu_busy", "load1", "mem_available", "fs_free", "tcp_retrans"):
            assert name in rows, (name, snapshot["failed"])
        for row in rows.values():
            assert set(row["spark"]) <= SPARK_CHARS and row["spark"].count(ps.EVENT_MARK) == 1
            assert row["min"] <= row["max"]
            if row["at_event"] is not None:
                assert row["min"] <= row["at_event"] <= row["max"]
        with open("/proc/meminfo") as fh:
            kernel = int(re.search(r"MemAvailable:\s+(\d+) kB", fh.read()).group(1)) * 1024
        assert 0.5 * kernel < rows["mem_available"]["at_event"] < 2 * kernel
        assert 0 <= rows["cpu_busy"]["max"] <= 100 and 0 < rows["fs_free"]["at_event"] <= 100
        # the series started with the scrapes: the sparkline is blank before them, drawn after
        spark = rows["load1"]["spark"].split(ps.EVENT_MARK)[0]
        assert spark.startswith(" ") and spark.rstrip()[-1] in ps.SPARK

    def test_a_node_prometheus_does_not_know_gives_one_reason(self, real_prometheus):
        snapshot = ps.take(real_settings(real_prometheus), "web99.example.com", time.time())
        assert snapshot["status"] == "failed"
        assert snapshot["reason"].startswith("Prometheus has no samples of web99.example.com:9100 between ")
        assert all(reason == "no data for this node" for _, reason in snapshot["failed"])

    def test_the_label_mapping_selects_the_series(self, real_prometheus):
        unmapped = ps.take(real_settings(real_prometheus, metrics_node_value="{certname}"), NODE, time.time())
        assert unmapped["status"] == "failed"
        by_label = ps.take(real_settings(real_prometheus, metrics_node_label="job", metrics_node_value="node"),
                           "node.example.com", time.time())
        assert "load1" in rows_by_name(by_label)

    def test_tls_is_verified_against_the_configured_ca_only(self, real_prometheus):
        other_ca = pki.generate(("127.0.0.1",), ca_name="Some other CA").ca_pem
        snapshot = ps.take(real_settings(real_prometheus, metrics_ca_cert=other_ca), NODE, time.time())
        assert snapshot["status"] == "failed" and "TLS certificate does not verify" in snapshot["reason"]
        # no CA configured: the system's trust store, which does not know this CA either
        snapshot = ps.take(real_settings(real_prometheus, metrics_ca_cert=""), NODE, time.time())
        assert snapshot["status"] == "failed" and "TLS" in snapshot["reason"]

    def test_basic_auth_is_required_and_sent(self, real_prometheus):
        snapshot = ps.take(real_settings(real_prometheus, metrics_password="wrong"), NODE, time.time())
        assert snapshot["status"] == "failed" and snapshot["reason"].startswith("HTTP 401")

    def test_label_values_are_escaped_in_promql(self, real_prometheus):
        query = ps.Query("probe", 'node_load1{instance="{node}"}')
        deadline = time.monotonic() + 5
        with ps.PrometheusClient(real_prometheus.url, user=real_prometheus.user,
                                 password=real_prometheus.password, ca_pem=real_prometheus.ca_pem) as client:
            now = time.time()
            # an injection attempt: unescaped it would close the matcher and add a series of its own
            hostile = 'x"} or vector(1) or node_load1{instance="'
            assert client.query_range(ps.expand(query, "instance", hostile), now - 60, now, 5, deadline) == []
            # the escaped real value still matches exactly
            series = client.query_range(ps.expand(query, "instance", NODE_INSTANCE), now - 60, now, 5, deadline)
            assert len(series) == 1 and series[0].labels["instance"] == NODE_INSTANCE
            regex = ps.Query("probe", 'node_load1{instance=~"{node_re}"}')
            assert len(client.query_range(ps.expand(regex, "instance", NODE_INSTANCE), now - 60, now, 5,
                                          deadline)) == 1
            assert client.query_range(ps.expand(regex, "instance", "web01.example.com.9100"), now - 60, now, 5,
                                      deadline) == []  # the dot of the value is literal, not "any character"


# --- hostile answers ----------------------------------------------------------------------------


class Hostile:
    """A local HTTP server answering query_range as told by `mode`; records the queries."""

    def __init__(self):
        self.mode = "ok"
        self.queries = []
        self.series = None
        self.up_series = None       # the answer to why_no_data's question, when set
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.queries.append(parse_qs(urlsplit(self.path).query))
                owner.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", unused_port()), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def send(self, handler, status, body, headers=()):
        handler.send_response(status)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:
            pass

    def answer(self, h):
        mode = self.mode
        matrix = lambda result: json.dumps({"status": "success", "data": {"resultType": "matrix",  # noqa: E731
                                                                         "result": result}}).encode()
        if mode == "ok":
            asked = self.queries[-1].get("query", [""])[0]
            if asked.startswith("timestamp(up{") and self.up_series is not None:
                self.send(h, 200, matrix(self.up_series))
            else:
                self.send(h, 200, matrix(self.series or []))
        elif mode == "huge":
            self.send(h, 200, b'{"status":"success","data":{"resultType":"matrix","result":[' + b" " * (3 << 20)
                      + b"]}}")
        elif mode == "nan":
            now = time.time()
            values = [[now - 300 + i * 10, v] for i, v in enumerate(["NaN", "+Inf", "-Inf", "1", "2", "NaN", "3"])]
            self.send(h, 200, matrix([{"metric": {"instance": "x"}, "values": values}]))
        elif mode == "slow":
            time.sleep(4)
            self.send(h, 200, matrix([]))
        elif mode == "drip":
            h.send_response(200)
            h.send_header("Content-Length", "100000")
            h.end_headers()
            try:
                for _ in range(40):
                    h.wfile.write(b" ")
                    h.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif mode == "500":
            self.send(h, 500, json.dumps({"status": "error", "errorType": "internal",
                                          "error": "out of memory `boom` [x](http://evil)"}).encode())
        elif mode == "500html":
            self.send(h, 500, b"<html><body>Bad gateway</body></html>")
        elif mode == "notjson":
            self.send(h, 200, b"<html>login page</html>")
        elif mode == "deep":
            self.send(h, 200, b"[" * 100000 + b"]" * 100000)
        elif mode == "wrongtypes":
            self.send(h, 200, json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
                "nope", {"metric": [], "values": "x"}, {"metric": {"a": 1}, "values": [[1, 2], [time.time() - 60, "2"], ["t", "1"], [1.5],
                                                                                        [True, "1"], None]}]}}).encode())
        elif mode == "vector":
            self.send(h, 200, json.dumps({"status": "success", "data": {"resultType": "vector",
                                                                        "result": []}}).encode())
        elif mode == "gzip":
            self.send(h, 200, gzip.compress(matrix([])), headers=[("Content-Encoding", "gzip")])


@pytest.fixture
def hostile():
    server = Hostile()
    yield server
    server.close()


ONE_QUERY = {"load1": 'node_load1{instance="{node}"}'}


def take_from(server, budget=2.0, **overrides):
    overrides.setdefault("metrics_queries", ps.parse_queries(json.dumps(ONE_QUERY)))
    return ps.take(metrics_settings(server.url, **overrides), NODE, time.time() - 5, budget=budget)


@pytest.mark.parametrize("mode, reason", [
    ("huge", "larger than 2 MiB"),
    ("500", "HTTP 500, internal: out of memory"),
    ("500html", "HTTP 500"),
    ("notjson", "not JSON"),
    ("deep", "not JSON"),
    ("vector", "not a range of series"),
    ("gzip", "compressed"),
])
def test_hostile_answers_end_as_one_reason(hostile, mode, reason):
    hostile.mode = mode
    snapshot = take_from(hostile)
    assert snapshot["status"] == "failed" and reason in snapshot["reason"], snapshot
    assert snapshot["rows"] == []


@pytest.mark.parametrize("mode", ["slow", "drip"])
def test_slow_answers_are_cut_at_the_budget(hostile, mode):
    hostile.mode = mode
    began = time.monotonic()
    snapshot = take_from(hostile, budget=1.0,
                         metrics_queries=ps.parse_queries(json.dumps(dict(ONE_QUERY, other=ONE_QUERY["load1"]))))
    assert time.monotonic() - began < 3.5  # the budget (1 s) and one connect, not the server's 4 s
    assert snapshot["status"] == "failed"
    assert "within 1 s" in snapshot["failed"][0][1] and "not asked" in snapshot["failed"][1][1]


def test_nan_and_inf_are_gaps_not_values(hostile):
    hostile.mode = "nan"
    snapshot = take_from(hostile)
    (row,) = snapshot["rows"]
    assert (row["min"], row["max"]) == (1.0, 3.0)
    json.dumps(snapshot, allow_nan=False)  # nothing non-finite left to store or render


def test_wrong_types_are_skipped(hostile):
    hostile.mode = "wrongtypes"
    snapshot = take_from(hostile)
    (row,) = snapshot["rows"]  # the one readable point of the one readable series
    assert row["min"] == row["max"] == 2.0


def test_queries_carry_the_escaped_node_and_the_window(hostile):
    hostile.series = []
    snapshot = ps.take(metrics_settings(hostile.url, metrics_node_value="{short}:9100",
                                        metrics_queries=ps.parse_queries(json.dumps(ONE_QUERY))),
                       NODE, 1_700_000_000.0, now=1_700_000_030.0)
    query, why = hostile.queries
    assert query["query"] == ['node_load1{instance="web01:9100"}']
    assert float(query["start"][0]) == 1_700_000_000 - 15 * 60 and float(query["end"][0]) == 1_700_000_030
    assert int(query["step"][0]) == 8  # about MAX_POINTS points over the range
    # nothing at all: the note says precisely what Prometheus lacks, over which window
    assert why["query"] == ['timestamp(up{instance="web01:9100"})'] and why["start"] == query["start"]
    assert snapshot["reason"] == ('Prometheus has no samples of web01:9100 between 2023-11-14 21:58:20 and '
                                  '22:13:50 UTC (no series with instance="web01:9100": check the node label and '
                                  'node value settings, and that Prometheus scrapes the node)')
    assert snapshot["failed"] == [["load1", "no data for this node"]]


def test_a_prometheus_that_just_started_is_named_as_the_reason(hostile):
    """The demo's first run: Prometheus scrapes the node since seconds ago, too few for the queries."""
    hostile.series = []
    now = 1_700_000_030.0
    first = now - 20
    hostile.up_series = [{"metric": {"instance": "web01:9100"}, "values": [[first + 8, str(first)], [now, str(first + 5)]]}]
    snapshot = ps.take(metrics_settings(hostile.url, metrics_node_value="{short}:9100",
                                        metrics_queries=ps.parse_queries(json.dumps(ONE_QUERY))),
                       NODE, now - 10, now=now)
    assert snapshot["status"] == "failed"
    assert snapshot["reason"].startswith("Prometheus has samples of web01:9100 only since 2023-11-14 22:13:30 UTC, "
                                         "too few for the queries")
    hostile.up_series = [{"metric": {"instance": "web01:9100"}, "values": [[now - 600, str(now - 605)]]}]
    snapshot = ps.take(metrics_settings(hostile.url, metrics_node_value="{short}:9100",
                                        metrics_queries=ps.parse_queries(json.dumps(ONE_QUERY))),
                       NODE, now - 10, now=now)
    assert snapshot["reason"].startswith("Prometheus scrapes web01:9100 (samples since 2023-11-14 22:03:45 UTC) "
                                         "but no query found a series between ")


def test_many_series_are_bounded(hostile):
    now = time.time()
    hostile.series = [{"metric": {"device": "sd%d" % i}, "values": [[now - 60, "1"], [now - 30, "2"]]}
                      for i in range(500)]
    snapshot = take_from(hostile)
    assert len(snapshot["rows"]) == ps.MAX_ROWS_PER_QUERY
    assert snapshot["omitted"] == ps.MAX_SERIES_READ - ps.MAX_ROWS_PER_QUERY
    assert [r["labels"] for r in snapshot["rows"]] == ["device=sd0", "device=sd1", "device=sd2", "device=sd3"]


def test_credentials_are_never_sent_over_http(hostile):
    snapshot = take_from(hostile, metrics_password="secret", metrics_user="u")
    assert snapshot["status"] == "failed" and "only sent over https" in snapshot["reason"]
    assert hostile.queries == []


def test_an_unreachable_prometheus_is_one_line():
    snapshot = ps.take(metrics_settings("http://127.0.0.1:%d" % unused_port()), NODE, time.time())
    assert snapshot["status"] == "failed" and snapshot["reason"].startswith("unreachable")


# --- analysis ------------------------------------------------------------------------------------

EVENT = 10_000.0


def series(values, step=10.0, end=EVENT):
    return [(end - step * (len(values) - 1 - i), float(v)) for i, v in enumerate(values)]


def test_a_jump_just_before_the_event_is_found():
    points = series([10, 11, 9, 10, 10, 11, 10, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 60, 95])
    assert ps.jump(points, EVENT) == {"from": 10.0, "to": 95.0}


def test_a_drop_counts_too_and_noise_does_not():
    falling = series([800, 810, 790, 805, 800, 795, 800, 810, 805, 800] * 2 + [800] * 10 + [100])
    assert ps.jump(falling, EVENT)["to"] == 100.0
    noisy = series([10, 40, 5, 35, 12, 38, 8, 30, 15, 40] * 3 + [39])
    assert ps.jump(noisy, EVENT) is None
    assert ps.jump(noisy[:-1] + [(EVENT, 140.0)], EVENT) is not None  # the same noise, then a real jump


def test_a_jump_needs_a_baseline_and_its_minimum_change():
    assert ps.jump(series([1, 1, 50]), EVENT) is None  # 3 points: no baseline to judge against
    flat = series([0] * 20 + [0.5])
    assert ps.jump(flat, EVENT) == {"from": 0.0, "to": 0.5}
    assert ps.jump(flat, EVENT, min_change=1) is None


def test_a_jump_after_the_event_is_not_a_cause():
    points = series([10] * 20 + [90, 95], end=EVENT + 20)
    assert ps.jump(points, EVENT) is None


def test_sparkline_scales_marks_the_event_and_shows_gaps():
    points = [(float(t), float(t)) for t in range(0, 50)] + [(float(t), 100.0) for t in range(80, 100)]
    # 10 slots of 10 s: means 4.5, 14.5, … 44.5, three empty slots, then 100; the event at 75 s
    assert ps.sparkline(points, 0, 100, 75, width=10) == "▁▁▂▃▄   " + ps.EVENT_MARK + "██"
    assert ps.sparkline([(1.0, 5.0), (6.0, 5.0)], 0, 10, 10, width=4) == "▁ ▁ " + ps.EVENT_MARK


def test_value_at_the_event_is_the_last_sample_not_after_it():
    points = [(0.0, 1.0), (10.0, 2.0), (20.0, 3.0), (30.0, 4.0)]
    assert ps.value_at(points, 21.0, 10.0) == 3.0
    assert ps.value_at(points, 500.0, 10.0) is None  # no sample near the event


def test_implausible_event_times_fall_back_to_now():
    start, end, event, step = ps.window(1e12, 1_700_000_000.0)
    assert event == 1_700_000_000.0 and start == event - 900 and end == event
    start, end, event, step = ps.window(1_699_999_000.0, 1_700_000_000.0)
    assert (start, end, step) == (1_699_999_000.0 - 900, 1_700_000_000.0, 16)  # ceil(1900 s / 120 points)


def test_promql_string_escapes_everything_that_could_end_the_literal():
    assert ps.promql_string('a"b\\c\nd\'e\x01') == 'a\\"b\\\\c\\nd\\\'e\\x01'
    query = ps.Query("q", 'up{instance=~"{node_re}",job="{node}"}')
    assert ps.expand(query, "instance", "w.1") == 'up{instance=~"w\\\\.1",job="w.1"}'


@pytest.mark.parametrize("text, message", [
    ("load1: node_load1", "select the node with {node}"),
    ("load1: {query: 'up{i=\"{node}\"}', unit: furlongs}", "unit: one of"),
    ("Load: 'up{i=\"{node}\"}'", "a name holds lower-case"),
    ("a: &x 'up{i=\"{node}\"}'\nb: *x", "aliases"),
    ("- up", "mapping of names"),
    ("a: 'up{i=\"{node}\"}' # " + "x" * 30000, "longer than"),
    ("a: {query: 'up{i=\"{node}\"}', min_change: -1}", "min_change"),
])
def test_query_settings_are_validated(text, message):
    with pytest.raises(ValueError) as raised:
        ps.parse_queries(text)
    assert message in str(raised.value)


def test_query_settings_keep_order_and_options():
    queries = ps.parse_queries('{"b": "up{i=\\"{node}\\"}", "a": {"query": "x{i=~\\"{node_re}\\"}", '
                               '"unit": "bytes", "min_change": 5}}')
    assert [(q.name, q.unit, q.min_change) for q in queries] == [("b", "", 0.0), ("a", "bytes", 5.0)]
    assert ps.parse_queries("") == ps.DEFAULT_QUERIES


@pytest.mark.parametrize("value", ["ftp://p", "https://user:pw@p.example.com", "https://p/?q=1", "http://",
                                   "https://p.example.com:99999", "https://p\n.example.com"])
def test_prometheus_urls_are_validated(value):
    with pytest.raises(ValueError):
        ps.check_url(value)


# --- rendering -----------------------------------------------------------------------------------


def snapshot_with(rows, **extra):
    base = {"status": "ok", "reason": "", "rows": rows, "failed": [], "omitted": 0}
    base.update(extra)
    return base


ROW = {"name": "cpu_busy", "labels": "", "unit": "percent", "spark": "▁▁▂" + ps.EVENT_MARK + "█", "min": 1.25,
       "max": 97.0, "at_event": 96.5, "jump": {"from": 2.0, "to": 96.5}}


def test_the_table_shows_sparkline_range_and_value_at_the_event():
    lines, block = render_metrics(snapshot_with([ROW, dict(ROW, name="mem_available", unit="bytes", jump=None,
                                                            min=1 << 30, max=3 << 30, at_event=2.5 * (1 << 30))]))
    assert lines == []
    assert "▁▁▂┃█" in block and "1.2%" in block and "97.0%" in block and "96.5% ⚠" in block
    assert "1.0 GiB" in block and "3.0 GiB" in block and "2.5 GiB" in block
    (finding,) = metric_findings(snapshot_with([ROW]))
    assert "`metric-jump`" in finding and "cpu\\_busy rose from about 2\\.0% to 96\\.5%" in finding


def test_hostile_label_values_stay_inside_the_block():
    row = dict(ROW, labels="device=`````\n# [x](http://evil) <b>", jump=None)
    _, block = render_metrics(snapshot_with([row, dict(row, labels="device=sda")],
                                            failed=[["evil`name", "[x](http://evil)"]]))
    title, fence_and_body = block.split("\n", 1)
    fence = re.match(r"`+", fence_and_body).group(0)
    assert len(fence) > 5 and fence_and_body.rstrip().endswith(fence)
    assert "](http" not in title.replace("\\]\\(http", "")  # the failure text outside the block is escaped


def test_a_failed_snapshot_is_one_line_in_every_note():
    failed = ps.failure("no answer within 10 s")
    ctx = NoteContext("web01.example.com", "diagnostics::collect", "production", "7", "finished", 1.0,
                      metrics=failed)
    note = render_report(ctx, report={"sections": [], "findings": []})
    assert note.count("**Metrics**") == 1 and "no answer within 10 s" in note
    ok = render_report(ctx._replace(metrics=snapshot_with([ROW])),
                       report={"sections": [{"title": "Host", "body": "x"}], "findings": [
                           {"severity": "critical", "code": "oom", "message": "OOM kill"}]})
    findings = ok.split("**Findings**")[1].split("\n\n")[0]
    assert "`oom`" in findings and "`metric-jump`" in findings  # next to the node's own findings
    assert ok.index("**Metrics**") < ok.index("**Host**")


def test_notes_without_a_report_show_the_metrics_too():
    from sentry_autodiag.diagnosis import note_for_timeout

    ctx = NoteContext("web01.example.com", "diagnostics::collect", "production", "7", metrics=snapshot_with([ROW]))
    note = note_for_timeout(ctx, 120, True)
    assert "timed out" in note and "**Metrics** (Prometheus" in note and "`metric-jump`" in note


def test_stored_settings_that_no_longer_parse_fall_back_to_the_defaults():
    from sentry_autodiag import settings as settings_mod

    loaded = settings_mod.load({"metrics_queries": "load1: no placeholder", "metrics_url": "https://p:9090"}.get)
    assert loaded.metrics_queries == ps.DEFAULT_QUERIES and loaded.metrics_url == "https://p:9090"
    assert settings_mod.load({}.get).metrics_url == ""  # metrics are off unless a URL is set
