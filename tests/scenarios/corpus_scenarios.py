"""The incidents and healthy baselines of the corpus, as changes to a healthy node model.

Each builder takes the node model of build_corpus.healthy(), changes what the incident
changes, and returns the manifest: what it is, the cause code(s) that must be flagged at
(at least) a severity, and codes that must not be raised as warning/critical. Offsets
are seconds relative to the event time (negative = before). Message texts are the real
ones of the kernel, libc, JVM, CPython, Node, Go, nginx, PostgreSQL and friends.
"""
from collections import OrderedDict

from build_corpus import DAY, EV, errors, java_line, traffic

SCENARIOS = OrderedDict()


def scenario(fn):
    SCENARIOS[fn.__name__.replace("_", "-")] = fn
    return fn


def expect(*pairs):
    return [{"code": c, "severity": s} for c, s in pairs]


JAVA_PG_REFUSED = [
    "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)",
    "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:262)",
    "\tat com.zaxxer.hikari.pool.HikariPool.createPoolEntry(HikariPool.java:476)",
]


# --- memory -----------------------------------------------------------------------------

@scenario
def oom_kill_java(n):
    n["dmesg"] = [
        (-14, "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0"),
        (-14, "CPU: 2 PID: 2231 Comm: java Not tainted 6.1.0-27-amd64 #1  Debian 6.1.115-1"),
        (-14, "Mem-Info:"),
        (-14, "active_anon:3911203 inactive_anon:12033 isolated_anon:0"),
        (-14, "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/orders-api.service,task=java,pid=2210,uid=998"),
        (-14, "Out of memory: Killed process 2210 (java) total-vm:16210044kB, anon-rss:15123300kB, file-rss:0kB, shmem-rss:0kB, UID:998 pgtables:30420kB oom_score_adj:0"),
        (-13, "oom_reaper: reaped process 2210 (java), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"),
    ]
    n["oom_kill"] = 1
    n["mem_avail"] = 11800 * 1024
    n["units"][1].update(NRestarts=1, enter=-8)
    n["applog"] = traffic("java", -900, -15) + [
        (EV - 6, java_line(EV - 6, "INFO", "c.e.orders.Application", "Starting Application v4.12.3 using Java 17.0.12 with PID 4410", "main")),
        (EV - 1, java_line(EV - 1, "INFO", "c.e.orders.Application", "Started Application in 7.1 seconds", "main"))]
    return {"description": "The kernel OOM killer killed the Java service 14 s before the error; systemd restarted it.",
            "expect": expect(("oom-kill", "critical"))}


