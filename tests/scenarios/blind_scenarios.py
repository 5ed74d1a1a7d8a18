"""Incidents and baselines written "blind": from the real formats of kernels, syslog daemons,
journald and applications, not from the task's rules (they were measured before any rule
was changed for them). Same node model as corpus_scenarios.py; files the model does not
render (syslog/messages in their own timestamp formats, journal lines of another systemd,
a second log) go in n["extra_files"] as raw text.

Formats: printk texts of mm/oom_kill.c, mm/page_alloc.c (warn_alloc), block/blk-core.c
(blk_print_req_error, "blk_update_request: " prefix before 5.16), drivers/nvme/host/pci.c,
fs/nfs, net/ipv4/tcp.c, net/netfilter/nf_conntrack_core.c, EDAC/MCE, therm_throt.c;
RFC3164 syslog ("Nov 21 03:12:31 host tag: msg"), rsyslog RFC3339 high precision
("2026-11-21T03:12:31.412331+00:00 host tag: msg", Ubuntu >= 23.10), journalctl -o
short-iso of systemd 252 ("+0000") and 255 ("+00:00"); nginx, Apache 2.4, PHP-FPM, Laravel,
PostgreSQL 16, Python logging/gunicorn, Node (pino), logback/Spring Boot.
"""
import datetime as dt
import json

from build_corpus import DAY, EV, errors, java_line, traffic
from corpus_scenarios import expect, scenario

HOST = "web01"


