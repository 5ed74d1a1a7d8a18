"""Writes the scenario corpus (tests/scenarios/<name>/) from one node model.

Authoring aid, not a test: run `python tests/scenarios/build_corpus.py` after editing a
scenario below; the data files it writes are what the tests read. Every scenario is a
node model (a healthy node plus the incident's changes) rendered into real file layouts:
/proc (layouts from _templates/, captured from a live 6.x kernel), raw dmesg lines with
seconds since boot, ss/ps/df/systemctl/timedatectl/chronyc output, dpkg/apt/dnf logs,
Puppet's last_run_summary.yaml/last_run_report.yaml and application logs in the formats
of logback (Java), Python logging, Node (pino/winston), Go and nginx.
_base/ is the healthy node; each scenario directory keeps only the files that differ.
"""
import copy
import datetime as dt
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "_templates")
EV = int(dt.datetime(2026, 11, 21, 3, 12, 45, tzinfo=dt.timezone.utc).timestamp())
DAY = 86400


def iso(t, sep="T", frac=None, zone=""):
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    s = d.strftime("%Y-%m-%d" + sep + "%H:%M:%S")
    if frac:
        s += frac
    return s + zone


# --- the node model -------------------------------------------------------------------

def healthy():
    return {
        "uptime": 23 * DAY + 4711, "cpus": 4,
        "cpu": {"user": 18, "system": 6, "iowait": 1, "steal": 0},  # % of the interval
        "procs_running": 2, "procs_blocked": 0,
        "load": (0.82, 0.91, 0.88), "threads": 412, "pid_max": 4194304, "threads_max": 126858,
        "mem_total": 16384 * 1024, "mem_avail": 9100 * 1024, "mem_free": 2100 * 1024, "cached": 6500 * 1024,
        "swap_total": 2048 * 1024, "swap_free": 2000 * 1024,
        "vm_delta": {"pswpin": 0, "pswpout": 0, "pgmajfault": 3}, "oom_kill": 0,
        "psi": {"cpu": (1.2, 0.9), "memory": (0.0, 0.0), "io": (0.4, 0.1)},  # (some avg10, full avg10)
        "disks": {"sda": {"util": 6, "iops": 40, "await": 0.8, "queue": 0}, "sdb": {"util": 3, "iops": 12, "await": 0.6, "queue": 0}},
        "file_nr": (3264, 1632048), "conntrack": (4210, 262144), "port_range": (32768, 60999),
        "netstat_delta": {}, "tw": 180,
        "mounts": [("/dev/sda1", "/", "ext4", "rw,relatime,errors=remount-ro"), ("/dev/sda15", "/boot/efi", "vfat", "rw,relatime"),
                   ("/dev/sdb1", "/srv/data", "ext4", "rw,relatime")],
        "df": [("/dev/sda1", 51474912, 41), ("/dev/sda15", 106858, 6), ("/dev/sdb1", 206293688, 37)],
        "dfi": [("/dev/sda1", 3276800, 9), ("/dev/sda15", 0, 0), ("/dev/sdb1", 13107200, 2)],
        "ps": default_ps(), "listen": default_listen(), "conns": default_conns(), "tan_gen": None,
        "dmesg": [], "units": default_units(), "clock": {"synced": True, "offset": 0.000021, "chrony": True},
        "applog": None, "app": "java", "log_path": "/var/log/app/app.log",
        "dpkg": [(-9 * DAY, "upgrade", "tzdata:all", "2024a-0+deb12u1", "2025b-0+deb12u1")],
        "dnf": [], "puppet": {"last_run": -23 * 60, "changed": [], "failed": [], "status": "unchanged"},
        "resolv": ["10.0.0.2", "10.0.0.3"],
    }


def default_ps():
    return [
        (1, "root", "Ss", 12800, 168000, 0.0, "ep_poll", "systemd"),
        (412, "root", "Ss", 48000, 90000, 0.0, "ep_poll", "systemd-journal"),
        (655, "root", "Ss", 7800, 15400, 0.0, "do_select", "sshd"),
        (702, "root", "Ssl", 38000, 1250000, 0.1, "futex_wait_queue", "puppet"),
        (1180, "redis", "Ssl", 14200, 67000, 0.2, "ep_poll", "redis-server"),
        (1422, "www-data", "S", 9800, 55000, 0.3, "ep_poll", "nginx"),
        (1423, "www-data", "S", 9900, 55000, 0.3, "ep_poll", "nginx"),
        (2210, "app", "Ssl", 2411000, 6210000, 22.5, "futex_wait_queue", "java"),
        (2890, "root", "Ssl", 61000, 1420000, 0.4, "ep_poll", "node_exporter"),
        (3011, "root", "I", 0, 0, 0.0, "worker_thread", "kworker/1:2"),
    ]