@scenario
def oom_memory_cgroup_worker(n):
    n["app"] = "python"
    n["dmesg"] = [
        (-40, "python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"),
        (-40, "memory: usage 2097152kB, limit 2097152kB, failcnt 8123"),
        (-40, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/celery-worker.service,task_memcg=/system.slice/celery-worker.service,task=python3,pid=5120,uid=999"),
        (-40, "Memory cgroup out of memory: Killed process 5120 (python3) total-vm:2412044kB, anon-rss:2081220kB, file-rss:8120kB, shmem-rss:0kB, UID:999 pgtables:4420kB oom_score_adj:0"),
    ]
    n["applog"] = traffic("python", -900, 60) + [
        (EV - 2, "2026-11-21 03:12:43,211 ERROR [celery.worker.request] Task orders.tasks.export[7c1e4f3a-1d2b-4c5e-8f90-a1b2c3d4e5f6] raised unexpected: WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL) Job: 412.')")]
    return {"description": "A Celery worker hit its systemd MemoryMax and the memory cgroup OOM killer killed it.",
            "expect": expect(("oom-kill", "critical"))}


@scenario
def oom_in_kern_log_dmesg_denied(n):
    n["dmesg_denied"] = True
    n["kern_log"] = [(-3 * 3600, "EXT4-fs (sdb1): re-mounted. Opts: (null). Quota mode: none."),
                     (-21, "python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0"),
                     (-21, "Out of memory: Killed process 3301 (python3) total-vm:9123312kB, anon-rss:8812331kB, file-rss:1204kB, shmem-rss:0kB, UID:998 pgtables:17620kB oom_score_adj:0")]
    n["app"] = "python"
    n["applog"] = traffic("python", -900, -22) + [(EV - 1, "2026-11-21 03:12:44,019 ERROR [gunicorn.error] Worker (pid:3301) was sent SIGKILL! Perhaps out of memory?")]
    return {"description": "The task may not read the kernel ring buffer (dmesg_restrict, no journal); the OOM kill is in /var/log/kern.log.",
            "expect": expect(("oom-kill", "critical"))}


@scenario
def swap_storm(n):
    n["mem_avail"] = 310 * 1024
    n["mem_free"] = 90 * 1024
    n["swap_free"] = 260 * 1024
    n["vm_delta"] = {"pswpin": 5120, "pswpout": 7300, "pgmajfault": 9800}
    n["psi"]["memory"] = (71.3, 48.2)
    n["psi"]["io"] = (38.0, 20.1)
    n["load"] = (14.2, 9.8, 5.1)
    n["procs_blocked"] = 9
    n["applog"] = traffic("java", -900, 60, 20) + errors("java", range(-90, 20, 6), "Request processing failed: java.net.SocketTimeoutException: Read timed out",
                                                       "o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]")
    return {"description": "Memory overcommitted: the node swaps ~12 000 pages/s, everything stalls, requests time out.",
            "expect": expect(("swap-storm", "critical"))}


@scenario
def memory_pressure_page_cache_thrash(n):
    n["swap_total"] = 0
    n["swap_free"] = 0
    n["mem_avail"] = 420 * 1024
    n["cached"] = 380 * 1024
    n["vm_delta"] = {"pgmajfault": 14200}
    n["psi"]["memory"] = (62.1, 31.4)
    n["psi"]["io"] = (55.0, 30.2)
    n["disks"]["sda"] = {"util": 97, "iops": 4100, "await": 22.0, "queue": 31}
    n["applog"] = traffic("java", -900, 60, 15)
    return {"description": "No swap; the working set no longer fits and file pages are re-read constantly (memory PSI full 31 %).",
            "expect": expect(("memory-pressure", "critical"))}


@scenario
def java_heap_oom(n):
    trace = ["java.lang.OutOfMemoryError: Java heap space",
             "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
             "\tat com.fasterxml.jackson.core.util.ByteArrayBuilder.toByteArray(ByteArrayBuilder.java:118)",
             "\tat c.e.orders.export.CsvExporter.export(CsvExporter.java:88)"]
    n["applog"] = traffic("java", -900, 60) + errors("java", [-44, -31, -12, -3, 0], "Handler dispatch failed; nested exception is java.lang.OutOfMemoryError: Java heap space",
                                                    "o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]", trace)
    return {"description": "The JVM ran out of heap (-Xmx) during a CSV export; the kernel is fine.",
            "expect": expect(("app-out-of-memory", "critical")), "forbid": ["oom-kill"]}


@scenario
def node_heap_oom_restart_loop(n):
    n["app"] = "node"
    n["units"][1].update(NRestarts=6, enter=-20, SubState="running")
    fatal = ["<--- Last few GCs --->", "[2210:0x6b1c2a0]   812331 ms: Mark-Compact 4041.2 (4130.1) -> 4039.9 (4131.6) MB, 2311.2 / 0.0 ms  (average mu = 0.112, current mu = 0.021) allocation failure; scavenge might not succeed",
             "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
             " 1: 0xb8a2a0 node::Abort() [/usr/bin/node]"]
    lines = traffic("node", -900, 60)
    for off in (-300, -200, -110, -21):
        lines += [(EV + off, f) for f in fatal]
    n["applog"] = lines
    return {"description": "A Node.js service exceeds --max-old-space-size, aborts and is restarted by systemd again and again.",
            "expect": expect(("app-out-of-memory", "critical"), ("unit-restarting", "warning"))}


@scenario
def go_runtime_oom(n):
    n["app"] = "go"
    n["ps"][7] = (2210, "app", "Ssl", 3911000, 5210000, 61.0, "futex_wait_queue", "inventory-svc")
    n["applog"] = traffic("go", -900, -2) + [
        (EV - 1, "fatal error: runtime: out of memory"), (EV - 1, ""),
        (EV - 1, "runtime stack:"), (EV - 1, "runtime.throw({0x1a2b3c4, 0x16})"),
        (EV - 1, "\t/usr/local/go/src/runtime/panic.go:1047 +0x5d fp=0x7ffd5c1e2f00 sp=0x7ffd5c1e2ed0 pc=0x439f1d")]
    return {"description": "The Go service could not mmap more heap (container/ulimit -v) and died with runtime: out of memory.",
            "expect": expect(("app-out-of-memory", "critical"))}


@scenario
def systemd_oomd_kill(n):
    n["psi"]["memory"] = (38.0, 12.0)
    n["journal"] = [
        (-25, "systemd-oomd[611]: Considered 12 cgroups for killing, top candidates were:"),
        (-25, "systemd-oomd[611]: Killed /system.slice/orders-api.service due to memory pressure for /system.slice being 63.12% > 60.00% for > 20s with reclaim activity"),
        (-25, "systemd[1]: orders-api.service: systemd-oomd killed 214 process(es) in this unit."),
        (-24, "systemd[1]: orders-api.service: Failed with result 'oom-kill'."),
        (-14, "systemd[1]: orders-api.service: Scheduled restart job, restart counter is at 1."),
    ]
    n["applog"] = traffic("java", -900, -26) + traffic("java", -10, 60)
    return {"description": "systemd-oomd (userspace, invisible in dmesg) killed the service under memory pressure.",
            "expect": expect(("oom-kill", "critical"))}


@scenario
def coredump_loop_journal(n):
    n["app"] = "python"
    n["journal"] = [(-300 + 40 * i, m) for i in range(6) for m in (
        "systemd[1]: image-resizer.service: Main process exited, code=dumped, status=11/SEGV",
        "systemd[1]: image-resizer.service: Failed with result 'core-dump'.",
        "systemd-coredump[%d]: Process %d (python3) of user 998 dumped core." % (7100 + i, 7000 + i))]
    return {"description": "A native extension crashes the image resizer again and again; only the journal has the core dumps.",
            "expect": expect(("segfault", "critical"))}


@scenario
def reboot_fixture_uptime_only(n):
    # A snapshot whose /proc/stat btime is stale: only /proc/uptime says "booted 3 min ago".
    n["uptime"] = 200
    n["stale_btime"] = True
    n["applog"] = traffic("java", -900, -210) + traffic("java", -150, 60)
    return {"description": "Unexpected reboot (watchdog) 3 minutes before; /proc/stat and /proc/uptime disagree as in a copied snapshot.",
            "expect": expect(("recent-reboot", "critical"))}


# --- CPU ----------------------------------------------------------------------------------

@scenario
def noisy_neighbour_steal(n):
    n["cpu"] = {"user": 41, "system": 9, "iowait": 0, "steal": 38}
    n["load"] = (7.9, 6.1, 4.0)
    n["psi"]["cpu"] = (44.0, 0.0)
    n["applog"] = traffic("java", -900, 60, 10) + errors("java", range(-120, 30, 9), "Timeout waiting for upstream: java.util.concurrent.TimeoutException: Did not observe any item or terminal signal within 2000ms in 'circuitBreaker'",
                                                        "c.e.orders.client.PricingClient")
    return {"description": "The hypervisor gives this VM's vCPUs to other tenants: 38 % steal, latency up, timeouts.",
            "expect": expect(("cpu-steal", "critical"))}


@scenario
def steal_from_a_static_snapshot(n):
    # /proc/stat copied once (no second sample): only the shares since boot are left.
    n["static_stat"] = True
    n["boot_counters"] = [3012331, 1203, 801233, 2012331, 20210, 0, 9033, 3123311]
    n["psi"]["cpu"] = (31.0, 0.0)
    n["applog"] = traffic("java", -900, 60, 10) + errors("java", range(-120, 30, 9), "Request processing failed: java.net.SocketTimeoutException: Read timed out", "o.a.c.c.C.[.[localhost]")
    return {"description": "Noisy neighbour seen through a one-shot /proc/stat: 35 % of CPU time since boot was stolen.",
            "expect": expect(("cpu-steal", "critical"))}


@scenario
def cpu_runaway_saturation(n):
    n["cpu"] = {"user": 93, "system": 6, "iowait": 0, "steal": 0}
    n["procs_running"] = 27
    n["load"] = (26.4, 21.0, 12.2)
    n["psi"]["cpu"] = (88.1, 0.0)
    n["ps"].append((7781, "app", "R", 812000, 2100000, 388.0, "-", "ffmpeg"))
    n["applog"] = traffic("java", -900, 60, 10) + errors("java", range(-60, 30, 5), "Request processing failed: java.net.SocketTimeoutException: Read timed out",
                                                        "c.e.orders.client.CatalogClient")
    return {"description": "A runaway transcoding job saturates all CPUs; requests queue and time out.",
            "expect": expect(("cpu-saturated", "critical"))}


# --- file descriptors and processes ------------------------------------------------------

@scenario
def fd_limit_process(n):
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-50, 10, 4), "Socket accept failed: java.io.IOException: Too many open files",
                                                    "o.apache.tomcat.util.net.Acceptor", ["\tat java.base/sun.nio.ch.Net.accept(Native Method)"])
    return {"description": "The service leaks sockets and reaches its own RLIMIT_NOFILE (1024); the system table is fine.",
            "fd_hog": {"count": 1015, "limit": 1024},
            "expect": expect(("app-too-many-open-files", "critical"), ("fd-limit", "critical"))}