def _d(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


def rfc3164(t):
    return _d(t).strftime("%b %e %H:%M:%S")


def hp(t, us=412331):
    return _d(t).strftime("%Y-%m-%dT%H:%M:%S") + ".%06d+00:00" % us


def short_iso(t, colon=False):
    return _d(t).strftime("%Y-%m-%dT%H:%M:%S") + ("+00:00" if colon else "+0000")


def syslog(lines, host=HOST, fmt="rfc3164"):
    """[(offset, tag, msg)] -> text of /var/log/syslog or /var/log/messages"""
    out = []
    for off, tag, msg in sorted(lines, key=lambda r: r[0]):
        ts = rfc3164(EV + off) if fmt == "rfc3164" else hp(EV + off, (off * 7919) % 1000000)
        out.append("%s %s %s: %s" % (ts, host, tag, msg))
    return "\n".join(out) + "\n"


def journal(lines, host=HOST, colon=False):
    return "".join("%s %s %s: %s\n" % (short_iso(EV + off, colon), host, tag, msg) for off, tag, msg in sorted(lines, key=lambda r: r[0]))


def pylog(t, level, logger, msg, k=0):
    return "%s %s [%s] %s" % (_d(t).strftime("%Y-%m-%d %H:%M:%S") + ",%03d" % (k * 37 % 1000), level, logger, msg)


def nginx_err(t, level, msg, pid=1423, conn=None):
    c = "*%d " % conn if conn else ""
    return "%s [%s] %d#%d: %s%s" % (_d(t).strftime("%Y/%m/%d %H:%M:%S"), level, pid, pid, c, msg)


def fpm(t, level, msg):
    return "[%s] %s: %s" % (_d(t).strftime("%d-%b-%Y %H:%M:%S"), level, msg)


def pg(t, pid, who, level, msg):
    return "%s.%03d UTC [%d] %s%s:  %s" % (_d(t).strftime("%Y-%m-%d %H:%M:%S"), (t * 13) % 1000, pid, who + " " if who else "", level, msg)


def pino(t, level, msg, k=0, **extra):
    d = {"level": level, "time": t * 1000 + k % 1000, "pid": 2210, "hostname": HOST}
    d.update(extra)
    d["msg"] = msg
    return json.dumps(d)


OLD_OOM = [
    "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/orders-api.service,task=java,pid=1733,uid=998",
    "Out of memory: Killed process 1733 (java) total-vm:16210044kB, anon-rss:15123300kB, file-rss:0kB, shmem-rss:0kB, UID:998 pgtables:30420kB oom_score_adj:0",
]


# --- disks and filesystems ------------------------------------------------------------------

@scenario
def blind_var_partition_full_nginx(n):
    # / is fine; a separate /var LV is full (a deleted-but-open log still held by a process)
    n["mounts"].insert(1, ("/dev/mapper/vg0-var", "/var", "ext4", "rw,relatime"))
    n["df"].insert(1, ("/dev/mapper/vg0-var", 10255636, 100))
    n["dfi"].insert(1, ("/dev/mapper/vg0-var", 655360, 4))
    n["df"][0] = ("/dev/sda1", 51474912, 38)
    n["log_path"] = "/var/log/nginx/error.log"
    lines = [(EV - 3 * 3600, nginx_err(EV - 3 * 3600, "warn", "an upstream response is buffered to a temporary file /var/lib/nginx/proxy/2/31/0000004312 while reading upstream, client: 10.0.3.44, server: api.example.com, request: \"GET /export HTTP/1.1\", upstream: \"http://127.0.0.1:8080/export\", host: \"api.example.com\"", conn=71234))]
    for k, off in enumerate(range(-240, 30, 9)):
        lines.append((EV + off, nginx_err(EV + off, "crit", "pwrite() \"/var/lib/nginx/body/00000%05d\" failed (28: No space left on device), client: 10.0.3.%d, server: api.example.com, request: \"POST /api/upload HTTP/1.1\", host: \"api.example.com\"" % (31200 + k, k % 200), conn=88100 + k)))
        if k % 3 == 0:
            lines.append((EV + off, nginx_err(EV + off, "alert", "write() to \"/var/log/nginx/access.log\" failed (28: No space left on device) while logging request, client: 10.0.3.%d, server: api.example.com, request: \"GET /healthz HTTP/1.1\", host: \"api.example.com\"" % k, conn=88200 + k)))
    n["applog"] = lines
    return {"description": "A separate /var LV filled up (a rotated log still held open); nginx cannot buffer bodies or write its logs; / is fine.",
            "expect": expect(("disk-full", "critical"))}


@scenario
def blind_tmpfs_tmp_full(n):
    # /tmp is a tmpfs; df -x tmpfs does not show it (the fake df honours -x/-t tmpfs like the real one)
    n["mounts"].append(("tmpfs", "/tmp", "tmpfs", "rw,nosuid,nodev,size=2097152k,nr_inodes=1048576,inode64"))
    n["df"].append(("tmpfs", 2097152, 100))
    n["dfi"].append(("tmpfs", 1048576, 1))
    n["app"] = "python"
    tb = ["Traceback (most recent call last):",
          '  File "/srv/app/venv/lib/python3.11/site-packages/orders/reports.py", line 212, in render_pdf',
          "    with tempfile.NamedTemporaryFile(suffix=\".pdf\") as fh:",
          '  File "/usr/lib/python3.11/tempfile.py", line 563, in NamedTemporaryFile',
          "    file = _io.open(dir, mode, buffering=buffering,",
          "OSError: [Errno 28] No space left on device: '/tmp/tmpk2x9_3fa.pdf'"]
    lines = traffic("python", -900, 60)
    for k, off in enumerate(range(-180, 20, 11)):
        t = EV + off
        lines.append((t, pylog(t, "ERROR", "django.request", "Internal Server Error: /api/reports/%d/pdf" % (4100 + k), k)))
        lines += [(t, x) for x in tb]
    n["applog"] = lines
    return {"description": "/tmp is a 2 GB tmpfs filled by leaked report temp files; Python gets ENOSPC there while every disk is fine.",
            "expect": expect(("disk-full", "critical"))}


@scenario
def blind_inotify_watch_limit(n):
    n["app"] = "node"
    lines = traffic("node", -900, 60)
    for k, off in enumerate(range(-120, 20, 15)):
        t = EV + off
        lines.append((t, pino(t, 50, "Error: ENOSPC: System limit for number of file watchers reached, watch '/srv/app/templates/partials'", k,
                              err={"type": "Error", "message": "ENOSPC: System limit for number of file watchers reached, watch '/srv/app/templates/partials'",
                                   "errno": -28, "code": "ENOSPC", "syscall": "watch", "path": "/srv/app/templates/partials"})))
    n["applog"] = lines
    n["extra_files"] = {"cmd/journal.txt": journal([
        (-600, "systemd[1]", "Started logrotate.service - Rotate log files."),
        (-95, "systemd-tmpfiles[8812]", "Failed to create inotify watch on /run/user: No space left on device"),
        (-40, "tail[9120]", "tail: inotify cannot be used, reverting to polling: No space left on device")])}
    return {"description": "fs.inotify.max_user_watches is used up by a file-watching dev tool; watches fail with ENOSPC though every disk has room.",
            "expect": expect(("app-inotify-limit", "warning")), "forbid": ["disk-full", "app-disk-full", "inodes-full"]}


@scenario
def blind_redis_misconf_disk_full(n):
    n["app"] = "node"
    n["df"][2] = ("/dev/sdb1", 206293688, 100)
    lines = traffic("node", -900, 60)
    for k, off in enumerate(range(-200, 20, 8)):
        t = EV + off
        m = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."
        lines.append((t, pino(t, 50, "ReplyError: " + m, k, err={"type": "ReplyError", "message": m, "command": {"name": "set", "args": ["sess:%d" % k, "[...]"]}})))
    n["applog"] = lines
    return {"description": "Redis' data disk (/srv/data) is full; BGSAVE fails and Redis refuses writes with MISCONF.",
            "expect": expect(("disk-full", "critical"))}


@scenario
def blind_nvme_timeouts_rhel_messages(n):
    n["dmesg_denied"] = True
    n["mounts"][0] = ("/dev/nvme0n1p2", "/", "xfs", "rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota")
    n["df"][0] = ("/dev/nvme0n1p2", 51474912, 41)
    n["disks"] = {"nvme0n1": {"util": 100, "iops": 30, "await": 2900.0, "queue": 31}, "sdb": n["disks"]["sdb"]}
    n["procs_blocked"] = 7
    n["psi"]["io"] = (64.0, 51.0)
    msgs = [(-5 * DAY + 311, "kernel", OLD_OOM[2]),
            (-5 * DAY + 312, "systemd[1]", "orders-api.service: A process of this unit has been killed by the OOM killer."),
            (-3600, "systemd[1]", "Started Session 4412 of user deploy."),
            (-150, "kernel", "nvme nvme0: I/O 412 QID 3 timeout, aborting"),
            (-150, "kernel", "nvme nvme0: I/O 413 QID 3 timeout, aborting"),
            (-150, "kernel", "nvme nvme0: Abort status: 0x371"),
            (-120, "kernel", "nvme nvme0: I/O 412 QID 3 timeout, reset controller"),
            (-89, "kernel", "nvme nvme0: 8/0/0 default/read/poll queues"),
            (-88, "kernel", "blk_update_request: I/O error, dev nvme0n1, sector 83886144 op 0x1:(WRITE) flags 0x8800 phys_seg 4 prio class 0"),
            (-88, "kernel", "blk_update_request: I/O error, dev nvme0n1, sector 41943104 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0"),
            (-87, "kernel", "XFS (nvme0n1p2): log I/O error -5"),
            (-30, "kernel", "nvme nvme0: I/O 98 QID 5 timeout, aborting")]
    n["extra_files"] = {"var/log/messages": syslog(msgs, host="db01")}
    n["applog"] = traffic("java", -900, 60, 20) + errors("java", range(-140, 20, 10), "HikariPool-1 - Connection is not available, request timed out after 30000ms.", "com.zaxxer.hikari.pool.HikariPool")
    return {"description": "RHEL 8 node (dmesg restricted, rsyslog /var/log/messages): the NVMe drive times out and returns write errors.",
            "expect": expect(("disk-error", "critical"))}


@scenario
def blind_nfs_server_not_responding(n):
    n["procs_blocked"] = 11
    n["load"] = (14.3, 9.2, 4.4)
    n["mounts"].append(("nfs01.example.com:/export/media", "/srv/media", "nfs4", "rw,relatime,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.1.10,local_lock=none,addr=10.0.5.20"))
    n["ps"] += [(5200 + i, "app", "D", 12000, 90000, 0.0, "rpc_wait_bit_killable", "java" if i < 8 else "rsync") for i in range(11)]
    n["dmesg"] = [(-260, "nfs: server nfs01.example.com not responding, still trying"),
                  (-200, "nfs: server nfs01.example.com not responding, still trying"),
                  (-140, "nfs: server nfs01.example.com not responding, still trying")]
    n["applog"] = traffic("java", -900, -250) + errors("java", range(-240, 20, 12), "Request processing failed: org.apache.catalina.connector.ClientAbortException: java.io.IOException: Broken pipe", "o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]")
    return {"description": "The NFS server of /srv/media stopped answering (hard mount): readers hang in D state, requests time out.",
            "expect": expect(("nfs-unresponsive", "critical"))}


# --- memory ---------------------------------------------------------------------------------

@scenario
def blind_oom_ubuntu_syslog_high_precision(n):
    n["dmesg_denied"] = True
    n["oom_kill"] = 2
    n["app"] = "python"
    msgs = [(-3 * DAY, "kernel", m) for m in OLD_OOM]
    msgs += [(-1800, "systemd[1]", "Starting apt-daily.service - Daily apt download activities..."),
             (-33, "kernel", "gunicorn invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0"),
             (-33, "kernel", "CPU: 3 PID: 4121 Comm: gunicorn Not tainted 6.8.0-48-generic #48-Ubuntu"),
             (-33, "kernel", "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/orders.service,task=gunicorn,pid=4121,uid=33"),
             (-33, "kernel", "Out of memory: Killed process 4121 (gunicorn) total-vm:6120044kB, anon-rss:5812300kB, file-rss:1024kB, shmem-rss:0kB, UID:33 pgtables:11420kB oom_score_adj:0"),
             (-32, "systemd[1]", "orders.service: A process of this unit has been killed by the OOM killer.")]
    n["extra_files"] = {"var/log/syslog": syslog(msgs, fmt="hp"),
                        "var/log/kern.log": syslog([m for m in msgs if m[1] == "kernel"], fmt="hp")}
    n["applog"] = traffic("python", -900, -34) + [
        (EV - 31, "[2026-11-21 03:12:14 +0000] [1980] [ERROR] Worker (pid:4121) was sent SIGKILL! Perhaps out of memory?"),
        (EV - 30, "[2026-11-21 03:12:15 +0000] [5310] [INFO] Booting worker with pid: 5310")]
    return {"description": "Ubuntu 24.04 (rsyslog RFC3339 timestamps, no [secs] in kernel lines, dmesg restricted): a gunicorn worker OOM-killed 33 s before; an older OOM 3 days ago.",
            "expect": expect(("oom-kill", "critical"))}


@scenario
def blind_redis_maxmemory_oom(n):
    trace = ["Caused by: io.lettuce.core.RedisCommandExecutionException: OOM command not allowed when used memory > 'maxmemory'.",
             "\tat io.lettuce.core.internal.ExceptionFactory.createExecutionException(ExceptionFactory.java:147)",
             "\tat io.lettuce.core.RedisPublisher$SubscriptionCommand.doOnError(RedisPublisher.java:908)"]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-160, 20, 7),
                                                    "Error in execution; nested exception is io.lettuce.core.RedisCommandExecutionException: OOM command not allowed when used memory > 'maxmemory'.",
                                                    "c.e.orders.cache.CartCache", trace)
    return {"description": "Redis reached maxmemory (noeviction policy); every write from the cart cache is refused with OOM. Host memory is fine.",
            "expect": expect(("app-datastore-full", "warning")), "forbid": ["oom-kill", "memory-pressure", "swap-storm"]}


