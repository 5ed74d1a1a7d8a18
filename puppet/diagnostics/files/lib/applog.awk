function peer(s,   l, p, h, pre) {
    l = s
    if (match(l, /[a-z0-9][a-z0-9._-]*\/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+/)) { p = substr(l, RSTART, RLENGTH); h = p; sub(/\/.*/, "", h); sub(/.*:/, "", p); return h ":" p }
    if (match(l, /"[^"]+" \([0-9a-f.:]+\), port [0-9]+/)) { p = substr(l, RSTART, RLENGTH); h = p; sub(/^"/, "", h); sub(/".*/, "", h); sub(/.*port /, "", p); return h ":" p }
    if (match(l, /host='[^']*', port=[0-9]+/)) { p = substr(l, RSTART, RLENGTH); h = p; sub(/^host='/, "", h); sub(/'.*/, "", h); sub(/.*port=/, "", p); return h ":" p }
    if (match(l, /upstream: "[a-z]+:\/\/[^\/"]+/)) { p = substr(l, RSTART, RLENGTH); sub(/.*:\/\//, "", p); return p }
    if (match(l, /https?:\/\/[a-z0-9][a-z0-9.-]*(:[0-9]+)?/)) { p = substr(l, RSTART, RLENGTH); sub(/.*:\/\//, "", p); return p }
    if (match(l, /\[[0-9a-f:]+\]:[0-9]+/)) return substr(l, RSTART, RLENGTH)
    while (match(l, /[a-z0-9][a-z0-9._-]*:[0-9][0-9]+/)) {
        p = substr(l, RSTART, RLENGTH); pre = substr(l, RSTART > 8 ? RSTART - 8 : 1, RSTART > 8 ? 8 : RSTART - 1); l = substr(l, RSTART + RLENGTH); h = p; sub(/:.*/, "", h)
        if (pre ~ /client[ :=]+$/) continue  # Apache "[client 10.0.3.7:51234]": the caller, not the peer
        if (h ~ /[a-z.]/ && h !~ /^(http|https|tcp|udp|port|line|errno|error|at|pid)$/ && h !~ /\.(java|py|go|js|rb|c|ts)$/ && h !~ /^[0-9]+-[0-9]+-[0-9]+t[0-9]+$/) return p
    }
    return ""
}
function dnsname(s,   p) {
    if (match(s, /(enotfound|eai_again|unknownhostexception:|lookup|resolve host:?|resolve hostname|unknown host:?) +[a-z0-9][a-z0-9._-]*/)) { p = substr(s, RSTART, RLENGTH); sub(/.* /, "", p); return p }
    return ""
}
function signature(s,   h) {
    h = substr(s, 1, 48)
    if (match(h, /[0-9][0-9]:[0-9][0-9]:[0-9][0-9]([.,][0-9]+)?(Z| ?[+-][0-9][0-9]:?[0-9][0-9])?\]?/)) s = substr(s, RSTART + RLENGTH)
    s = tolower(s)
    gsub(/[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f]+/, "<uuid>", s)
    gsub(/0x[0-9a-f]+/, "<hex>", s)
    gsub(/[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*/, "<hex>", s)
    gsub(/[0-9]+/, "N", s)
    gsub(/[ \t]+/, " ", s); sub(/^ /, "", s)
    return substr(s, 1, 150)
}
# True when regex `re` matches `l` outside a single-quoted value: a cause named inside
# quotes is data (a Python repr'd key, a message argument), not the error. (Double quotes
# hold whole messages in JSON and logfmt, so they do not count.)
function classed(l, re,   pre) {
    if (!match(l, re)) return 0
    pre = substr(l, 1, RSTART - 1)
    return gsub(/'/, "'", pre) % 2 == 0
}
# True when an exception class named by regex `re` is the line's exception: the first
# "Name: " class header on the line (IllegalArgumentException: No enum constant
# X.OutOfMemoryError is an IllegalArgumentException), and not inside single quotes.
function isclass(l, re,   pre) {
    if (!classed(l, re)) return 0
    pre = substr(l, 1, RSTART - 1)
    return pre !~ /[a-z0-9_$]+[a-z0-9_$.]*(exception|error): /
}
function cause(code, t, l, p) {
    cnt[code]++; if (t != "") ct[code] = t; if (p != "" && !(code in cp)) cp[code] = p
    if (t != "" && t >= ev - 120) cnear[code]++; else if (t != "") cearly[code]++
    if (!(code in cs)) cs[code] = substr(l, 1, 200)
}
{
    line = $0; t = stamp(line)
    if (t >= 0) { last = t; stamped++ } else t = last
    inwin = t == "" || (t >= ev - before && t <= ev + after)
    if (!inwin) next
    nwin++
    l = tolower(line)
    head = substr(l, 1, 60)
    # the server's own worker/connection limit (php-fpm pm.max_children, Apache
    # MaxRequestWorkers/MaxClients, nginx worker_connections, uWSGI listen queue, Tomcat
    # maxThreads) is often logged at INFO/NOTICE (Tomcat 7 "Maximum number
    # of threads (200) created"), so it is looked for before info lines are skipped
    if (l ~ /reached (pm\.)?max_children|reached maxrequestworkers|reached maxclients|worker_connections are not enough|listen queue of socket .* full|all threads \([0-9]+\) are currently busy|maximum number of threads \([0-9]+\) created|max(imum)? ?threads (reached|exhausted)|thread pool (is )?exhausted/) cause("app-worker-limit", t, line, "")
    if (head ~ /(^|[^a-z])(info|debug|trace|notice)([^a-z]|$)/ && head !~ /(error|fatal|crit|severe|warn)/) next
    own = t == "" || substr(line, 1, 1) !~ /[ \t]/
    if (own && (l ~ /(^|[^a-z])(error|err|fatal|crit|critical|severe|panic|emerg|alert)([^a-z]|$)|exception|traceback|fail(ed|ure)/ || l ~ /"level": ?(50|60)[,}]/) && l !~ /^[ \t]+at /) {
        nerr++; sg = signature(line); sig[sg]++; if (!(sg in sigfirst)) sigfirst[sg] = t
        if (t != "" && t >= ev - 120 && t <= ev + after) nerr_near++; else if (t != "") nerr_early++
    }
    # a stack frame names code (HikariPool.createTimeoutException), not an error: causes come
    # from the error lines themselves
    if (l ~ /^[ \t]+at [^ ]+\(|^[ \t]+file "[^"]*", line [0-9]+/) next
    # EAGAIN from fork/clone/posix_spawn/pthread_create (RLIMIT_NPROC, pids cgroup, pid_max) in
    # its runtimes' words: Java "Cannot run program ...: error=11", Go "fork/exec ...: resource
    # temporarily unavailable", Node "spawn ... EAGAIN", Python "[Errno 11]" from fork/Popen.
    # A bare "Resource temporarily unavailable" is a non-blocking socket, not a limit.
    if (l ~ /unable to create (new )?native thread|fork: (retry: )?resource temporarily unavailable|cannot fork|can't fork|fork failed|pthread_create failed|can't start new thread|resource temporarily unavailable.*(thread|fork)|error=11, resource temporarily unavailable|spawn [^ ]* ?eagain|spawn eagain/ ||
        (l ~ /fork|clone\(|spawn|run program|pthread_create|popen|subprocess/ && l ~ /resource temporarily unavailable|eagain|errno 11([^0-9]|$)/)) cause("app-process-limit", t, line, "")
    # Out of memory, by what says so: a runtime that hit its own heap cap (the JVM's
    # OutOfMemoryError other than native threads, V8's heap limit, PHP's memory_limit) or died
    # for want of memory (Go's fatal "runtime: out of memory") is definitive about the process;
    # ENOMEM and a runtime that could not get memory from the kernel are a claim about the
    # node that the node must confirm (correlate_app); a process manager's "Perhaps out of
    # memory?" after it killed a worker is a guess. Only as an error class or message, never
    # inside a quoted value (KeyError: 'OutOfMemoryError' is a KeyError).
    else if (isclass(l, "outofmemoryerror: (java heap space|gc overhead limit exceeded|metaspace|compressed class space|direct buffer memory|requested array size)|javascript heap out of memory|allowed memory size of [0-9]+ bytes exhausted|fatal error: (runtime: )?out of memory")) cause("app-out-of-memory", t, line, "")
    else if (l ~ /perhaps out of memory|possibly out of memory|probably out of memory|may be out of memory|might be out of memory|out of memory\?/) cause("app-oom-guess", t, line, "")
    # (a database or remote service relaying its own out-of-memory, e.g. PostgreSQL's SQLSTATE
    # 53200 through psycopg2, is that server's condition, not this node's)
    else if ((isclass(l, "(^|[^a-z0-9_])((java\\.lang\\.)?outofmemoryerror|memoryerror|nomemoryerror)(:|$| )") || classed(l, "std::bad_alloc|cannot allocate memory|enomem|errno 12([^0-9]|$)|out of memory")) &&
        l !~ /sqlstate|psycopg|asyncpg|sqlalchemy\.exc|pymysql|mysqldb|jdbc|sqlexception|in memory context|from (the )?(server|remote|upstream)|remote (server|host|error)|server returned/) cause("app-oom-syscall", t, line, "")
    # a task runner's own time limit ended the job or the worker: Celery hard/soft time limits,
    # gunicorn WORKER TIMEOUT, uWSGI harakiri, PHP max_execution_time / php-fpm
    # request_terminate_timeout, Ruby Timeout ("execution expired"), Sidekiq/Resque-style job timeouts
    if (l ~ /hard time limit \([0-9.]+s?\) exceeded|timelimitexceeded|worker timeout|harakiri|maximum execution time of [0-9]+ seconds? exceeded|execution timed out \([0-9.]+ sec|request_terminate_timeout|max_execution_time|job ?timeout|job [^ ]* ?(timed out|exceeded)|timed out after [0-9.]+ ?s(ec(ond)?s?)?.*(job|task|worker)/) cause("worker-timeout", t, line, "")
    else if (l ~ /soft time limit \([0-9.]+s?\) exceeded|softtimelimitexceeded|execution expired/) cause("worker-softlimit", t, line, "")
    if (classed(l, "too many open files|emfile|errno 24([^0-9]|$)") && l !~ /inotify/) cause("app-too-many-open-files", t, line, "")
    if (l ~ /cannot assign requested address|eaddrnotavail|errno 99([^0-9]|$)/) cause("app-ephemeral-ports", t, line, peer(l))
    # inotify_add_watch() fails with ENOSPC when fs.inotify.max_user_watches is used up (and
    # inotify_init with EMFILE at max_user_instances): not a full disk.
    if (l ~ /inotify|file watchers|watch limit|limit of inotify/ && l ~ /no space left|enospc|limit|too many open files|emfile|resources exhausted/) cause("app-inotify-limit", t, line, "")
    else if (classed(l, "no space left on device|enospc|errno 28([^0-9]|$)|disk full|could not extend file|disk quota exceeded|edquot")) cause("app-disk-full", t, line, "")
    if (l ~ /read-only file system|erofs|errno 30([^0-9]|$)/) cause("app-read-only-fs", t, line, "")
    # a connection pool or server at its connection limit; a wait for a pooled connection that
    # timed out (HikariCP "Connection is not available, request timed out", SQLAlchemy
    # QueuePool) is the pool's limit, not a network timeout
    pool = l ~ /too many connections|too many clients|remaining connection slots are reserved|connection pool exhausted|pool (is )?exhausted|timeout waiting for connection from pool|could not get jdbc connection|max_connections|connection is not available, request timed out|queuepool limit of size [0-9]+ overflow|timed out waiting for (a )?(free |pooled )?connection|unable to acquire (jdbc )?connection/
    if (l ~ /connection refused|econnrefused|errno 111([^0-9]|$)|\(111(: |\))/) cause("app-connection-refused", t, line, peer(l))
    else if (l ~ /connection reset|econnreset|errno 104([^0-9]|$)|\(104: |broken pipe|epipe/) cause("app-connection-reset", t, line, peer(l))
    else if (pool) { }
    else if (l ~ /timed out|timed-out|timeout(exception| error|error)|etimedout|deadline exceeded|i\/o timeout|\(110: |sockettimeout|connecttimeout|read timeout|timeout (specified )?(has )?(expired|exceeded|elapsed)|lock wait timeout|statement timeout|gateway time-?out/) cause("app-timeout", t, line, peer(l))
    if (l ~ /no route to host|ehostunreach|network is unreachable|enetunreach|errno (113|101)([^0-9]|$)/) cause("app-network-unreachable", t, line, peer(l))
    if (l ~ /name or service not known|temporary failure in name resolution|nodename nor servname|no such host|unknownhostexception|enotfound|eai_again|could not resolve host|failed to resolve|name resolution|servfail|nxdomain|unknown host/) cause("app-dns-failure", t, line, dnsname(l))
    if (l ~ /certificate (has )?expired|certificate is not yet valid|x509:|certificate verify failed|sslhandshakeexception|pkix path|certpathvalidatorexception|unable to get local issuer|self[- ]signed certificate|cert_has_expired|ssl certificate problem|tls handshake (error|failed)|ssl routines/) {
        cause("app-tls-error", t, line, peer(l))
        if (l ~ /expired|not yet valid|validity check failed|notbefore|notafter|is after|is before|clock/) tls_time = 1
    }
    if (l ~ /clock skew|token used before issued|iat.*future|jwt.*not (yet )?(active|valid)|not valid yet/) { cause("app-tls-error", t, line, ""); tls_time = 1 }
    if (pool) cause("app-db-connections-exhausted", t, line, peer(l))
    if (l ~ /segmentation fault|sigsegv|core dumped|^panic: |fatal error: unexpected signal|signal 11/) cause("app-crash", t, line, "")
    # a datastore refusing writes at its own limit: Redis maxmemory (OOM command not allowed)
    # or failed RDB persistence (MISCONF), Elasticsearch flood-stage/read-only index block
    if (l ~ /oom command not allowed|used memory > 'maxmemory'|misconf redis is configured to save|flood[- ]stage disk watermark|index read-only \/ allow delete|cluster_block_exception/) cause("app-datastore-full", t, line, "")
    # what a slow request waited on (named by worker-timeout): a peer, or a lock
    if (l ~ /(still )?(waiting|waited|blocked|stuck) (on|for) |still (streaming|reading|running) after|lock (wait )?time-?out|locknotavailable|lock not available|deadlock/) cause("app-waiting", t, line, peer(l))
    if (l ~ /permission denied|(^|[^a-z])eacces([^a-z]|$)|operation not permitted|errno 13([^0-9]|$)/) cause("app-permission-denied", t, line, "")
}
END {
    printf "analysed: %d log lines between %s and %s (%s)\n", nwin, iso_of(ev - before), iso_of(ev + after), stamped ? "by their timestamps" : "no timestamps: the end of the log"
    printf "error lines: %d (%d in the 2 min around the event)\n", nerr, nerr_near
    n = 0
    for (s in sig) { n++; order[n] = s }
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (sig[order[j]] > sig[order[i]]) { x = order[i]; order[i] = order[j]; order[j] = x }
    if (n) print "top error signatures (count  signature):"
    for (i = 1; i <= n && i <= 10; i++) printf "%6d  %s\n", sig[order[i]], order[i]
    if (n > 10) printf "... %d more signatures\n", n - 10
    for (c in cnt) {
        printf "cause %s: %d line(s)%s, last %s: %s\n", c, cnt[c], (c in cp) ? " to " cp[c] : "", (c in ct) ? iso_of(ct[c]) : "?", cs[c]
        printf "%s\037%d\037%s\037%s\037%d\037%d\037%s\n", c, cnt[c], cp[c], ct[c], cnear[c], cearly[c], cs[c] > causefile
    }
    if (nerr) {
        fnd("info", "app-errors", "app_errors", sprintf("%d error line(s) in the log around the event, %d distinct; most frequent (x%d): %s", nerr, n, sig[order[1]], substr(order[1], 1, 120)), "")
        early_rate = nerr_early / ((before - 120) / 60); near_rate = nerr_near / ((120 + after) / 60)
        if (nerr_near >= 10 && near_rate >= 5 * (early_rate + 0.2))
            fnd("warning", "app-error-spike", "app_errors", sprintf("%d error lines in the 4 min around the event vs %.1f/min before", nerr_near, early_rate), ev)
    }
    print "APP_TLS_TIME=" (tls_time + 0) > vfile
}