@scenario
def fd_exhausted_system(n):
    n["app"] = "node"
    n["file_nr"] = (1631200, 1632048)
    n["applog"] = traffic("node", -900, 60) + errors("node", range(-30, 10, 3), "Error: EMFILE: too many open files, open '/srv/app/uploads/tmp-{n}'")
    return {"description": "fs.file-max reached by a leaking sidecar: every process gets EMFILE.",
            "expect": expect(("fd-exhausted", "critical"), ("app-too-many-open-files", "critical"))}


@scenario
def pid_exhaustion_threads(n):
    n["threads"] = 126100
    n["load"] = (9.1, 8.7, 7.9)
    n["applog"] = traffic("java", -900, 60) + errors("java", [-40, -22, -9, -1], "Failed to start thread \"Unknown thread\" - pthread_create failed (EAGAIN) for attributes: stacksize: 1024k",
                                                    "c.e.orders.async.Executor", ["java.lang.OutOfMemoryError: unable to create native thread: possibly out of memory or process/resource limits reached"])
    return {"description": "A thread leak fills kernel.threads-max; pthread_create fails with EAGAIN.",
            "expect": expect(("pid-exhausted", "critical"), ("app-process-limit", "critical")), "forbid": ["oom-kill"]}


# --- network ------------------------------------------------------------------------------

@scenario
def syn_backlog_overflow(n):
    n["app"] = "nginx"
    n["log_path"] = "/var/log/nginx/error.log"
    n["netstat_delta"] = {"ListenOverflows": 4112, "ListenDrops": 4112}
    n["listen"][4] = ("*:8080", 101, 100, "java", 2210)
    n["dmesg"] = [(-95, "TCP: request_sock_TCP: Possible SYN flooding on port *:8080. Sending cookies.  Check SNMP counters.")]
    n["applog"] = errors("nginx-error", range(-80, 20, 2), 'upstream timed out (110: Connection timed out) while connecting to upstream, client: 10.0.3.{n}, server: api.example.com, request: "GET /api/orders HTTP/1.1", upstream: "http://127.0.0.1:8080/api/orders", host: "api.example.com"')
    return {"description": "The Java service accepts too slowly: its accept queue (backlog 100) is full, the kernel drops SYNs.",
            "expect": expect(("listen-overflow", "critical"))}


@scenario
def conntrack_table_full(n):
    n["conntrack"] = (262144, 262144)
    n["dmesg"] = [(-200 + 10 * i, "nf_conntrack: nf_conntrack: table full, dropping packet") for i in range(20)]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-180, 20, 12), "I/O error on POST request for \"https://payments.example.net/v2/charge\": Connect to payments.example.net:443 [payments.example.net/203.0.113.40] failed: Connect timed out",
                                                    "c.e.orders.client.PaymentsClient")
    return {"description": "A traffic spike fills the conntrack table; new flows are dropped, outbound connects time out.",
            "expect": expect(("conntrack-full", "critical"))}


@scenario
def ephemeral_port_exhaustion(n):
    n["tan_gen"] = 'BEGIN { for (p = 32768; p <= 59999; p++) printf "TIME-WAIT  0      0      10.0.1.10:%d 10.0.2.15:5432\\n", p }\n'
    n["tw"] = 27232
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-40, 10, 3), "HikariPool-1 - Connection is not available: org.postgresql.util.PSQLException: Connection attempt failed. Caused by java.net.BindException: Cannot assign requested address",
                                                    "com.zaxxer.hikari.pool.HikariPool")
    return {"description": "A connection-per-query client opens and closes DB connections; 27 000 TIME-WAIT sockets to db:5432 use up the ephemeral ports.",
            "expect": expect(("ephemeral-ports", "critical"), ("app-ephemeral-ports", "critical"))}