@scenario
def blind_page_allocation_failure(n):
    n["mem_free"] = 210 * 1024
    n["mem_avail"] = 5200 * 1024
    n["dmesg"] = [(-70 + 6 * i, m) for i in range(4) for m in (
        "kworker/u16:3: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null),cpuset=/,mems_allowed=0",
        "CPU: 1 PID: 18231 Comm: kworker/u16:3 Not tainted 6.1.0-27-amd64 #1  Debian 6.1.115-1",
        "Call Trace:", " <TASK>", " dump_stack_lvl+0x44/0x5c", " warn_alloc+0x137/0x160", " __alloc_pages_slowpath.constprop.0+0xcb5/0xcf0",
        "Node 0 Normal: 41203*4kB (UME) 8123*8kB (UME) 312*16kB (UME) 3*32kB (M) 0*64kB 0*128kB 0*256kB 0*512kB 0*1024kB 0*2048kB 0*4096kB = 230412kB")]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-60, 20, 9), "Request processing failed: java.net.SocketTimeoutException: Read timed out", "o.a.c.c.C.[.[localhost]")
    return {"description": "Fragmented memory: order-4 kernel allocations fail (no free blocks above 32 kB) though MemAvailable is 5 GB.",
            "expect": expect(("memory-fragmentation", "warning")), "forbid": ["oom-kill"]}


# --- processes, limits and worker pools ----------------------------------------------------

@scenario
def blind_php_fpm_max_children(n):
    n["app"] = "raw"
    n["log_path"] = "/var/log/php8.2-fpm.log"
    lines = [(EV - 2 * DAY, fpm(EV - 2 * DAY, "NOTICE", "fpm is running, pid 911")),
             (EV - 2 * DAY, fpm(EV - 2 * DAY, "NOTICE", "ready to handle connections"))]
    for k, off in enumerate(range(-420, 20, 30)):
        t = EV + off
        lines.append((t, fpm(t, "WARNING", "[pool www] server reached pm.max_children setting (20), consider raising it")))
        if k % 4 == 1:
            lines.append((t + 2, fpm(t + 2, "WARNING", "[pool www] seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning 8 children, there are 0 idle, and 19 total children")))
    n["applog"] = lines
    n["ps"] += [(6100 + i, "www-data", "S", 88000, 310000, 4.8, "-", "php-fpm8.2") for i in range(20)]
    return {"description": "php-fpm's pool is at pm.max_children (20) for 7 minutes; requests queue behind it and nginx times out.",
            "expect": expect(("app-worker-limit", "warning"))}


@scenario
def blind_nginx_worker_connections(n):
    n["log_path"] = "/var/log/nginx/error.log"
    lines = [(EV - 2 * DAY, nginx_err(EV - 2 * DAY, "notice", "signal process started", pid=1401))]
    for k, off in enumerate(range(-300, 20, 4)):
        t = EV + off
        lines.append((t, nginx_err(t, "alert", "1024 worker_connections are not enough", pid=1422 + k % 2)))
        if k % 5 == 0:
            lines.append((t, nginx_err(t, "alert", "1024 worker_connections are not enough while connecting to upstream, client: 10.0.3.%d, server: api.example.com, request: \"GET /api/orders HTTP/1.1\", upstream: \"http://127.0.0.1:8080/api/orders\", host: \"api.example.com\"" % k, pid=1422, conn=312000 + k)))
    n["applog"] = lines
    return {"description": "nginx runs with worker_connections 1024 behind a traffic spike; every worker is at its connection limit.",
            "expect": expect(("app-worker-limit", "warning"))}


