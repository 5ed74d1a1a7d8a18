"""Two nested hourly limits counted together in Redis: one item (a node, an issue) and its
project, in sliding one-hour windows. One Lua script checks and counts both, so concurrent
workers can never pass a limit between a check and a count. Used by the remediation guards
and by the `/autodiag` comment limits."""
from typing import Any

WINDOW = 3600   # seconds: the limits are "per hour", a sliding window

# KEYS: item zset, project zset. ARGV: now, window, item max, project max, member.
# Returns 0 (counted now, or counted before for this member: a redelivered step),
# 1 (the item's limit is reached), 2 (the project's). Both or neither are counted.
_TAKE = """
local start = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', start)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', start)
if redis.call('ZSCORE', KEYS[1], ARGV[5]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2] + 60)
redis.call('EXPIRE', KEYS[2], ARGV[2] + 60)
return 0
"""

COUNTED, ITEM_LIMIT, PROJECT_LIMIT = 0, 1, 2


def take(client: Any, item_key: str, project_key: str, member: str, per_item: int, per_project: int,
         now: float) -> int:
    """Counts `member` against both limits at `now`: COUNTED, ITEM_LIMIT or PROJECT_LIMIT.
    Raises the Redis client's errors (the callers decide what Redis unavailable means)."""
    return int(client.eval(_TAKE, 2, item_key, project_key, now, WINDOW, per_item, per_project, member))
