#!/usr/bin/env bash
# `make dist`: the release artifacts an admin installs offline and verifies.
#   dist/sentry_autodiag-<v>-py3-none-any.whl   plugin + gateway (no local orchestrator)
#   dist/sentry-autodiag-<v>.tar.gz             the sdist
#   dist/<author>-<module>-<v>.tar.gz           one Puppet module per puppet/<module>, Forge layout
#   dist/SHA256SUMS                             `sha256sum -c SHA256SUMS` checks them all
# Built from a clean copy of the tree (tracked and new files, nothing ignored), so a stale
# build/ or egg-info can never slip into an artifact. Usage: scripts/dist.sh [OUT_DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)
PY=${PYTHON:-$ROOT/.venv-gateway/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)

say() { printf '[dist] %s\n' "$*" >&2; }
die() { printf '[dist] ERROR: %s\n' "$*" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# The same timestamp for every file of every archive: the last commit's time.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

mkdir -p "$STAGE/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C "$STAGE/src"

# Only this version's artifacts in OUT; other files there are left alone.
version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' "$ROOT/src/sentry_autodiag/__init__.py")
[ -n "$version" ] || die "no __version__ in src/sentry_autodiag/__init__.py"
rm -f "$OUT/sentry_autodiag-$version-"*.whl "$OUT/sentry"[-_]"autodiag-$version.tar.gz" "$OUT/SHA256SUMS"

say "wheel and sdist of sentry-autodiag $version ($("$PY" -V 2>&1))"
(cd "$STAGE/src" && "$PY" setup.py -q sdist -d "$STAGE/sdist" >"$STAGE/sdist.log" 2>&1) \
    || { cat "$STAGE/sdist.log" >&2; die "sdist failed"; }
sdist=$(cd "$STAGE/sdist" && ls ./*"-$version.tar.gz") || die "no sdist in $STAGE/sdist"
mv "$STAGE/sdist/$sdist" "$OUT/"
"$PY" -m pip wheel -q --no-deps -w "$OUT" "$STAGE/src" >"$STAGE/wheel.log" 2>&1 \
    || { cat "$STAGE/wheel.log" >&2; die "wheel failed"; }
wheel="$OUT/sentry_autodiag-$version-py3-none-any.whl"
[ -f "$wheel" ] || die "expected $wheel"
if "$PY" -m zipfile -l "$wheel" | grep -q 'localorch/'; then
    die "the wheel contains the local orchestrator (devtools/localorch)"
fi

module_archive() { # puppet/<dir>: <author>-<name>-<version>.tar.gz, top directory of the same name
    local dir=$1 full version top
    full=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$dir/metadata.json")
    version=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$dir/metadata.json")
    [[ $full =~ ^[a-z0-9]+-[a-z][a-z0-9_]*$ ]] || die "$dir/metadata.json: name must be <author>-<module>, not $full"
    [ "${full#*-}" = "$(basename "$dir")" ] || die "$dir/metadata.json: module name ${full#*-} is not the directory's"
    top="$full-$version"
    mkdir -p "$STAGE/mod/$top"
    local parts=(metadata.json README.md tasks)
    [ -d "$dir/files" ] && parts+=(files)
    (cd "$dir" && tar -cf - "${parts[@]}") | tar -xf - -C "$STAGE/mod/$top"
    cp "$ROOT/LICENSE" "$STAGE/mod/$top/LICENSE"
    # checksums.json: what `puppet module changes` compares an installed module against.
    (cd "$STAGE/mod/$top" && find . -type f | sed 's|^\./||' \
        | "$PY" -c 'import hashlib,json,sys; print(json.dumps({p: hashlib.md5(open(p,"rb").read()).hexdigest() for p in sys.stdin.read().split()}, indent=2, sort_keys=True))' \
        > "$STAGE/checksums.json") && mv "$STAGE/checksums.json" "$STAGE/mod/$top/checksums.json"
    rm -f "$OUT/$top.tar.gz"
    tar -C "$STAGE/mod" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
        --mode='u+rw,go+r,go-w' -cf - "$top" | gzip -9n > "$OUT/$top.tar.gz"
    say "Puppet module $top.tar.gz"
    echo "$top.tar.gz"
}

artifacts=("$(basename "$wheel")" "$(basename "$sdist")")
for dir in "$STAGE/src/puppet"/*/; do
    artifacts+=("$(module_archive "${dir%/}")")
done
(cd "$OUT" && sha256sum "${artifacts[@]}" > SHA256SUMS)
say "in $OUT:"
(cd "$OUT" && ls -l "${artifacts[@]}" SHA256SUMS >&2)