@scenario
def blind_apache_max_request_workers(n):
    n["log_path"] = "/var/log/apache2/error.log"
    n["app"] = "raw"
    lines = [(EV - 6 * 3600, "[Sat Nov 21 00:00:01.120331 2026] [mpm_event:notice] [pid 1210:tid 140231255123840] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations"),
             (EV - 6 * 3600, "[Sat Nov 21 00:00:01.120411 2026] [core:notice] [pid 1210:tid 140231255123840] AH00094: Command line: '/usr/sbin/apache2'"),
             (EV - 3 * 3600, "[Sat Nov 21 00:12:33.512331 2026] [php:warn] [pid 1288:tid 140231200123456] [client 10.0.3.12:51234] PHP Warning:  Undefined array key \"ref\" in /var/www/shop/index.php on line 44")]
    t = EV - 95
    lines.append((t, "[%s.031221 2026] [mpm_event:error] [pid 1210:tid 140231255123840] AH00484: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting" % _d(t).strftime("%a %b %d %H:%M:%S")))
    for k, off in enumerate(range(-80, 20, 10)):
        t = EV + off
        lines.append((t, "[%s.%06d 2026] [proxy_fcgi:error] [pid 1301:tid 140231188123456] (70007)The timeout specified has expired: [client 10.0.3.%d:5%04d] AH01075: Error dispatching request to : (polling)" % (_d(t).strftime("%a %b %d %H:%M:%S"), k * 7919 % 1000000, k, k)))
    n["applog"] = lines
    return {"description": "Apache's event MPM hit MaxRequestWorkers (logged once, as Apache does); clients queue and FastCGI requests time out.",
            "expect": expect(("app-worker-limit", "warning"))}


@scenario
def blind_nproc_fork_eagain(n):
    n["threads"] = 4090
    n["ps"] += [(7000 + i, "app", "S", 4000, 20000, 0.0, "do_wait", "convert") for i in range(40)]
    trace = ["java.io.IOException: Cannot run program \"/usr/bin/convert\": error=11, Resource temporarily unavailable",
             "\tat java.base/java.lang.ProcessBuilder.start(ProcessBuilder.java:1143)",
             "\tat c.e.orders.images.Thumbnailer.render(Thumbnailer.java:61)",
             "Caused by: java.io.IOException: error=11, Resource temporarily unavailable",
             "\tat java.base/java.lang.ProcessImpl.forkAndExec(Native Method)"]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-110, 20, 9), "Thumbnail generation failed for upload {n}", "c.e.orders.images.Thumbnailer", trace)
    n["extra_files"] = {"cmd/journal.txt": journal([
        (-100, "CRON[9912]", "(app) CMD (/srv/app/bin/cleanup.sh)"),
        (-99, "cron[655]", "(CRON) error (can't fork)"),
        (-60, "sshd[9931]", "error: fork: Resource temporarily unavailable")])}
    return {"description": "The app user hit its nproc limit (LimitNPROC=4096) with leaked child processes; fork() fails with EAGAIN.",
            "expect": expect(("app-process-limit", "critical")), "forbid": ["oom-kill", "app-out-of-memory"]}


# --- databases ------------------------------------------------------------------------------

@scenario
def blind_mysql_too_many_connections(n):
    n["app"] = "raw"
    n["log_path"] = "/var/log/app/laravel.log"
    lines = [(EV - DAY, "[2026-11-20 03:10:01] production.INFO: Scheduled command [App\\Console\\Commands\\PruneCarts] finished")]
    for k, off in enumerate(range(-130, 20, 6)):
        t = EV + off
        lines.append((t, "[%s] production.ERROR: SQLSTATE[HY000] [1040] Too many connections (Connection: mysql, SQL: select * from `sessions` where `id` = %s limit 1) {\"exception\":\"[object] (Illuminate\\\\Database\\\\QueryException(code: 1040): SQLSTATE[HY000] [1040] Too many connections (Connection: mysql, SQL: select * from `sessions` where `id` = ? limit 1) at /var/www/shop/vendor/laravel/framework/src/Illuminate/Database/Connection.php:813)\"}"
                      % (_d(t).strftime("%Y-%m-%d %H:%M:%S"), "?")))
        lines.append((t, "[stacktrace]"))
        lines.append((t, "#0 /var/www/shop/vendor/laravel/framework/src/Illuminate/Database/Connection.php(767): Illuminate\\Database\\Connection->runQueryCallback('select * from `...', Array, Object(Closure))"))
    n["applog"] = lines
    return {"description": "MySQL's max_connections (151) is used up by a stuck batch job; the Laravel app gets error 1040.",
            "expect": expect(("app-db-connections-exhausted", "critical"))}


@scenario
def blind_postgres_reserved_slots(n):
    n["log_path"] = "/var/log/postgresql/postgresql-16-main.log"
    n["app"] = "raw"
    lines = [(EV - 700, pg(EV - 700, 700, "", "LOG", "checkpoint starting: time")),
             (EV - 430, pg(EV - 430, 700, "", "LOG", "checkpoint complete: wrote 3120 buffers (2.4%); 0 WAL file(s) added, 0 removed, 1 recycled; write=269.912 s, sync=0.011 s, total=269.951 s"))]
    for k, off in enumerate(range(-200, 20, 3)):
        t = EV + off
        lines.append((t, pg(t, 18000 + k, "app@orders", "FATAL", "remaining connection slots are reserved for roles with the SUPERUSER attribute")))
    n["applog"] = lines
    return {"description": "On the PostgreSQL 16 node, client connections took every non-reserved slot; new sessions get FATAL.",
            "expect": expect(("app-db-connections-exhausted", "critical"))}


# --- network --------------------------------------------------------------------------------

@scenario
def blind_python_connect_timeout(n):
    n["app"] = "python"
    m = ("requests.exceptions.ConnectTimeout: HTTPSConnectionPool(host='payments.internal', port=443): Max retries exceeded with url: /v1/charge "
         "(Caused by ConnectTimeoutError(<urllib3.connection.HTTPSConnection object at 0x7f3b2c1d0e50>, 'Connection to payments.internal timed out. (connect timeout=5)'))")
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-150, 20, 6), m, "orders.payments")
    n["conns"] = n["conns"] + [("SYN-SENT", "10.0.1.10:%d" % (52000 + i), "10.0.7.40:443") for i in range(9)]
    return {"description": "The payments service's host stopped answering SYNs (security group change): connects to payments.internal:443 time out.",
            "expect": expect(("app-timeout", "warning"))}


@scenario
def blind_dns_python_gaierror(n):
    n["app"] = "python"
    tb = ["Traceback (most recent call last):",
          '  File "/srv/app/venv/lib/python3.11/site-packages/urllib3/connection.py", line 203, in _new_conn',
          "    sock = connection.create_connection(",
          '  File "/usr/lib/python3.11/socket.py", line 962, in getaddrinfo',
          "    for res in _socket.getaddrinfo(host, port, family, type, proto, flags):",
          "socket.gaierror: [Errno -3] Temporary failure in name resolution"]
    lines = traffic("python", -900, 60)
    for k, off in enumerate(range(-90, 20, 7)):
        t = EV + off
        lines.append((t, pylog(t, "ERROR", "orders.shipping", "label request failed: urllib3.exceptions.NameResolutionError: <urllib3.connection.HTTPSConnection object at 0x7f3b2c1d%04x>: Failed to resolve 'api.carrier.example' ([Errno -3] Temporary failure in name resolution)" % k, k)))
        lines += [(t, x) for x in tb]
    n["applog"] = lines
    return {"description": "systemd-resolved lost its upstream; Python clients get gaierror -3 (EAI_AGAIN).",
            "expect": expect(("app-dns-failure", "critical"))}