def default_listen():
    return [("0.0.0.0:22", 0, 128, "sshd", 655), ("0.0.0.0:80", 0, 511, "nginx", 1422), ("0.0.0.0:443", 0, 511, "nginx", 1422),
            ("127.0.0.1:6379", 0, 511, "redis-server", 1180), ("*:8080", 0, 100, "java", 2210), ("*:9100", 0, 4096, "node_exporter", 2890)]


def default_conns():
    c = []
    for i in range(12):
        c.append(("ESTAB", "10.0.1.10:%d" % (41230 + i), "10.0.2.15:5432"))
    for i in range(30):
        c.append(("ESTAB", "10.0.1.10:443", "198.51.100.%d:%d" % (20 + i, 50100 + i)))
    for i in range(6):
        c.append(("ESTAB", "127.0.0.1:%d" % (39000 + i), "127.0.0.1:6379"))
    for i in range(40):
        c.append(("TIME-WAIT", "127.0.0.1:%d" % (45000 + i), "127.0.0.1:8080"))
    return c


def default_units():
    return [
        {"Id": "nginx.service", "ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": 0, "enter": 9},
        {"Id": "orders-api.service", "ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": 0, "enter": 14},
        {"Id": "redis-server.service", "ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": 0, "enter": 8},
        {"Id": "puppet.service", "ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": 0, "enter": 10},
        {"Id": "ssh.service", "ActiveState": "active", "SubState": "running", "Result": "success", "NRestarts": 0, "enter": 7},
        {"Id": "apt-daily.service", "ActiveState": "inactive", "SubState": "dead", "Result": "success", "NRestarts": 0, "enter": 0},
    ]


# --- application logs ------------------------------------------------------------------

def java_line(t, level, logger, msg, thread="http-nio-8080-exec-3"):
    return "%s %-5s 2210 --- [%s] %s : %s" % (iso(t, " ", ",%03d" % ((t * 7) % 1000)), level, thread, logger, msg)