@scenario
def db_down_connection_refused(n):
    n["conns"] = [c for c in n["conns"] if not c[2].endswith(":5432")]
    n["applog"] = traffic("java", -900, -30) + errors("java", range(-30, 30, 2), "HikariPool-1 - Exception during pool initialization. org.postgresql.util.PSQLException: Connection to db.internal:5432 refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.",
                                                     "com.zaxxer.hikari.pool.HikariPool", ["Caused by: java.net.ConnectException: Connection refused"] + JAVA_PG_REFUSED)
    return {"description": "The PostgreSQL primary went down: every query fails with connection refused to db.internal:5432.",
            "expect": expect(("app-connection-refused", "critical"))}


@scenario
def redis_unit_failed(n):
    n["app"] = "python"
    n["listen"] = [item for item in n["listen"] if not item[0].endswith(":6379")]
    n["conns"] = [c for c in n["conns"] if not c[2].endswith(":6379")]
    n["units"][2].update(ActiveState="failed", SubState="failed", Result="exit-code", failed_at=-150)
    n["ps"] = [p for p in n["ps"] if p[7] != "redis-server"]
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-140, 20, 5), "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
                                                      "django.request")
    return {"description": "redis-server died (failed unit) 150 s before; the Django app cannot reach localhost:6379.",
            "expect": expect(("app-connection-refused", "critical"), ("unit-failed", "warning"))}


@scenario
def nginx_upstream_refused_app_down(n):
    n["log_path"] = "/var/log/nginx/error.log"
    n["listen"] = [item for item in n["listen"] if not item[0].endswith(":8080")]
    n["ps"] = [p for p in n["ps"] if p[7] != "java"]
    n["units"][1].update(ActiveState="failed", SubState="failed", Result="exit-code", failed_at=-65)
    n["applog"] = errors("nginx-error", range(-60, 20, 2), 'connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.3.{n}, server: api.example.com, request: "POST /api/cart HTTP/1.1", upstream: "http://127.0.0.1:8080/api/cart", host: "api.example.com"')
    return {"description": "The app behind nginx exited; nginx gets connection refused from 127.0.0.1:8080 where nothing listens.",
            "expect": expect(("app-connection-refused", "critical"), ("unit-failed", "warning"))}


@scenario
def dns_resolution_failure(n):
    n["resolv"] = ["10.0.0.53"]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-70, 20, 6), "I/O error on GET request for \"https://payments.internal/v2/status\": payments.internal: Temporary failure in name resolution; nested exception is java.net.UnknownHostException: payments.internal: Temporary failure in name resolution",
                                                    "c.e.orders.client.PaymentsClient")
    return {"description": "The resolver 10.0.0.53 stopped answering; lookups of payments.internal fail.",
            "expect": expect(("app-dns-failure", "critical"))}


@scenario
def dns_go_no_such_host(n):
    n["app"] = "go"
    n["applog"] = traffic("go", -900, 60) + errors("go", range(-50, 10, 4), "dial tcp: lookup ledger.svc.internal on 10.0.0.2:53: no such host", "ledger/client.go:88")
    return {"description": "A Go client cannot resolve ledger.svc.internal (record deleted).",
            "expect": expect(("app-dns-failure", "critical"))}


@scenario
def expired_certificate(n):
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-100, 20, 8), "I/O error on POST request for \"https://partner-api.example.com/v1/orders\": PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed; nested exception is javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: validity check failed",
                                                     "c.e.orders.client.PartnerClient", ["Caused by: java.security.cert.CertificateExpiredException: NotAfter: Sat Nov 21 00:00:00 UTC 2026"])
    return {"description": "The partner's TLS certificate expired at midnight; the node's clock is right.",
            "expect": expect(("app-tls-error", "critical")), "forbid": ["clock-skew", "clock-unsynced"]}


@scenario
def ntp_drift_tls_failures(n):
    n["app"] = "python"
    n["clock"] = {"synced": False, "offset": 413.27, "chrony": True}
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-90, 20, 6), "requests.exceptions.SSLError: HTTPSConnectionPool(host='api.stripe.com', port=443): Max retries exceeded with url: /v1/charges (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate is not yet valid (_ssl.c:1006)')))",
                                                      "orders.payments")
    return {"description": "chronyd lost its sources; the clock drifted 7 minutes and new certificates look not yet valid.",
            "expect": expect(("clock-skew", "critical"))}


@scenario
def tcp_socket_memory(n):
    n["dmesg"] = [(-60 + 5 * i, "TCP: out of memory -- consider tuning tcp_mem") for i in range(8)]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-50, 10, 7), "Broken pipe (Write failed): java.net.SocketException: Broken pipe", "c.e.orders.stream.Publisher")
    return {"description": "Too many slow consumers: TCP buffers hit tcp_mem, the kernel drops socket memory.",
            "expect": expect(("tcp-memory", "warning"))}


@scenario
def db_pool_exhausted(n):
    n["app"] = "python"
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-60, 20, 4), "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at \"db.internal\" (10.0.2.15), port 5432 failed: FATAL:  sorry, too many clients already",
                                                      "orders.db")
    return {"description": "PostgreSQL max_connections reached by a leaking batch job; the web app is refused sessions.",
            "expect": expect(("app-db-connections-exhausted", "critical"))}