@scenario
def blind_dns_node_eai_again(n):
    n["app"] = "node"
    lines = traffic("node", -900, 60)
    for k, off in enumerate(range(-80, 20, 5)):
        t = EV + off
        lines.append((t, pino(t, 50, "getaddrinfo EAI_AGAIN orders-db.internal", k,
                              err={"type": "Error", "message": "getaddrinfo EAI_AGAIN orders-db.internal",
                                   "stack": "Error: getaddrinfo EAI_AGAIN orders-db.internal\n    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)",
                                   "errno": -3001, "code": "EAI_AGAIN", "syscall": "getaddrinfo", "hostname": "orders-db.internal"})))
    n["applog"] = lines
    return {"description": "A Node service cannot resolve its database host (EAI_AGAIN from getaddrinfo).",
            "expect": expect(("app-dns-failure", "critical"))}


@scenario
def blind_tls_unknown_issuer(n):
    n["app"] = "python"
    m = ("requests.exceptions.SSLError: HTTPSConnectionPool(host='billing.partner.example', port=443): Max retries exceeded with url: /api/v3/invoices "
         "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')))")
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-300, 20, 15), m, "orders.billing")
    return {"description": "The partner rotated to a certificate from a new intermediate it does not send; verification fails. Clock is right.",
            "expect": expect(("app-tls-error", "critical")), "forbid": ["clock-skew", "clock-unsynced"]}


@scenario
def blind_tcp_orphans(n):
    n["dmesg"] = [(-90 + 9 * i, "TCP: too many orphaned sockets") for i in range(10)]
    n["extra_files"] = {"net/sockstat": "sockets: used 70412\nTCP: inuse 1203 orphan 65536 tw 3120 alloc 67012 mem 380211\nUDP: inuse 4 mem 2\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n"}
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-80, 20, 8), "Failed to complete request: org.apache.catalina.connector.ClientAbortException: java.io.IOException: Connection reset by peer", "o.a.c.c.C.[.[localhost].[/].[dispatcherServlet]")
    return {"description": "Clients vanish mid-response; 65 536 orphaned sockets hit tcp_max_orphans and the kernel resets connections.",
            "expect": expect(("tcp-memory", "warning"))}


@scenario
def blind_conntrack_rhel7_messages(n):
    n["dmesg_denied"] = True
    n["conntrack"] = (65536, 65536)
    msgs = [(-2 * DAY, "kernel", "nf_conntrack version 0.5.0 (65536 buckets, 262144 max)"),
            (-3000, "systemd", "Started Session 812 of user root.")]
    msgs += [(-240 + 5 * i, "kernel", "nf_conntrack: table full, dropping packet") for i in range(40)]
    msgs.append((-10, "kernel", "net_ratelimit: 812 callbacks suppressed"))
    n["extra_files"] = {"var/log/messages": syslog(msgs, host="lb01")}
    n["app"] = "go"
    n["applog"] = traffic("go", -900, 60) + errors("go", range(-230, 20, 10), "upstream request failed: dial tcp 10.0.8.21:8443: i/o timeout", "proxy/upstream.go:144")
    return {"description": "CentOS 7 load balancer (dmesg restricted, /var/log/messages): conntrack table full, new flows dropped.",
            "expect": expect(("conntrack-full", "critical"))}


# --- hardware -------------------------------------------------------------------------------

@scenario
def blind_edac_uncorrectable_memory(n):
    n["dmesg"] = [
        (-6 * 3600, "EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x4f2a31 offset:0x0 grain:32 syndrome:0x0 - area:DRAM err_code:0001:0091 socket:0 ha:0 channel_mask:2 rank:1)"),
        (-400, "mce: [Hardware Error]: Machine check events logged"),
        (-400, "EDAC MC0: 312 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x4f2a31 offset:0x0 grain:32 syndrome:0x0 - OVERFLOW area:DRAM err_code:0001:0091 socket:0 ha:0 channel_mask:2 rank:1)"),
        (-61, "mce: [Hardware Error]: CPU 0: Machine Check Exception: 5 Bank 7: be00000000800091"),
        (-61, "mce: [Hardware Error]: RIP !INEXACT! 33:<00007f3a1c2b4e51> "),
        (-61, "mce: [Hardware Error]: TSC 2c1d0e50f3a1 ADDR 4f2a31000 MISC 142000086 "),
        (-61, "mce: [Hardware Error]: PROCESSOR 0:50654 TIME 1795316304 SOCKET 0 APIC 0 microcode 2007006"),
        (-61, "EDAC MC0: 1 UE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x4f2a31 offset:0x0 grain:32 - area:DRAM err_code:0001:0091 socket:0 ha:0 channel_mask:2 rank:1)"),
        (-61, "Memory failure: 0x4f2a31: Sending SIGBUS to java:2210 due to hardware memory corruption"),
        (-61, "Memory failure: 0x4f2a31: recovery action for dirty LRU page: Recovered")]
    n["units"][1].update(NRestarts=1, enter=-50)
    n["applog"] = traffic("java", -900, -62) + [
        (EV - 61, "#"), (EV - 61, "# A fatal error has been detected by the Java Runtime Environment:"), (EV - 61, "#"),
        (EV - 61, "#  SIGBUS (0x7) at pc=0x00007f3a1c2b4e51, pid=2210, tid=2231"), (EV - 61, "#")] + traffic("java", -40, 60)
    return {"description": "A DIMM went bad: corrected errors overflowed, then an uncorrectable error; the kernel sent SIGBUS to the JVM.",
            "expect": expect(("hardware-error", "critical"))}


@scenario
def blind_cpu_thermal_throttling(n):
    n["cpu"] = {"user": 55, "system": 8, "iowait": 0, "steal": 0}
    n["load"] = (3.9, 3.6, 3.1)
    n["dmesg"] = []
    for i in range(6):
        n["dmesg"] += [(-600 + 100 * i, "CPU%d: Core temperature above threshold, cpu clock throttled (total events = %d)" % (i % 4, 88123 + 311 * i)),
                       (-600 + 100 * i, "CPU%d: Package temperature above threshold, cpu clock throttled (total events = %d)" % (i % 4, 91201 + 312 * i))]
    n["dmesg"].append((-40, "mce: CPU1: Package temperature/speed normal"))
    n["applog"] = traffic("java", -900, 60, 10) + errors("java", range(-500, 20, 25), "Slow request: GET /api/orders took 8412 ms (budget 500 ms)", "c.e.orders.web.SlowRequestFilter")
    return {"description": "A failed chassis fan: CPUs throttle their clock on temperature; every request is slow at modest CPU use.",
            "expect": expect(("cpu-thermal-throttle", "warning"))}


