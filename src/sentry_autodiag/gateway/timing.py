"""How long a queued step may take, and so how soon a dead worker's step runs again.

Kombu's Redis transport redelivers a message whose worker died once it has been unacknowledged
for `visibility_timeout` seconds; a live worker holding a message longer than that (a step
still running, or a countdown not yet due) gets it duplicated. So the timeout must cover the
longest a message is held, and nothing more: a message waits at most MAX_COUNTDOWN in a worker
(longer waits are hops, see queue.py) and a step runs at most STEP_TIME_LIMIT. The default
leaves a margin above that sum, and a dead worker's step runs again within a minute.
"""
MAX_COUNTDOWN = 5           # seconds a message waits in a worker before it runs; longer waits hop
STEP_SOFT_TIME_LIMIT = 30   # seconds: a step still running is stopped and rescheduled (prefork/solo pools)
STEP_TIME_LIMIT = 35        # seconds: the longest a step runs (its HTTP calls have shorter timeouts)
MIN_VISIBILITY_TIMEOUT = STEP_TIME_LIMIT + MAX_COUNTDOWN    # 40 s: one hop plus one step
DEFAULT_VISIBILITY_TIMEOUT = MIN_VISIBILITY_TIMEOUT + 5     # 45 s
RESTORE_INTERVAL = 5        # seconds between a worker's looks for messages of dead workers