@scenario
def mysql_refused_php(n):
    n["app"] = "raw"
    n["log_path"] = "/var/log/app/laravel.log"
    n["applog"] = traffic("nginx", -900, -60) + [(EV + off, "[2026-11-21 03:%02d:%02d] production.ERROR: SQLSTATE[HY000] [2002] Connection refused (SQL: select * from `orders` where `id` = %d limit 1) {\"exception\":\"[object] (Illuminate\\\\Database\\\\QueryException(code: 2002))\"}"
                                                      % ((12 * 60 + 45 + off) // 60, (12 * 60 + 45 + off) % 60, 4000 + off)) for off in range(-50, 10, 5)]
    return {"description": "MySQL on db02 stopped; the Laravel app gets SQLSTATE[HY000] [2002] Connection refused.",
            "expect": expect(("app-connection-refused", "critical"))}


@scenario
def no_route_to_host_go(n):
    n["app"] = "go"
    n["applog"] = traffic("go", -900, 60) + errors("go", range(-60, 10, 5), "publish failed: dial tcp 10.20.4.17:9092: connect: no route to host", "kafka/producer.go:211")
    return {"description": "A firewall/routing change cut the path to the Kafka broker 10.20.4.17.",
            "expect": expect(("app-network-unreachable", "critical"))}


@scenario
def failed_unit_list_format(n):
    n["systemctl_text"] = ("  UNIT                  LOAD   ACTIVE SUB    DESCRIPTION\n"
                           "● payments-sync.service loaded failed failed Payments ledger sync\n\n"
                           "LOAD   = Reflects whether the unit definition was properly loaded.\n1 loaded units listed.\n")
    n["applog"] = traffic("java", -900, 60) + errors("java", [-200, -90, -10], "Ledger sync is 600 s behind; refusing to settle order", "c.e.orders.settle.Settler")
    return {"description": "A required sync unit is failed; systemctl answers in its unit-list layout (no timestamps).",
            "expect": expect(("unit-failed", "warning"))}


@scenario
def puppet_report_without_summary(n):
    n["puppet"] = {"last_run": -420, "changed": ["File[/etc/sysctl.d/60-net.conf]", "Exec[sysctl-reload]"], "failed": [], "status": "changed",
                   "report_only": True}
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-400, 20, 20), "Request processing failed: java.net.SocketTimeoutException: Read timed out", "o.a.c.c.C.[.[localhost]")
    return {"description": "Puppet changed a sysctl file 7 minutes before; only last_run_report.yaml is on disk.",
            "expect": expect(("puppet-change", "warning"))}


# --- disks and filesystems ------------------------------------------------------------------

@scenario
def ext4_remount_read_only(n):
    n["mounts"][2] = ("/dev/sdb1", "/srv/data", "ext4", "ro,relatime")
    n["dmesg"] = [
        (-75, "EXT4-fs error (device sdb1): ext4_find_entry:1612: inode #2: comm java: reading directory lblock 0"),
        (-75, "EXT4-fs (sdb1): Remounting filesystem read-only"),
        (-74, "EXT4-fs error (device sdb1): ext4_journal_check_start:83: comm kworker/u8:2: Detected aborted journal"),
    ]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-70, 20, 5), "Failed to write order spool file: java.nio.file.FileSystemException: /srv/data/spool/order-{n}.json: Read-only file system",
                                                    "c.e.orders.spool.Spooler")
    return {"description": "ext4 metadata error on /srv/data; errors=remount-ro made it read-only; writes fail.",
            "expect": expect(("fs-read-only", "critical"))}


@scenario
def xfs_shutdown(n):
    n["mounts"][2] = ("/dev/mapper/vg0-data", "/srv/data", "xfs", "ro,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota")
    n["dmesg"] = [
        (-40, "XFS (dm-2): metadata I/O error in \"xfs_trans_read_buf_map\" at daddr 0x1e0a40 len 8 error 5"),
        (-40, "XFS (dm-2): Log I/O Error (0x2) detected at xlog_ioend_work+0x6e/0x70 [xfs] (fs/xfs/xfs_log.c:1378).  Shutting down filesystem."),
        (-40, "XFS (dm-2): Please unmount the filesystem and rectify the problem(s)"),
    ]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-35, 10, 5), "Could not write checkpoint: java.io.IOException: Input/output error", "c.e.orders.journal.Writer")
    return {"description": "The SAN volume under XFS returned I/O errors; XFS shut the filesystem down.",
            "expect": expect(("fs-read-only", "critical"))}


@scenario
def disk_full_root(n):
    n["app"] = "python"
    n["df"][0] = ("/dev/sda1", 51474912, 100)
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-30, 10, 3), "OSError: [Errno 28] No space left on device: '/var/lib/orders/cache/{n}.tmp'", "orders.cache")
    return {"description": "Debug logging filled /; writes fail with ENOSPC.",
            "expect": expect(("disk-full", "critical"), ("app-disk-full", "critical"))}


@scenario
def inode_exhaustion(n):
    n["app"] = "python"
    n["dfi"][0] = ("/dev/sda1", 3276800, 100)
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-60, 10, 4), "OSError: [Errno 28] No space left on device: '/var/lib/php/sessions/sess_{id}'", "sessions")
    return {"description": "Millions of small session files used every inode of / while 59 % of the space is free.",
            "expect": expect(("inodes-full", "critical"))}