# --- systemd --------------------------------------------------------------------------------

@scenario
def blind_start_limit_hit_systemd255(n):
    n["units"][1].update(ActiveState="failed", SubState="failed", Result="start-limit-hit", NRestarts=5, failed_at=-130)
    n["app"] = "go"
    jl = []
    for i in range(5):
        off = -200 + 14 * i
        jl += [(off, "orders-api[%d]" % (7100 + i), "panic: open /etc/orders-api/tls/server.key: permission denied"),
               (off, "systemd[1]", "orders-api.service: Main process exited, code=exited, status=2/INVALIDARGUMENT"),
               (off, "systemd[1]", "orders-api.service: Failed with result 'exit-code'."),
               (off + 5, "systemd[1]", "orders-api.service: Scheduled restart job, restart counter is at %d." % (i + 1))]
    jl += [(-130, "systemd[1]", "orders-api.service: Start request repeated too quickly."),
           (-130, "systemd[1]", "orders-api.service: Failed with result 'exit-code'."),
           (-130, "systemd[1]", "Failed to start orders-api.service - Orders API.")]
    n["extra_files"] = {"cmd/journal.txt": journal(jl, colon=True)}
    n["listen"] = [item for item in n["listen"] if not item[0].endswith(":8080")]
    n["log_path"] = "/var/log/nginx/error.log"
    n["applog"] = errors("nginx-error", range(-120, 20, 4), 'connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.3.{n}, server: api.example.com, request: "GET /api/orders HTTP/1.1", upstream: "http://127.0.0.1:8080/api/orders", host: "api.example.com"')
    return {"description": "Ubuntu 24.04 (systemd 255): a key file lost its permissions; the service crash-looped 5 times, hit the start limit and stays failed.",
            "expect": expect(("unit-failed", "warning"), ("app-connection-refused", "critical"))}


@scenario
def blind_watchdog_kill(n):
    n["units"][1].update(NRestarts=1, enter=-19)
    n["extra_files"] = {"cmd/journal.txt": journal([
        (-52, "systemd[1]", "orders-api.service: Watchdog timeout (limit 30s)!"),
        (-52, "systemd[1]", "orders-api.service: Killing process 2210 (java) with signal SIGABRT."),
        (-50, "systemd[1]", "orders-api.service: Main process exited, code=dumped, status=6/ABRT"),
        (-50, "systemd[1]", "orders-api.service: Failed with result 'watchdog'."),
        (-29, "systemd[1]", "orders-api.service: Scheduled restart job, restart counter is at 1."),
        (-29, "systemd[1]", "Stopped orders-api.service - Orders API."),
        (-29, "systemd[1]", "Starting orders-api.service - Orders API..."),
        (-19, "systemd[1]", "Started orders-api.service - Orders API.")])}
    n["applog"] = traffic("java", -900, -90) + errors("java", range(-88, -52, 6), "Thread starvation or clock leap detected (housekeeper delta=41s).", "com.zaxxer.hikari.pool.HikariPool") + traffic("java", -18, 60)
    return {"description": "The service stopped pinging sd_notify (stuck); systemd's watchdog killed it with SIGABRT and restarted it.",
            "expect": expect(("unit-failed", "warning"))}


# --- changes --------------------------------------------------------------------------------

@scenario
def blind_yum_centos7_upgrade(n):
    n["dpkg"] = []
    n["log_path"] = "/var/log/nginx/error.log"
    n["extra_files"] = {"var/log/yum.log": "".join("%s %s\n" % (rfc3164(EV + off), m) for off, m in [
        (-20 * DAY, "Installed: 1:nginx-1.20.1-10.el7.x86_64"),
        (-9 * DAY, "Updated: tzdata-2025a-1.el7.noarch"),
        (-420, "Updated: 1:openssl-libs-1.0.2k-26.el7_9.x86_64"),
        (-418, "Updated: 1:nginx-filesystem-1.26.1-1.el7.noarch"),
        (-417, "Updated: 1:nginx-1.26.1-1.el7.x86_64")])}
    n["applog"] = errors("nginx-error", range(-400, 20, 20), 'SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 10.0.3.{n}, server: 0.0.0.0:443')
    return {"description": "CentOS 7: yum upgraded nginx and openssl-libs 7 minutes before TLS handshakes from old clients began to fail.",
            "expect": expect(("package-change", "warning"))}


# --- healthy baselines --------------------------------------------------------------------------

@scenario
def baseline_blind_busy_90_cpu(n):
    n["cpus"] = 16
    n["cpu"] = {"user": 78, "system": 12, "iowait": 0, "steal": 1}
    n["procs_running"] = 15
    n["load"] = (14.6, 14.1, 13.8)
    n["psi"]["cpu"] = (9.4, 0.0)
    n["app"] = "python"
    n["ps"] += [(3100 + i, "app", "R", 312000, 610000, 88.0, "-", "gunicorn") for i in range(16)]
    lines = traffic("python", -900, 60, 1)
    lines += [(EV - 400, pylog(EV - 400, "WARNING", "django.security.DisallowedHost", "Invalid HTTP_HOST header: '203.0.113.9'. You may need to add '203.0.113.9' to ALLOWED_HOSTS.")),
              (EV - 200, pylog(EV - 200, "WARNING", "orders.views", "slow query 1.2 s: SELECT ... FROM orders_order WHERE ..."))]
    n["applog"] = lines
    return {"description": "A healthy 16-CPU API node at 90 % CPU by design; small CPU PSI, nothing stalls.", "baseline": True, "expect": []}


@scenario
def baseline_blind_page_cache_heavy(n):
    n["mem_total"] = 65536 * 1024
    n["mem_free"] = 180 * 1024
    n["mem_avail"] = 48100 * 1024
    n["cached"] = 50200 * 1024
    n["swap_total"] = 4096 * 1024
    n["swap_free"] = 3900 * 1024
    n["meminfo_set"] = {"Active(file)": 21000 * 1024, "Inactive(file)": 28800 * 1024, "Dirty": 41234}
    n["vm_delta"] = {"pgmajfault": 2}
    return {"description": "A file server with 49 GB of page cache: MemFree 0.3 %, MemAvailable 73 %, a little old swap, no paging.",
            "baseline": True, "expect": []}


