"""DEMO ONLY: writes the demo instance's sentry.conf.py and config.yml (embedded defaults)."""
import os
import secrets
import sys

SENTRY_CONF_PY = '''# DEMO ONLY: Sentry configuration written by `make demo` (sentry-autodiag). Loopback only.
import os
from sentry.conf.server import *  # noqa: F401,F403

CONF_ROOT = os.path.dirname(__file__)
DATABASES = {{
    "default": {{
        "ENGINE": "sentry.db.postgres", "NAME": "sentry_demo", "USER": "postgres", "PASSWORD": "",
        "HOST": "127.0.0.1", "PORT": "5432", "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False,
    }}
}}
SENTRY_USE_BIG_INTS = True
SENTRY_SINGLE_ORGANIZATION = True
DEBUG = False
SENTRY_CACHE = "sentry.cache.redis.RedisCache"
BROKER_URL = "redis://127.0.0.1:6379/4"
SENTRY_RATELIMITER = "sentry.ratelimits.redis.RedisRateLimiter"
SENTRY_BUFFER = "sentry.buffer.redis.RedisBuffer"
SENTRY_QUOTAS = "sentry.quotas.redis.RedisQuota"
SENTRY_TSDB = "sentry.tsdb.redissnuba.RedisSnubaTSDB"
SENTRY_DIGESTS = "sentry.digests.backends.redis.RedisBackend"
SENTRY_WEB_HOST = "127.0.0.1"
SENTRY_WEB_PORT = {web_port}
SENTRY_WEB_OPTIONS = {{"workers": 2, "threads": 4}}
# DEMO ONLY: Relay/Kafka/Snuba are not available here; see autodiag_demo/eventstream.py.
SENTRY_EVENTSTREAM = "autodiag_demo.eventstream.SnubalessEventStream"
SENTRY_USE_RELAY = False
# DEMO ONLY: the two Snuba READS of issue 20's test allowance (the group serializer's stats:
# empty; the event by id: nodestore + Postgres) are answered from what Sentry wrote, so the
# gateway's catch-up sweep can read the rule group history and the event API here; see
# autodiag_demo/apps.py and devtools/snuba_reads.py (the same code the catch-up tests use).
INSTALLED_APPS = INSTALLED_APPS + ("autodiag_demo.apps.SnubaReadsConfig",)
# DEMO ONLY: no self-reporting. Sentry's own SDK would send its errors and transactions to
# the internal project on this instance, whose envelope endpoint needs Relay (403 here),
# filling the logs with transport tracebacks. (SENTRY_PROJECT = None is a supported value.)
SENTRY_PROJECT = None
# DEMO ONLY: `sentry run cron` (Celery beat) runs just the jobs that work without Snuba:
# send-ping records the workers' check-in (without it every page shows "Background workers
# haven't checked in recently"), flush-buffers writes counters; the other jobs query Snuba,
# which cannot run here, and would only fill worker.log with errors.
CELERYBEAT_SCHEDULE = {{k: v for k, v in CELERYBEAT_SCHEDULE.items() if k in ("send-ping", "flush-buffers")}}
'''

CONFIG_YML = '''# DEMO ONLY: written by `make demo` (sentry-autodiag)
mail.backend: 'dummy'
system.secret-key: '{secret}'
system.url-prefix: 'http://127.0.0.1:{web_port}'
redis.clusters:
  default:
    hosts:
      0:
        host: 127.0.0.1
        port: 6379
        db: 3
filestore.backend: 'filesystem'
filestore.options:
  location: '{files}'
'''


def main(conf_dir, web_port):
    os.makedirs(conf_dir, exist_ok=True)
    yml = os.path.join(conf_dir, "config.yml")
    secret = None
    if os.path.exists(yml):
        for line in open(yml):
            if line.startswith("system.secret-key:"):
                secret = line.split(":", 1)[1].strip().strip("'")
    secret = secret or secrets.token_urlsafe(40)
    files = os.path.join(conf_dir, "files")
    os.makedirs(files, exist_ok=True)
    with open(os.path.join(conf_dir, "sentry.conf.py"), "w") as fh:
        fh.write(SENTRY_CONF_PY.format(web_port=web_port))
    with open(os.open(yml, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(CONFIG_YML.format(secret=secret, web_port=web_port, files=files))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
