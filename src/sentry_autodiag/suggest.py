""""Did you mean …?": the closest known names to a mistyped key, for errors that point at the fix.

A list of every known key (a hundred for a project's settings) hides the one that was meant;
difflib's closest matches name it.
"""
import difflib
from typing import Iterable, List

CUTOFF = 0.6        # difflib's default: below it, a name is not "close"
NEAR_BEST = 0.1     # only names about as close as the best one: one clear fix, not a list


def closest(key: str, known: Iterable[str], n: int = 3) -> List[str]:
    """Up to n known names closest to `key` (case-insensitive), best first; only those nearly
    as close as the best, so `log_pth` suggests `log_path` and not also `log_path_env`."""
    key = str(key).lower()
    scored = []
    for name in set(str(k) for k in known):
        matcher = difflib.SequenceMatcher(None, key, name.lower())
        if matcher.real_quick_ratio() >= CUTOFF and matcher.quick_ratio() >= CUTOFF:
            scored.append((matcher.ratio(), name))
    scored = sorted((item for item in scored if item[0] >= CUTOFF), key=lambda item: (-item[0], item[1]))
    if not scored:
        return []
    best = scored[0][0]
    return [name for ratio, name in scored[:n] if ratio >= best - NEAR_BEST]


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`; did you mean `x`?` when a known name is close, else empty."""
    matches = closest(key, known)
    return "; did you mean %s?" % " or ".join("`%s`" % m for m in matches) if matches else ""


def unknown_key(key: str, known: Iterable[str], list_up_to: int = 12) -> str:
    """`unknown key; did you mean `x`?`, or the known keys when there are few, else a pointer."""
    known = sorted(set(str(k) for k in known))
    matches = closest(key, known)
    if matches:
        return "unknown key; did you mean %s?" % " or ".join("`%s`" % m for m in matches)
    if len(known) <= list_up_to:
        return "unknown key (known here: %s)" % ", ".join(known)
    return "unknown key (no known key is close; the README's Settings table lists them)"