@scenario
def baseline_blind_db_time_wait(n):
    n["listen"].append(("0.0.0.0:5432", 0, 244, "postgres", 900))
    n["tan_gen"] = ('BEGIN { for (i = 0; i < 21000; i++) printf "TIME-WAIT  0      0      10.0.2.15:5432 10.0.1.%d:%d\\n", 10 + i % 40, 32768 + (i * 7) % 28000 }\n')
    n["tw"] = 21000
    n["log_path"] = "/var/log/postgresql/postgresql-16-main.log"
    n["app"] = "raw"
    n["applog"] = [(EV + off, pg(EV + off, 18000 + off % 97, "app@orders", "LOG", "duration: 1203.331 ms  statement: SELECT * FROM order_lines WHERE order_id = ANY($1)"))
                   for off in range(-600, 60, 120)] + [(EV - 300, pg(EV - 300, 18233, "app@orders", "LOG", "could not receive data from client: Connection reset by peer"))]
    return {"description": "A healthy PostgreSQL node whose backends close first: 21 000 TIME-WAIT on its own port 5432 (no ephemeral ports used).",
            "baseline": True, "expect": []}


@scenario
def baseline_blind_old_incidents(n):
    n["oom_kill"] = 1
    n["dmesg"] = [(-3 * DAY, m) for m in OLD_OOM] + [
        (-2 * DAY, "sd 1:0:0:0: [sdb] tag#12 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s"),
        (-2 * DAY, "I/O error, dev sdb, sector 412331208 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2"),
        (-6 * 3600, "TCP: request_sock_TCP: Possible SYN flooding on port *:443. Sending cookies.  Check SNMP counters.")]
    n["extra_files"] = {"var/log/syslog": syslog([(-3 * DAY, "kernel", m) for m in OLD_OOM] + [(-3600, "systemd[1]", "Started logrotate.service - Rotate log files.")])}
    lines = [(EV - DAY + k * 30, java_line(EV - DAY + k * 30, "ERROR", "com.zaxxer.hikari.pool.HikariPool", "HikariPool-1 - Connection is not available, request timed out after 30000ms.")) for k in range(20)]
    n["applog"] = lines + traffic("java", -900, 60)
    return {"description": "Healthy now; an OOM kill 3 days ago, disk errors 2 days ago, SYN cookies 6 h ago, DB pool errors yesterday.",
            "baseline": True, "expect": []}


# --- round 2: written after the first fixes, as a holdout (other wordings and sources) -----------

@scenario
def blind2_go_fork_exec_eagain(n):
    n["app"] = "go"
    n["applog"] = traffic("go", -900, 60) + errors("go", range(-100, 20, 6), "transcode failed: fork/exec /usr/bin/ffmpeg: resource temporarily unavailable", "media/transcode.go:77")
    n["dmesg"] = [(-101, "cgroup: fork rejected by pids controller in /system.slice/media-worker.service")]
    return {"description": "The Go worker's unit hit TasksMax (pids cgroup): fork/exec fails with EAGAIN, the kernel logs the rejection.",
            "expect": expect(("app-process-limit", "critical")), "forbid": ["app-out-of-memory", "oom-kill"]}


@scenario
def blind2_java_inotify_user_limit(n):
    trace = ["java.io.IOException: User limit of inotify watches reached",
             "\tat java.base/sun.nio.fs.LinuxWatchService$Poller.implRegister(LinuxWatchService.java:264)",
             "\tat java.base/sun.nio.fs.AbstractPoller.processRequests(AbstractPoller.java:262)"]
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-90, 20, 10), "Failed to register config watcher for /etc/orders-api/conf.d", "c.e.orders.config.ConfigWatcher", trace)
    return {"description": "The JVM's WatchService cannot add watches: fs.inotify.max_user_watches used up by another process.",
            "expect": expect(("app-inotify-limit", "warning")), "forbid": ["disk-full", "app-disk-full", "app-too-many-open-files"]}


@scenario
def blind2_uwsgi_listen_queue_full(n):
    n["app"] = "raw"
    n["log_path"] = "/var/log/uwsgi/app/orders.log"
    lines = [(EV - 3600, "Sat Nov 21 02:12:45 2026 - *** Operational MODE: preforking ***")]
    for k, off in enumerate(range(-150, 20, 5)):
        t = EV + off
        lines.append((t, "%s - *** uWSGI listen queue of socket \"127.0.0.1:3031\" (fd: 3) full !!! (101/100) ***" % _d(t).strftime("%a %b %d %H:%M:%S %Y")))
    n["applog"] = lines
    return {"description": "All uWSGI workers are busy; the socket's listen queue (100) overflows.",
            "expect": expect(("app-worker-limit", "warning"))}


@scenario
def blind2_thermal_journal_k(n):
    n["dmesg_denied"] = True
    kl = [(-2 * DAY, "kernel", "Linux version 6.8.0-48-generic (buildd@lcy02-amd64-010) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0, GNU ld (GNU Binutils for Ubuntu) 2.42) #48-Ubuntu SMP PREEMPT_DYNAMIC Fri Sep 27 14:04:52 UTC 2024")]
    for i in range(8):
        kl.append((-480 + 60 * i, "kernel", "CPU%d: Package temperature is above threshold, cpu clock is throttled (total events = %d)" % (i % 8, 1203 + 17 * i)))
        kl.append((-480 + 60 * i, "kernel", "CPU%d: Core temperature is above threshold, cpu clock is throttled (total events = %d)" % (i % 8, 1190 + 17 * i)))
    n["extra_files"] = {"cmd/journal-k.txt": journal(kl, colon=True)}
    n["applog"] = traffic("java", -900, 60, 10) + errors("java", range(-400, 20, 30), "Slow request: GET /api/orders took 6120 ms (budget 500 ms)", "c.e.orders.web.SlowRequestFilter")
    return {"description": "Ubuntu 24.04, dmesg restricted: journalctl -k shows the CPUs throttling on temperature (6.x wording).",
            "expect": expect(("cpu-thermal-throttle", "warning"))}


@scenario
def blind2_nfs_soft_timed_out_recovered(n):
    n["dmesg_denied"] = True
    msgs = [(-4 * DAY, "kernel", "nfs: server filer02.example.com not responding, timed out"),
            (-4 * DAY + 60, "kernel", "nfs: server filer02.example.com OK"),
            (-300, "kernel", "nfs: server filer02.example.com not responding, timed out"),
            (-250, "kernel", "nfs: server filer02.example.com not responding, timed out"),
            (-40, "kernel", "nfs: server filer02.example.com OK")]
    n["extra_files"] = {"var/log/messages": syslog(msgs, host="app03")}
    n["applog"] = traffic("java", -900, 60) + errors("java", range(-290, -40, 20), "Could not read /mnt/shared/templates/invoice.ftl: java.io.IOException: Input/output error", "c.e.orders.pdf.Templates")
    return {"description": "A soft NFS mount timed out for 4 minutes (EIO to readers), then the filer answered again 40 s before.",
            "expect": expect(("nfs-unresponsive", "warning"))}