@scenario
def postgres_disk_full_data(n):
    n["log_path"] = "/var/log/postgresql/postgresql-16-main.log"
    n["df"][2] = ("/dev/sdb1", 206293688, 99)
    n["applog"] = [(EV + off, "2026-11-21 03:%02d:%02d.%03d UTC [4410] app@orders PANIC:  could not write to file \"pg_wal/xlogtemp.4410\": No space left on device"
                    % ((12 * 60 + 45 + off) // 60, (12 * 60 + 45 + off) % 60, 120)) for off in (-20, -12, -2)]
    return {"description": "The PostgreSQL data disk filled up; WAL writes PANIC.",
            "expect": expect(("disk-full", "critical"), ("app-disk-full", "critical"))}


@scenario
def hung_task_blocked_io(n):
    n["disks"]["sdb"] = {"util": 100, "iops": 180, "await": 910.0, "queue": 64}
    n["psi"]["io"] = (82.0, 61.0)
    n["procs_blocked"] = 14
    n["ps"] += [(4410 + i, "postgres", "D", 41000, 218000, 0.4, "io_schedule", "postgres") for i in range(14)]
    n["dmesg"] = [
        (-130, "INFO: task postgres:4412 blocked for more than 120 seconds."),
        (-130, "      Not tainted 6.1.0-27-amd64 #1 Debian 6.1.115-1"),
        (-130, "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message."),
        (-10, "INFO: task jbd2/sdb1-8:611 blocked for more than 241 seconds."),
    ]
    n["applog"] = traffic("java", -900, 60, 20) + errors("java", range(-120, 20, 10), "HikariPool-1 - Connection is not available, request timed out after 30000ms.", "com.zaxxer.hikari.pool.HikariPool")
    return {"description": "The data disk stalls (await 900 ms); PostgreSQL backends hang in D state, hung task warnings.",
            "expect": expect(("hung-task", "critical"), ("io-saturated", "critical"))}


@scenario
def io_saturation_backup(n):
    n["disks"]["sda"] = {"util": 100, "iops": 2900, "await": 240.0, "queue": 48}
    n["psi"]["io"] = (71.0, 42.0)
    n["procs_blocked"] = 6
    n["ps"] += [(9120, "root", "D", 9000, 30000, 31.0, "blk_mq_get_tag", "rsync")] + \
               [(4410 + i, "app", "D", 2000, 9000, 0.1, "folio_wait_bit_common", "java") for i in range(5)]
    n["applog"] = traffic("java", -900, 60, 15) + errors("java", range(-90, 20, 8), "Request processing failed: java.net.SocketTimeoutException: Read timed out", "o.a.c.c.C.[.[localhost]")
    return {"description": "A backup rsync saturates the root disk (util 100 %, await 240 ms, io PSI full 42 %).",
            "expect": expect(("io-saturated", "critical"))}


@scenario
def disk_io_errors(n):
    n["dmesg"] = [
        (-50, "ata2.00: exception Emask 0x0 SAct 0x800000 SErr 0x0 action 0x0"),
        (-50, "ata2.00: failed command: READ FPDMA QUEUED"),
        (-49, "sd 1:0:0:0: [sdb] tag#23 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=3s"),
        (-49, "sd 1:0:0:0: [sdb] tag#23 Sense Key : Medium Error [current]"),
        (-49, "I/O error, dev sdb, sector 412331208 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2"),
        (-48, "Buffer I/O error on dev sdb1, logical block 51541395, async page read"),
    ]
    n["applog"] = traffic("java", -900, 60) + errors("java", [-47, -20, -4], "Failed to read attachment /srv/data/att/{n}.pdf: java.io.IOException: Input/output error", "c.e.orders.files.Store")
    return {"description": "A failing SATA disk returns medium errors; reads fail with EIO.",
            "expect": expect(("disk-error", "critical"))}


# --- kernel / crashes ------------------------------------------------------------------------

@scenario
def segfault_loop_php_fpm(n):
    n["app"] = "raw"
    n["log_path"] = "/var/log/php8.2-fpm.log"
    n["dmesg"] = [(-200 + 30 * i, "php-fpm8.2[%d]: segfault at 0 ip 00007f3a1c2b4e51 sp 00007ffd0c1e2a80 error 4 in libc.so.6[7f3a1c200000+155000] likely on CPU 1 (core 1, socket 0)"
                   % (6100 + i)) for i in range(7)]
    n["applog"] = [(EV - 200 + 30 * i, "[21-Nov-2026 03:%02d:%02d] WARNING: [pool www] child %d exited on signal 11 (SIGSEGV - core dumped) after 29.120331 seconds from start"
                    % ((12 * 60 + 45 - 200 + 30 * i) // 60, (12 * 60 + 45 - 200 + 30 * i) % 60, 6100 + i)) for i in range(7)]
    return {"description": "A buggy PHP extension makes php-fpm children segfault on every request.",
            "expect": expect(("segfault", "critical"))}


@scenario
def soft_lockup(n):
    n["dmesg"] = [
        (-35, "watchdog: BUG: soft lockup - CPU#2 stuck for 23s! [kworker/2:1:2231]"),
        (-35, "Modules linked in: xt_conntrack nf_nat nf_conntrack nf_defrag_ipv6 nf_defrag_ipv4 ext4 mbcache jbd2"),
        (-35, "CPU: 2 PID: 2231 Comm: kworker/2:1 Tainted: G             L     6.1.0-27-amd64 #1  Debian 6.1.115-1"),
        (-8, "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"),
    ]
    n["applog"] = traffic("java", -900, 60) + errors("java", [-30, -10], "Request processing failed: java.net.SocketTimeoutException: Read timed out", "o.a.c.c.C.[.[localhost]")
    return {"description": "A driver bug locks a CPU for 23 s; the node freezes, requests time out.",
            "expect": expect(("soft-lockup", "critical"))}


@scenario
def unit_crash_loop_go_panic(n):
    n["app"] = "go"
    n["units"][1].update(NRestarts=17, enter=-4)
    lines = traffic("go", -900, -600)
    for off in range(-580, 10, 35):
        lines += [(EV + off, "panic: runtime error: invalid memory address or nil pointer dereference"),
                  (EV + off, "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x8a1f2c]"),
                  (EV + off, "goroutine 1 [running]:"), (EV + off, "main.loadConfig(...)")]
    n["applog"] = lines
    return {"description": "A new config makes the Go service panic at start; systemd restarts it 17 times.",
            "expect": expect(("unit-restarting", "critical"))}


@scenario
def failed_worker_unit(n):
    n["units"].append({"Id": "orders-worker.service", "ActiveState": "failed", "SubState": "failed", "Result": "exit-code",
                       "NRestarts": 0, "enter": 14, "failed_at": -240})
    n["applog"] = traffic("java", -900, 60) + errors("java", [-100, -40, -5], "Order 4711 stuck in state PENDING_FULFILMENT for more than 180 s", "c.e.orders.watchdog.StuckOrders")
    return {"description": "The fulfilment worker unit failed 4 min earlier; orders pile up and the watchdog raises errors.",
            "expect": expect(("unit-failed", "warning"))}


# --- changes -------------------------------------------------------------------------------

@scenario
def bad_deploy_package_upgrade(n):
    n["dpkg"] += [(-480, "upgrade", "orders-api:all", "4.12.2-1", "4.13.0-1"), (-479, "upgrade", "libpq5:amd64", "15.8-0+deb12u1", "16.4-1.pgdg120+1")]
    n["units"][1].update(enter=-470)
    n["applog"] = traffic("java", -900, -470) + traffic("java", -460, 60, 20) + errors("java", range(-450, 20, 15), "Handler dispatch failed; nested exception is java.lang.NoSuchMethodError: 'void c.e.orders.model.Order.setChannel(java.lang.String)'",
                                                                                             "o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]")
    return {"description": "A package upgrade of the service 8 minutes before ships an incompatible jar.",
            "expect": expect(("package-change", "warning"), ("service-restarted", "warning"))}


@scenario
def puppet_changed_config(n):
    n["puppet"] = {"last_run": -300, "changed": ["File[/etc/orders-api/application.yml]", "Service[orders-api]"], "failed": [], "status": "changed"}
    n["units"][1].update(enter=-290)
    n["applog"] = traffic("java", -900, -290) + errors("java", range(-280, 20, 10), "Could not resolve placeholder 'payments.api.url' in value \"${payments.api.url}\"", "o.s.b.SpringApplication")
    return {"description": "A Puppet run 5 minutes before replaced application.yml and restarted the service with a missing key.",
            "expect": expect(("puppet-change", "warning"))}


@scenario
def puppet_run_failed(n):
    n["puppet"] = {"last_run": -600, "changed": ["File[/etc/nginx/sites-enabled/api.conf]"], "failed": ["Service[nginx]"], "status": "failed"}
    n["log_path"] = "/var/log/nginx/error.log"
    n["applog"] = errors("nginx-error", [-598, -597], 'bind() to 0.0.0.0:443 failed (98: Address already in use)') + \
        errors("nginx-error", range(-500, 20, 30), 'no live upstreams while connecting to upstream, client: 10.0.3.{n}, server: api.example.com, request: "GET / HTTP/1.1", upstream: "http://orders/", host: "api.example.com"')
    return {"description": "A Puppet run changed the nginx vhost and failed to restart nginx 10 minutes before.",
            "expect": expect(("puppet-run-failed", "warning"), ("puppet-change", "warning"))}


@scenario
def rhel_dnf_glibc_upgrade(n):
    n["dnf"] = [(-360, "Upgrade", "glibc-2.34-100.el9_4.2.x86_64"), (-360, "Upgrade", "glibc-common-2.34-100.el9_4.2.x86_64"),
                (-359, "Upgrade", "openssl-libs-1:3.0.7-28.el9_4.x86_64"), (-300, "Upgraded", "glibc-2.34-83.el9_3.12.x86_64")]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-290, 20, 25), "I/O error on GET request for \"https://inventory.internal/v1/sku\": Received fatal alert: handshake_failure; nested exception is javax.net.ssl.SSLHandshakeException",
                                                    "c.e.orders.client.InventoryClient")
    return {"description": "On a RHEL 9 node, dnf upgraded glibc and openssl-libs 6 minutes before TLS handshakes began to fail.",
            "expect": expect(("package-change", "warning"))}


@scenario
def reboot_just_before(n):
    n["uptime"] = 190
    n["units"] = [dict(u, enter=20) for u in n["units"]]
    n["listen"] = [item for item in n["listen"] if not item[0].endswith(":6379")]
    n["conns"] = [c for c in n["conns"] if not c[2].endswith(":6379")]
    n["applog"] = traffic("java", -900, -200) + errors("java", range(-170, 20, 6), "Unable to connect to Redis; nested exception is io.lettuce.core.RedisConnectionException: Unable to connect to localhost/127.0.0.1:6379",
                                                      "c.e.orders.cache.CartCache", ["Caused by: io.netty.channel.AbstractChannel$AnnotatedConnectException: Connection refused: localhost/127.0.0.1:6379"])
    return {"description": "The node was rebooted 3 minutes before (kernel update); Redis did not come back.",
            "expect": expect(("recent-reboot", "critical"), ("app-connection-refused", "critical"))}


@scenario
def old_oom_and_dns_now(n):
    n["dmesg"] = [(-12 * DAY, "Out of memory: Killed process 1733 (java) total-vm:16210044kB, anon-rss:15123300kB, file-rss:0kB, shmem-rss:0kB, UID:998 pgtables:30420kB oom_score_adj:0")]
    n["oom_kill"] = 1
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-40, 20, 5), "I/O error on GET request for \"https://catalog.internal/v2/items\": catalog.internal; nested exception is java.net.UnknownHostException: catalog.internal",
                                                    "c.e.orders.client.CatalogClient")
    return {"description": "Name resolution fails now; an OOM kill 12 days ago is only context.",
            "expect": expect(("app-dns-failure", "critical")), "forbid": ["oom-kill"]}


# --- healthy baselines ------------------------------------------------------------------------

@scenario
def baseline_idle(n):
    n["uptime"] = 41 * DAY
    n["dmesg"] = [(-12 * DAY, "Out of memory: Killed process 1733 (java) total-vm:16210044kB, anon-rss:15123300kB, file-rss:0kB, shmem-rss:0kB, UID:998 pgtables:30420kB oom_score_adj:0")]
    n["oom_kill"] = 1
    n["cpu"] = {"user": 2, "system": 1, "iowait": 0, "steal": 0}
    n["load"] = (0.05, 0.08, 0.06)
    return {"description": "Idle node; a 12-day-old OOM kill must not be reported as a cause.", "baseline": True, "expect": []}


@scenario
def baseline_busy_web(n):
    n["cpus"] = 8
    n["cpu"] = {"user": 68, "system": 17, "iowait": 0, "steal": 2}
    n["procs_running"] = 7
    n["load"] = (6.8, 6.4, 6.1)
    n["psi"]["cpu"] = (14.2, 0.0)
    n["conntrack"] = (101230, 262144)
    n["tw"] = 3100
    n["conns"] = n["conns"] + [("TIME-WAIT", "10.0.1.10:%d" % (33000 + i), "10.0.2.15:5432") for i in range(1500)] + \
        [("ESTAB", "10.0.1.10:443", "198.51.100.%d:%d" % (i % 250, 40000 + i)) for i in range(900)]
    n["applog"] = traffic("java", -900, 60, 1) + errors("java", [-400, -95], "Failed to complete request: org.apache.catalina.connector.ClientAbortException: java.io.IOException: Connection reset by peer",
                                                        "o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]")
    return {"description": "A busy web node at 85 % CPU with many connections and the usual client resets.", "baseline": True, "expect": []}


@scenario
def baseline_busy_db(n):
    n["disks"]["sdb"] = {"util": 96, "iops": 9800, "await": 0.9, "queue": 4}
    n["psi"]["io"] = (6.1, 1.2)
    n["mem_avail"] = 1900 * 1024
    n["cached"] = 11000 * 1024
    n["swap_free"] = 1700 * 1024
    n["procs_blocked"] = 1
    n["ps"] += [(4410, "postgres", "D", 41000, 218000, 3.1, "io_schedule", "postgres")]
    n["log_path"] = "/var/log/postgresql/postgresql-16-main.log"
    n["applog"] = [(EV + off, "2026-11-21 03:%02d:%02d.%03d UTC [%d] LOG:  checkpoint complete: wrote 8123 buffers (6.2%%); 0 WAL file(s) added, 0 removed, 3 recycled; write=269.912 s, sync=0.011 s, total=269.951 s"
                    % ((12 * 60 + 45 + off) // 60 % 60, (12 * 60 + 45 + off) % 60, 12, 700)) for off in range(-600, 60, 300)]
    return {"description": "A busy database node: SSD 96 % busy at sub-ms latency, page cache fills memory, one backend in D.",
            "baseline": True, "expect": []}


@scenario
def baseline_batch_load(n):
    n["cpu"] = {"user": 91, "system": 6, "iowait": 0, "steal": 0}
    n["procs_running"] = 10
    n["load"] = (10.2, 9.8, 9.1)
    n["psi"]["cpu"] = (22.0, 0.0)
    n["ps"].append((7781, "app", "R", 812000, 2100000, 380.0, "-", "spark-worker"))
    return {"description": "A batch node at full CPU by design (load 2.5x CPUs) with no stall on anything else.", "baseline": True, "expect": []}


@scenario
def baseline_old_changes(n):
    n["dpkg"] += [(-3 * 3600, "upgrade", "openssl:amd64", "3.0.14-1~deb12u1", "3.0.15-1~deb12u1")]
    n["puppet"] = {"last_run": -20 * 60, "changed": [], "failed": [], "status": "unchanged"}
    n["units"].append({"Id": "backup.service", "ActiveState": "failed", "SubState": "failed", "Result": "exit-code", "NRestarts": 0,
                       "enter": 14, "failed_at": -5 * DAY})
    n["dmesg"] = [(-2 * DAY, "python3[8812]: segfault at 8 ip 00007f1c2b3a4d51 sp 00007ffe2c1d0a90 error 4 in libpython3.11.so.1.0[7f1c2b200000+1c5000] likely on CPU 0 (core 0, socket 0)")]
    return {"description": "Healthy node with old changes: a package upgrade 3 h ago, a backup unit failed 5 days ago, a segfault 2 days ago.",
            "baseline": True, "expect": []}


@scenario
def baseline_noisy_logs(n):
    n["app"] = "python"
    lines = traffic("python", -900, 60, 3)
    lines += [(EV - 700, "2026-11-21 03:01:05,120 WARNING [urllib3.connectionpool] Retrying (Retry(total=2, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ReadTimeoutError(\"HTTPSConnectionPool(host='hooks.slack.com', port=443): Read timed out. (read timeout=5)\")': /services/T000/B000"),
              (EV - 300, "2026-11-21 03:07:45,311 INFO [orders.jobs] cache refresh took 12.3 s (timeout 60 s)"),
              (EV - 5, "2026-11-21 03:12:40,118 ERROR [orders.views] Order 991231 rejected: card declined (insufficient_funds)")]
    n["applog"] = lines
    return {"description": "A healthy service whose log has a retried timeout to a webhook and ordinary business errors.",
            "baseline": True, "expect": []}
