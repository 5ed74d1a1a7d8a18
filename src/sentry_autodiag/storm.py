"""Storm control: coalescing per node and a per-project cap on running jobs (plain Python).

When a service flaps, Sentry opens many new issues at once, often naming the same few
nodes. Without control each one would start a PE job. Here:

- Coalescing: the first issue naming a node within the window "leads" (runs the job);
  later ones "follow": they are recorded, and when the leader's diagnosis ends its note
  is copied to each follower, marked as shared. A follower that arrives after the end
  (still within the window) takes the stored result at once.
- Concurrency cap: a leader runs only while fewer than `max_running` of the project's
  jobs run; otherwise it waits in a FIFO queue (no sleeping worker) that finishing jobs
  drain, bounded by `max_waiting` — beyond it the issue gets a "storm limit" note.

All state lives in Redis and every multi-step change is one Lua script, so concurrent
workers never double-lead, lose a follower, or exceed the cap. Keys expire on their own.
"""
import json
import time
from typing import Any, Dict, List, NamedTuple, Optional

PREFIX = "autodiag:storm"

# KEYS: coalesce key, followers list, done key. ARGV: claim id, window s, follower JSON.
# Returns {role, claim, result}: role 0 = lead, 1 = follow (wait), 2 = follow (done).
_JOIN = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return {0, ARGV[1], false}
end
if current == ARGV[1] then
  return {0, current, false}
end
local done_key = KEYS[3] .. current
local result = redis.call('GET', done_key)
if result then
  return {2, current, result}
end
local followers = KEYS[2] .. current
redis.call('RPUSH', followers, ARGV[3])
redis.call('EXPIRE', followers, ARGV[2] + 7200)
return {1, current, false}
"""

# KEYS: done key, followers list. ARGV: result JSON, ttl. Returns the followers (JSON).
_PUBLISH = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local followers = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return followers
"""

# KEYS: running zset. ARGV: now, max, expiry, claim. Returns 1 when a slot was taken.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[3] - ARGV[1]) + 60)
  return 1
end
return 0
"""

# KEYS: waiting list. ARGV: max, item JSON, front (1 = put back at the head). 1 = queued.
_ENQUEUE = """
if ARGV[3] ~= '1' and redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
if ARGV[3] == '1' then redis.call('LPUSH', KEYS[1], ARGV[2]) else redis.call('RPUSH', KEYS[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""


class Join(NamedTuple):
    role: str                     # "lead", "follow" (the leader will share), "shared" (result ready)
    claim: str                    # the leader's diagnosis id
    result: Optional[Dict[str, Any]] = None


class StormControl:
    """Per-project storm state in Redis. Methods raise the client's errors: callers fall
    back to diagnosing without coalescing when Redis is unavailable."""

    def __init__(self, client, project_id: Any, window: float = 600, max_running: int = 5,
                 max_waiting: int = 100, now=time.time, prefix: str = PREFIX):
        self.client = client
        self.project_id = project_id
        self.prefix = prefix
        self.window = int(window)
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.now = now

    def _key(self, *parts) -> str:
        return ":".join([self.prefix, str(self.project_id)] + [str(p) for p in parts])

    # coalescing

    def join(self, node: str, claim: str, follower: Dict[str, Any]) -> Join:
        """Lead the node's diagnosis, or follow the one running or done within the window."""
        if self.window <= 0:
            return Join("lead", claim)
        role, current, result = self.client.eval(
            _JOIN, 3, self._key("node", node), self._key("followers", ""), self._key("done", ""),
            claim, self.window, json.dumps(follower))
        current = current.decode() if isinstance(current, bytes) else current
        if role == 0:
            return Join("lead", current)
        if role == 2:
            return Join("shared", current, json.loads(result))
        return Join("follow", current)

    def publish(self, claim: str, result: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Stores the leader's outcome for late followers; returns the followers waiting for it."""
        followers = self.client.eval(_PUBLISH, 2, self._key("done", claim), self._key("followers", claim),
                                     json.dumps(result), max(self.window, 60) + 3600)
        return [json.loads(f) for f in followers or []]

    # concurrency cap

    def acquire(self, claim: str, hold: float) -> bool:
        """Takes a running slot for `hold` seconds at most (released earlier by release())."""
        now = self.now()
        return bool(self.client.eval(_ACQUIRE, 1, self._key("running"), now, self.max_running, now + hold, claim))

    def release(self, claim: str) -> None:
        self.client.zrem(self._key("running"), claim)

    def running(self) -> int:
        self.client.zremrangebyscore(self._key("running"), "-inf", self.now())
        return int(self.client.zcard(self._key("running")))

    def wait(self, item: Dict[str, Any], front: bool = False) -> bool:
        """Queues a leader for a slot; False when the queue is full (storm limit)."""
        return bool(self.client.eval(_ENQUEUE, 1, self._key("waiting"), self.max_waiting, json.dumps(item),
                                     "1" if front else "0"))

    def next_waiting(self) -> Optional[Dict[str, Any]]:
        raw = self.client.lpop(self._key("waiting"))
        return json.loads(raw) if raw else None

    def waiting(self) -> int:
        return int(self.client.llen(self._key("waiting")))