@scenario
def blind2_elasticsearch_flood_stage(n):
    n["app"] = "python"
    m = ("elasticsearch.exceptions.AuthorizationException: AuthorizationException(403, 'cluster_block_exception', "
         "'index [orders-2026.11.21] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];')")
    n["applog"] = traffic("python", -900, 60) + errors("python", range(-200, 20, 9), m, "orders.search.indexer")
    return {"description": "The Elasticsearch cluster's disks passed the flood-stage watermark; indices are read-only, indexing fails.",
            "expect": expect(("app-datastore-full", "warning")), "forbid": ["disk-full", "app-permission-denied"]}


@scenario
def blind2_dev_shm_full_postgres(n):
    n["mounts"].append(("shm", "/dev/shm", "tmpfs", "rw,nosuid,nodev,noexec,relatime,size=65536k,inode64"))
    n["df"].append(("shm", 65536, 100))
    n["dfi"].append(("shm", 2041234, 1))
    n["log_path"] = "/var/log/postgresql/postgresql-16-main.log"
    n["app"] = "raw"
    n["applog"] = [(EV + off, pg(EV + off, 18100 + k, "report@orders", "ERROR", "could not resize shared memory segment \"/PostgreSQL.%d\" to 8388608 bytes: No space left on device" % (1203312 + k)))
                   for k, off in enumerate(range(-120, 20, 8))]
    return {"description": "PostgreSQL in a container with the default 64 MB /dev/shm: parallel queries cannot size their DSM segments.",
            "expect": expect(("disk-full", "critical"))}


@scenario
def blind2_tomcat7_max_threads(n):
    n["log_path"] = "/var/log/tomcat7/catalina.out"
    n["app"] = "raw"
    lines = [(EV - 5 * 3600, "Nov 21, 2026 10:12:45 PM org.apache.catalina.startup.Catalina start"),
             (EV - 5 * 3600, "INFO: Server startup in 8123 ms")]
    t = EV - 140
    lines += [(t, "%s org.apache.tomcat.util.net.JIoEndpoint createWorkerThread" % _d(t).strftime("%b %d, %Y %I:%M:%S %p")),
              (t, "INFO: Maximum number of threads (200) created for connector with address null and port 8080")]
    for k, off in enumerate(range(-120, 20, 15)):
        t = EV + off
        lines += [(t, "%s org.apache.catalina.core.StandardWrapperValve invoke" % _d(t).strftime("%b %d, %Y %I:%M:%S %p")),
                  (t, "SEVERE: Servlet.service() for servlet [dispatcher] in context with path [] threw exception [Request processing failed; nested exception is org.springframework.dao.QueryTimeoutException: PreparedStatementCallback; SQL [select ...]; Query timed out] with root cause")]
    n["applog"] = lines
    return {"description": "Tomcat 7 (CentOS 7, java.util.logging format) reached maxThreads 200 behind slow queries.",
            "expect": expect(("app-worker-limit", "warning"))}


@scenario
def blind2_edac_ce_rhel7_messages(n):
    n["dmesg_denied"] = True
    msgs = [(-1800 + 120 * i, "kernel", "EDAC MC0: 1 CE error on CPU#0Channel#1_DIMM#0 (channel:1 slot:0 page:0x0 offset:0x0 grain:8 syndrome:0x0)") for i in range(12)]
    msgs += [(-700, "kernel", "mce: [Hardware Error]: Machine check events logged")]
    n["extra_files"] = {"var/log/messages": syslog(msgs, host="db02")}
    n["applog"] = traffic("java", -900, 60)
    return {"description": "CentOS 7 node logging a stream of corrected memory errors on one DIMM: replace it before it fails.",
            "expect": expect(("hardware-error", "warning"))}


@scenario
def baseline_blind2_k8s_tmpfs_volumes(n):
    for i in range(4):
        mnt = "/var/lib/kubelet/pods/4f1a%04x-1d2b-4c5e-8f90-a1b2c3d4e5f6/volumes/kubernetes.io~projected/kube-api-access-%05x" % (i, i * 4099)
        n["mounts"].append(("tmpfs", mnt, "tmpfs", "rw,relatime,size=16384k,inode64"))
        n["df"].append(("tmpfs", 16384, 100 if i % 2 else 1))
        n["dfi"].append(("tmpfs", 4096, 1))
    n["mounts"].append(("tmpfs", "/run/credentials/systemd-journald.service", "tmpfs", "ro,nosuid,nodev,noexec,relatime,nosymfollow,size=1024k,nr_inodes=1024,mode=700,inode64,noswap"))
    n["df"].append(("tmpfs", 1024, 100))
    n["dfi"].append(("tmpfs", 1024, 1))
    n["mounts"].append(("tmpfs", "/dev/shm", "tmpfs", "rw,nosuid,nodev,inode64"))
    n["df"].append(("tmpfs", 8192000, 3))
    n["dfi"].append(("tmpfs", 2041234, 1))
    n["dmesg"] = [(-3 * 3600, "mce: CPU1: Package temperature/speed normal"),
                  (-9 * DAY, "nfs: server nfs01.example.com not responding, still trying"), (-9 * DAY + 30, "nfs: server nfs01.example.com OK")]
    n["applog"] = traffic("java", -900, 60) + [(EV - 200, java_line(EV - 200, "WARN", "o.s.b.d.a.OptionalLiveReloadServer", "Unable to start LiveReload server"))]
    return {"description": "A healthy Kubernetes node: tiny tmpfs volumes and credentials at 100 % by design, /dev/shm nearly empty, old NFS hiccup.",
            "baseline": True, "expect": []}


@scenario
def baseline_blind2_php_busy_pool(n):
    n["app"] = "raw"
    n["log_path"] = "/var/log/php8.2-fpm.log"
    lines = [(EV - 2 * DAY, fpm(EV - 2 * DAY, "NOTICE", "fpm is running, pid 911")),
             (EV - 5 * 3600, fpm(EV - 5 * 3600, "WARNING", "[pool www] server reached pm.max_children setting (20), consider raising it"))]
    for off in range(-800, 60, 90):
        lines.append((EV + off, fpm(EV + off, "NOTICE", "[pool www] child %d started" % (6100 + off % 997))))
    n["applog"] = lines
    return {"description": "A healthy PHP node: pm.max_children was reached once 5 h ago, children recycle normally now.",
            "baseline": True, "expect": []}