def traffic(app, start, end, step=7):
    """Healthy request lines of the application between start and end (relative to EV)."""
    out = []
    paths = ["/api/orders", "/api/orders/{id}", "/api/cart", "/healthz", "/api/payments"]
    for i, off in enumerate(range(start, end, step)):
        t = EV + off
        p = paths[i % len(paths)].replace("{id}", str(100000 + i * 37))
        ms = 8 + (i * 13) % 90
        if app == "java":
            out.append((t, java_line(t, "INFO", "c.e.orders.web.RequestLog", "GET %s 200 %dms" % (p, ms), "http-nio-8080-exec-%d" % (i % 10 + 1))))
        elif app == "python":
            out.append((t, "%s INFO [orders.views] GET %s 200 in %d ms" % (iso(t, " ", ",%03d" % (i * 31 % 1000)), p, ms)))
        elif app == "node":
            out.append((t, json.dumps({"level": 30, "time": (t * 1000) + i % 1000, "pid": 2210, "hostname": "web01",
                                       "req": {"method": "GET", "url": p}, "res": {"statusCode": 200}, "responseTime": ms,
                                       "msg": "request completed"})))
        elif app == "go":
            out.append((t, '{"level":"info","ts":"%s","caller":"server/http.go:112","msg":"request","method":"GET","path":"%s","status":200,"duration_ms":%d}'
                        % (iso(t, "T", ".%03d" % (i * 17 % 1000), "Z"), p, ms)))
        elif app == "nginx":
            out.append((t, '10.0.3.%d - - [%s +0000] "GET %s HTTP/1.1" 200 %d "-" "okhttp/4.12.0" %0.3f'
                        % (i % 200, dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S"), p, 512 + i, ms / 1000)))
    return out


def errors(app, offsets, msg, logger="c.e.orders.service.OrderService", extra=None):
    """Error lines (with a stack trace for Java) at EV + each offset."""
    out = []
    for k, off in enumerate(offsets):
        t = EV + off
        m = msg.replace("{n}", str(1000 + k * 7)).replace("{id}", "%08x-4f1a-4c2b-9d3e-%012x" % (k * 2654435761 % 2**32, k * 97))
        if app == "java":
            out.append((t, java_line(t, "ERROR", logger, m, "http-nio-8080-exec-%d" % (k % 10 + 1))))
            for frame in extra or []:
                out.append((t, frame))
        elif app == "python":
            out.append((t, "%s ERROR [%s] %s" % (iso(t, " ", ",%03d" % (k * 13 % 1000)), logger, m)))
            for frame in extra or []:
                out.append((t, frame))
        elif app == "node":
            out.append((t, json.dumps({"level": 50, "time": t * 1000 + k, "pid": 2210, "hostname": "web01", "msg": m})))
        elif app == "go":
            out.append((t, '{"level":"error","ts":"%s","caller":"%s","msg":%s}' % (iso(t, "T", ".%03d" % (k * 3 % 1000), "Z"), logger, json.dumps(m))))
        elif app == "nginx-error":
            out.append((t, "%s [error] 1423#1423: *%d %s" % (dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y/%m/%d %H:%M:%S"), 88000 + k, m)))
        elif app == "raw":
            out.append((t, m))
    return out


# --- rendering -------------------------------------------------------------------------

def tmpl(name):
    return open(os.path.join(TEMPLATES, name)).read()


def render_stat(n, sample, btime):
    total = 100 * n["cpus"]  # jiffies in a 1 s interval
    c = n["cpu"]
    user, system, iow, steal = (int(total * c[k] / 100) for k in ("user", "system", "iowait", "steal"))
    idle = max(0, total - user - system - iow - steal)
    base = n.get("boot_counters") or [5231120, 1203, 1290331, 88123456, 40210, 0, 12033, 5120]
    if sample == 2:
        base = [base[0] + user, base[1], base[2] + system, base[3] + idle, base[4] + iow, 0, base[6], base[7] + steal]
    lines = ["cpu  %d %d %d %d %d %d %d %d 0 0" % tuple(base)]
    for i in range(n["cpus"]):
        lines.append("cpu%d %d %d %d %d %d %d %d %d 0 0" % ((i,) + tuple(v // n["cpus"] for v in base)))
    lines += ["intr 2890331123 12 9 0 0", "ctxt 5123301211", "btime %d" % btime, "processes 8123301",
              "procs_running %d" % n["procs_running"], "procs_blocked %d" % n["procs_blocked"], "softirq 1203123 0 1 2 3 4 5 6 7 8 9"]
    return "\n".join(lines) + "\n"


def render_vmstat(n, sample):
    out = []
    d = n["vm_delta"]
    for line in tmpl("vmstat").splitlines():
        k, v = line.split()
        v = int(v)
        if k in ("pswpin", "pswpout", "pgmajfault"):
            v = {"pswpin": 120331, "pswpout": 230112, "pgmajfault": 1203311}[k] + (d.get(k, 0) if sample == 2 else 0)
        if k == "oom_kill":
            v = n["oom_kill"]
        out.append("%s %d" % (k, v))
    return "\n".join(out) + "\n"


def render_meminfo(n):
    vals = {"MemTotal": n["mem_total"], "MemFree": n["mem_free"], "MemAvailable": n["mem_avail"], "Cached": n["cached"],
            "SwapTotal": n["swap_total"], "SwapFree": n["swap_free"], "Dirty": 2048, "Writeback": 0}
    vals.update(n.get("meminfo_set", {}))  # any other /proc/meminfo field (kB)
    out = []
    for line in tmpl("meminfo").splitlines():
        k = line.split(":")[0]
        if k in vals:
            out.append("%-16s%8d kB" % (k + ":", vals[k]))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def render_diskstats(n, sample):
    lines = []
    for minor, name in enumerate(["loop0", "loop1"]):
        lines.append("   7       %d %s 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0" % (minor, name))
    for i, (name, d) in enumerate(sorted(n["disks"].items())):
        reads, writes = 18123301 + i, 40213399 + i
        rt, wt, ticks = 9012331, 30123311, 51234123
        if sample == 2:
            r = d["iops"] // 3
            w = d["iops"] - r
            reads, writes = reads + r, writes + w
            rt, wt = rt + int(r * d["await"]), wt + int(w * d["await"])
            ticks += int(10 * d["util"])
        major = 8
        lines.append("   %d      %d %s %d 1203 912331231 %d %d 8831 1203312312 %d %d %d %d 0 0 0 0 0 0"
                     % (major, i * 16, name, reads, rt, writes, wt, d["queue"], ticks, rt + wt))
        lines.append("   %d      %d %s1 %d 1203 912331231 %d %d 8831 1203312312 %d 0 %d %d 0 0 0 0 0 0"
                     % (major, i * 16 + 1, name, reads, rt, writes, wt, ticks, rt + wt))
    return "\n".join(lines) + "\n"


def render_netstat(n, sample):
    lines = tmpl("netstat").splitlines()
    out = []
    for i in range(0, len(lines), 2):
        hdr, val = lines[i].split(), lines[i + 1].split()
        vals = []
        for k, v in zip(hdr[1:], val[1:]):
            v = int(v)
            if hdr[0] == "TcpExt:" and k in ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPTimeWaitOverflow"):
                v = {"ListenOverflows": 1203, "ListenDrops": 1203, "TCPReqQFullDrop": 0, "TCPTimeWaitOverflow": 0}[k]
                if sample == 2:
                    v += n["netstat_delta"].get(k, 0)
            vals.append(str(v))
        out += [lines[i], hdr[0] + " " + " ".join(vals)]
    return "\n".join(out) + "\n"


def render_psi(some, full, with_full=True):
    s = "some avg10=%.2f avg60=%.2f avg300=%.2f total=%d\n" % (some, some * 0.8, some * 0.5, int(some * 1e8) + 1203312)
    if with_full:
        s += "full avg10=%.2f avg60=%.2f avg300=%.2f total=%d\n" % (full, full * 0.8, full * 0.5, int(full * 1e8) + 403312)
    return s


def render_mounts(n):
    lines = ["sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0", "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
             "udev /dev devtmpfs rw,nosuid,relatime,size=8123312k,nr_inodes=2030828,mode=755 0 0",
             "tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1638404k,mode=755 0 0"]
    for dev, mnt, fs, opts in n["mounts"]:
        lines.append("%s %s %s %s 0 0" % (dev, mnt, fs, opts))
    lines.append("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0")
    return "\n".join(lines) + "\n"


def render_ps(n):
    out = ["    PID USER     STAT   RSS    VSZ %CPU %MEM     ELAPSED WCHAN                    COMMAND"]
    total = n["mem_total"]
    for pid, user, stat, rss, vsz, cpu, wchan, comm in sorted(n["ps"], key=lambda r: -r[3]):
        out.append("%7d %-8s %-4s %6d %7d %4.1f %4.1f %11s %-24s %s" % (pid, user, stat, rss, vsz, cpu, 100.0 * rss / total, "23-01:18:31", wchan, comm))
    return "\n".join(out) + "\n"


def render_listen(n):
    out = ["Netid State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess"]
    for local, rq, sq, proc, pid in n["listen"]:
        out.append('tcp   LISTEN %-6d %-6d %18s %17s users:(("%s",pid=%d,fd=6))' % (rq, sq, local, "0.0.0.0:*", proc, pid))
    return "\n".join(out) + "\n"


def render_tan(n):
    out = ["State      Recv-Q Send-Q   Local Address:Port    Peer Address:Port Process"]
    for local, rq, sq, _proc, _pid in n["listen"]:
        out.append("LISTEN     %-6d %-6d %18s %17s" % (rq, sq, local, "0.0.0.0:*"))
    for state, local, peer in n["conns"]:
        out.append("%-10s 0      0      %18s %17s" % (state, local, peer))
    return "\n".join(out) + "\n"


def render_df(n, inodes=False):
    if inodes:
        out = ["Filesystem        Inodes   IUsed    IFree IUse% Mounted on"]
        for (dev, total, pct), (_d, mnt, _f, _o) in zip(n["dfi"], n["mounts"]):
            if total == 0:
                out.append("%-15s %8s %7s %8s %4s %s" % (dev, 0, 0, 0, "-", mnt))
                continue
            used = total * pct // 100
            out.append("%-15s %8d %7d %8d %4d%% %s" % (dev, total, used, total - used, pct, mnt))
    else:
        out = ["Filesystem     1024-blocks      Used Available Capacity Mounted on"]
        for (dev, total, pct), (_d, mnt, _f, _o) in zip(n["df"], n["mounts"]):
            used = total * pct // 100
            out.append("%-15s %11d %9d %9d %7d%% %s" % (dev, total, used, total - used, pct, mnt))
    return "\n".join(out) + "\n"


BOOT_DMESG = [
    (0.000000, "Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)"),
    (0.000000, "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID=2f1c1d0e-8a44-4f5e-9c1b-0d2a6f0c9a11 ro quiet"),
    (0.412331, "ACPI: Core revision 20220331"),
    (1.203311, "EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none."),
    (2.801223, "systemd[1]: systemd 252.30-1~deb12u2 running in system mode"),
    (3.912331, "EXT4-fs (sdb1): mounted filesystem with ordered data mode. Quota mode: none."),
    (5.120331, "e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx"),
    (7.331201, "nf_conntrack: default automatic helper assignment has been turned off for security reasons and CT-based firewall rule not found. Use the iptables CT target to attach helpers instead."),
]


def render_dmesg(n, btime):
    lines = []
    for rel, msg in BOOT_DMESG:
        lines.append((rel, msg))
    for off, msg in n["dmesg"]:
        rel = EV + off - btime
        if rel > 8:
            lines.append((rel + (len(msg) * 7919 % 1000) / 1e6, msg))
    lines.sort(key=lambda r: r[0])
    return "".join("[%12.6f] %s\n" % (rel, msg) for rel, msg in lines)


def render_units(n, btime):
    blocks = []
    for u in n["units"]:
        enter = u.get("enter", 0)
        enter_abs = EV + enter if enter < -1 else btime + max(enter, 1)
        mono_enter = int((enter_abs - btime) * 1e6) if u["ActiveState"] != "inactive" else 0
        inactive = u.get("failed_at")
        mono_inactive = int((EV + inactive - btime) * 1e6) if inactive is not None else 0
        blocks.append("\n".join([
            "Id=%s" % u["Id"], "ActiveState=%s" % u["ActiveState"], "SubState=%s" % u["SubState"], "Result=%s" % u["Result"],
            "NRestarts=%d" % u["NRestarts"], "ActiveEnterTimestampMonotonic=%d" % mono_enter,
            "InactiveEnterTimestampMonotonic=%d" % mono_inactive]))
    return "\n\n".join(blocks) + "\n"


def render_timedatectl(n):
    c = n["clock"]
    local = dt.datetime.fromtimestamp(EV + 30, dt.timezone.utc).strftime("%a %Y-%m-%d %H:%M:%S")
    return ("               Local time: %s UTC\n           Universal time: %s UTC\n                 RTC time: %s\n"
            "                Time zone: Etc/UTC (UTC, +0000)\nSystem clock synchronized: %s\n              NTP service: active\n"
            "          RTC in local TZ: no\n") % (local, local, local[4:], "yes" if c["synced"] else "no")


def render_chronyc(n):
    c = n["clock"]
    off = c["offset"]
    return ("Reference ID    : 0A000002 (10.0.0.2)\nStratum         : 3\nRef time (UTC)  : Sat Nov 21 03:01:12 2026\n"
            "System time     : %.9f seconds %s of NTP time\nLast offset     : +0.000012113 seconds\n"
            "RMS offset      : 0.000031022 seconds\nFrequency       : 12.331 ppm slow\nResidual freq   : +0.001 ppm\n"
            "Skew            : 0.031 ppm\nRoot delay      : 0.001231022 seconds\nRoot dispersion : 0.000412311 seconds\n"
            "Update interval : 1031.2 seconds\nLeap status     : %s\n") % (abs(off), "fast" if off >= 0 else "slow",
                                                                         "Normal" if c["synced"] else "Not synchronised")


def render_puppet(n):
    p = n["puppet"]
    t = EV + p["last_run"]
    changed = len(p["changed"])
    summary = """---
version:
  config: "production-8f3c2a1e"
  puppet: 7.34.0
resources:
  changed: %d
  corrective_change: 0
  failed: %d
  failed_to_restart: 0
  out_of_sync: %d
  restarted: %d
  scheduled: 0
  skipped: 0
  total: 487
time:
  anchor: 0.000311
  catalog_application: 9.123311
  config_retrieval: 2.331201
  convert_catalog: 0.412331
  exec: 0.231102
  file: 1.120331
  package: 0.912331
  service: 0.331203
  startup_time: 0.512331
  total: 14.203311
  transaction_evaluation: 8.812331
  last_run: %d
changes:
  total: %d
events:
  failure: %d
  success: %d
  total: %d
""" % (changed, len(p["failed"]), changed + len(p["failed"]), sum(1 for r in p["changed"] if r.startswith("Service")),
       t, changed, len(p["failed"]), changed, changed + len(p["failed"]))
    report = ["--- !ruby/object:Puppet::Transaction::Report", "host: web01.example.com",
              "time: '%s'" % iso(t, "T", ".123311", "+00:00"), "configuration_version: production-8f3c2a1e",
              "transaction_uuid: 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "report_format: 12", "puppet_version: 7.34.0",
              "status: %s" % p["status"], "noop: false", "noop_pending: false", "environment: production", "logs:"]
    for r in p["changed"]:
        report += ["- level: notice", "  message: changed", "  source: %s" % r, "  tags: []", "  time: '%s'" % iso(t, "T", ".2", "+00:00")]
    report.append("resource_statuses:")
    for r in ["File[/etc/motd]", "Package[openssh-server]"] + p["changed"] + p["failed"]:
        kind, title = r.split("[", 1)
        report += ["  %s:" % r, "    title: \"%s\"" % title.rstrip("]"), "    file: \"/etc/puppetlabs/code/environments/production/site-modules/profile/manifests/app.pp\"",
                   "    line: 42", "    resource: %s" % r, "    resource_type: %s" % kind, "    provider_used: ",
                   "    containment_path:", "    - Stage[main]", "    - Profile::App", "    - %s" % r,
                   "    evaluation_time: 0.012331", "    tags:", "    - %s" % kind.lower(), "    time: '%s'" % iso(t, "T", ".3", "+00:00"),
                   "    failed: %s" % ("true" if r in p["failed"] else "false"),
                   "    failed_to_restart: false",
                   "    changed: %s" % ("true" if r in p["changed"] else "false"),
                   "    out_of_sync: %s" % ("true" if r in p["changed"] + p["failed"] else "false"),
                   "    skipped: false", "    change_count: %d" % (1 if r in p["changed"] else 0),
                   "    out_of_sync_count: %d" % (1 if r in p["changed"] + p["failed"] else 0), "    events: []", "    corrective_change: false"]
    report += ["cached_catalog_status: not_used", "catalog_uuid: 9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4", "server_used: puppet.example.com:8140"]
    return summary, "\n".join(report) + "\n"


def render_dpkg(n):
    out = []
    for off, action, pkg, old, new in sorted(n["dpkg"]):
        t = EV + off
        out.append("%s startup archives unpack" % iso(t, " "))
        out.append("%s %s %s %s %s" % (iso(t, " "), action, pkg, old, new))
        out.append("%s status half-configured %s %s" % (iso(t + 2, " "), pkg, new))
        out.append("%s status installed %s %s" % (iso(t + 3, " "), pkg, new))
    return "\n".join(out) + "\n"


def render_apt_history(n):
    groups = {}
    for off, action, pkg, old, new in n["dpkg"]:
        groups.setdefault(off // 60, []).append((off, action, pkg, old, new))
    out = []
    for _k, items in sorted(groups.items()):
        t = EV + items[0][0] - 4
        out += ["", "Start-Date: %s" % dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d  %H:%M:%S"),
                "Commandline: apt-get -y -o Dpkg::Options::=--force-confold install %s" % " ".join(i[2].split(":")[0] for i in items),
                "Requested-By: deploy (1001)"]
        ups = ", ".join("%s (%s, %s)" % (i[2], i[3], i[4]) for i in items if i[1] == "upgrade")
        ins = ", ".join("%s (%s)" % (i[2], i[4]) for i in items if i[1] == "install")
        if ins:
            out.append("Install: " + ins)
        if ups:
            out.append("Upgrade: " + ups)
        out.append("End-Date: %s" % dt.datetime.fromtimestamp(t + 20, dt.timezone.utc).strftime("%Y-%m-%d  %H:%M:%S"))
    return "\n".join(out) + "\n"


def render_dnf(n):
    out = []
    for off, action, pkg in n["dnf"]:
        t = EV + off
        out.append("%s INFO --- logging initialized ---" % iso(t - 5, "T", "", "+0000"))
        out.append("%s SUBDEBUG %s: %s" % (iso(t, "T", "", "+0000"), action, pkg))
    return "\n".join(out) + "\n"


FAKE_BIN = {
    "dmesg": 'if [ -f "$DIAG_SCENARIO/cmd/dmesg.denied" ]; then echo "dmesg: read kernel buffer failed: Operation not permitted" >&2; exit 1; fi\ncat "$DIAG_SCENARIO/cmd/dmesg.txt"\n',
    "journalctl": 'case " $* " in\n  *" -k "*) cat "$DIAG_SCENARIO/cmd/journal-k.txt" 2>/dev/null ;;\n  *) cat "$DIAG_SCENARIO/cmd/journal.txt" 2>/dev/null ;;\nesac\n',
    "ps": 'cat "$DIAG_SCENARIO/cmd/ps.txt"\n',
    "ss": 'case "$*" in\n  *-ltnup*) cat "$DIAG_SCENARIO/cmd/ss-ltnup.txt" ;;\n'
          '  *-tan*) if [ -f "$DIAG_SCENARIO/cmd/ss-tan.awk" ]; then cat "$DIAG_SCENARIO/cmd/ss-tan.txt"; awk -f "$DIAG_SCENARIO/cmd/ss-tan.awk"; '
          'else cat "$DIAG_SCENARIO/cmd/ss-tan.txt"; fi ;;\n  *) echo "ss: unexpected arguments $*" >&2; exit 1 ;;\nesac\n',
    # like the real df: -x tmpfs hides the tmpfs rows, -t tmpfs shows only them (by the Filesystem column)
    "df": 'case " $* " in\n  *" -i "*) f="$DIAG_SCENARIO/cmd/df-i.txt" ;;\n  *) f="$DIAG_SCENARIO/cmd/df.txt" ;;\nesac\n'
          'case " $* " in\n  *" -x tmpfs "*) awk \'NR == 1 || ($1 != "tmpfs" && $1 != "shm")\' "$f" ;;\n'
          '  *" -t tmpfs "*) awk \'NR == 1 || $1 == "tmpfs" || $1 == "shm"\' "$f" ;;\n  *) cat "$f" ;;\nesac\n',
    "systemctl": 'cat "$DIAG_SCENARIO/cmd/systemctl-show.txt"\n',
    "timedatectl": 'cat "$DIAG_SCENARIO/cmd/timedatectl.txt"\n',
    "chronyc": 'if [ -f "$DIAG_SCENARIO/cmd/chronyc.txt" ]; then cat "$DIAG_SCENARIO/cmd/chronyc.txt"; else echo "506 Cannot talk to daemon"; exit 1; fi\n',
    "hostname": 'echo web01.example.com\n',
}


def render(n):
    """node model -> {relative path: text}"""
    btime = EV - n["uptime"]
    files = {}
    for s in (1, 2):
        files["proc/stat.%d" % s] = render_stat(n, s, btime - 40 * DAY if n.get("stale_btime") else btime)
        files["proc/vmstat.%d" % s] = render_vmstat(n, s)
        files["proc/diskstats.%d" % s] = render_diskstats(n, s)
        files["net/netstat.%d" % s] = render_netstat(n, s)
    if n.get("static_stat"):  # one copied /proc/stat: both samples read the same file
        files["proc/stat"] = files.pop("proc/stat.1")
        del files["proc/stat.2"]
    files["proc/meminfo"] = render_meminfo(n)
    l1, l5, l15 = n["load"]
    files["proc/loadavg"] = "%.2f %.2f %.2f %d/%d 3312311\n" % (l1, l5, l15, n["procs_running"], n["threads"])
    files["proc/uptime"] = "%.2f %.2f\n" % (n["uptime"], n["uptime"] * 3.1)
    files["proc/pressure/cpu"] = render_psi(*n["psi"]["cpu"], with_full=True)
    files["proc/pressure/memory"] = render_psi(*n["psi"]["memory"])
    files["proc/pressure/io"] = render_psi(*n["psi"]["io"])
    files["proc/sys/fs/file-nr"] = "%d\t0\t%d\n" % n["file_nr"]
    files["proc/sys/net/netfilter/nf_conntrack_count"] = "%d\n" % n["conntrack"][0]
    files["proc/sys/net/netfilter/nf_conntrack_max"] = "%d\n" % n["conntrack"][1]
    files["proc/sys/net/ipv4/ip_local_port_range"] = "%d\t%d\n" % n["port_range"]
    files["proc/sys/kernel/pid_max"] = "%d\n" % n["pid_max"]
    files["proc/sys/kernel/threads-max"] = "%d\n" % n["threads_max"]
    files["proc/mounts"] = render_mounts(n)
    files["net/snmp"] = tmpl("snmp")
    files["net/sockstat"] = ("sockets: used 412\nTCP: inuse %d orphan 0 tw %d alloc %d mem 31\nUDP: inuse 4 mem 2\nUDPLITE: inuse 0\n"
                             "RAW: inuse 0\nFRAG: inuse 0 memory 0\n") % (len(n["conns"]) + 6, n["tw"], len(n["conns"]) + 12)
    files["cmd/dmesg.txt"] = render_dmesg(n, btime)
    files["cmd/ps.txt"] = render_ps(n)
    files["cmd/ss-ltnup.txt"] = render_listen(n)
    files["cmd/ss-tan.txt"] = render_tan(n)
    if n.get("dmesg_denied"):
        files["cmd/dmesg.denied"] = "dmesg_restrict=1\n"
    if n.get("kern_log"):
        files["var/log/kern.log"] = "".join("%s web01 kernel: [%12.6f] %s\n" % (dt.datetime.fromtimestamp(EV + off, dt.timezone.utc).strftime("%b %d %H:%M:%S"), EV + off - btime, msg)
                                            for off, msg in n["kern_log"])
    if n.get("journal"):
        files["cmd/journal.txt"] = "".join("%s web01 %s\n" % (iso(EV + off, "T", "", "+0000"), msg) for off, msg in n["journal"])
    if n["tan_gen"]:
        files["cmd/ss-tan.awk"] = n["tan_gen"]
    files["cmd/df.txt"] = render_df(n)
    files["cmd/df-i.txt"] = render_df(n, inodes=True)
    files["cmd/systemctl-show.txt"] = n.get("systemctl_text") or render_units(n, btime)
    files["cmd/timedatectl.txt"] = render_timedatectl(n)
    if n["clock"].get("chrony"):
        files["cmd/chronyc.txt"] = render_chronyc(n)
    for name, body in FAKE_BIN.items():
        files["bin/" + name] = "#!/bin/sh\n# fake %s: the scenario's recorded output\n%s" % (name, body)
    lines = n["applog"] if n["applog"] is not None else traffic(n["app"], -900, 60)
    lines = sorted(lines, key=lambda r: r[0])
    files["var/log" + n["log_path"][len("/var/log"):]] = "\n".join(line for _t, line in lines) + "\n"
    files["var/log/dpkg.log"] = render_dpkg(n)
    files["var/log/apt/history.log"] = render_apt_history(n)
    if n["dnf"]:
        files["var/log/dnf.rpm.log"] = render_dnf(n)
    summary, report = render_puppet(n)
    if not n["puppet"].get("report_only"):
        files["opt/puppetlabs/puppet/cache/state/last_run_summary.yaml"] = summary
    files["opt/puppetlabs/puppet/cache/state/last_run_report.yaml"] = report
    files["etc/resolv.conf"] = "# generated by NetworkManager\nsearch example.com\n" + "".join("nameserver %s\n" % ns for ns in n["resolv"])
    files.update(n.get("extra_files", {}))  # raw files in their own formats (syslog, journal, another log, a fake command)
    return files


def write(name, files, base_files=None, manifest=None):
    d = os.path.join(HERE, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    for rel, text in files.items():
        if base_files is not None and base_files.get(rel) == text:
            continue
        path = os.path.join(d, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
    if base_files is not None:
        # files the base has but this scenario must not (e.g. a second sample) are kept
        os.makedirs(d, exist_ok=True)
    if manifest is not None:
        gone = sorted(rel for rel in (base_files or {}) if rel not in files)
        if gone:
            manifest["remove"] = gone  # base files this node does not have
        with open(os.path.join(d, "scenario.json"), "w") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")


def main():
    import blind_scenarios  # noqa: F401  (registers the blind-written incidents into SCENARIOS)
    from corpus_scenarios import SCENARIOS  # the incidents, next to this file
    base = render(healthy())
    write("_base", base)
    for d in os.listdir(HERE):
        if not d.startswith("_") and os.path.isfile(os.path.join(HERE, d, "scenario.json")):
            shutil.rmtree(os.path.join(HERE, d))
    for name, build in SCENARIOS.items():
        n = healthy()
        manifest = build(n)
        manifest.setdefault("event_time", iso(EV, "T", "", "Z"))
        if n["log_path"] != "/var/log/app/app.log":
            manifest["log_path"] = n["log_path"]
        write(name, render(n), base, manifest)
    print("wrote %d scenarios" % len(SCENARIOS))


if __name__ == "__main__":
    import sys
    sys.path.insert(0, HERE)
    main()
