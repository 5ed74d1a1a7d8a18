# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Filesystems: space and inodes (df), and real filesystems mounted read-only (/proc/mounts),
# which is what ext4 does with errors=remount-ro after an I/O or metadata error.

DF_EXCLUDE=(-x tmpfs -x devtmpfs -x squashfs -x iso9660 -x efivarfs -x proc -x sysfs -x cgroup -x cgroup2 -x nsfs -x ramfs -x fuse.lxcfs -x overlay)

# tmpfs mounts that programs write to (/tmp, /dev/shm, /run, a tmpfs under /var or /srv):
# df above leaves tmpfs out, but a full /tmp fails writes with ENOSPC like a full disk.
# Per-unit and container plumbing (credentials, user runtime dirs, kubelet/docker volumes) is not.
TMPFS_SKIP='^/(run/credentials|run/user|run/netns|run/containerd|run/k3s|run/docker|var/lib/kubelet|var/lib/docker|var/lib/containers|sys|proc)(/|$)'

section_disk() { # id df-flag title column-label code
    OUT="$WORK/df_$1"; : >"$OUT"
    # -l: local filesystems only. df leaves remote ones (NFS, CIFS, ...) out before it asks
    # them anything, so a hung hard NFS mount cannot stall the task here.
    capture 32768 df -P -l ${2:+"$2"} "${DF_EXCLUDE[@]}"
    local tmpfs="$WORK/df_tmpfs_$1"; : >"$tmpfs"
    if awk -v skip="$TMPFS_SKIP" '$3 == "tmpfs" && $2 !~ skip { f = 1 } END { exit !f }' "$WORK/p.mounts" 2>/dev/null; then
        run df -P -l ${2:+"$2"} -t tmpfs 2>/dev/null | head -c 16384 >"$tmpfs"
    fi
    # Use% (or IUse%) is column 5 of POSIX output; mount point is the rest. The tmpfs rows
    # count only for the tmpfs mount points /proc/mounts lists (and not the skipped ones).
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v code="$5" -v label="$4" -v sec="$1" -v skip="$TMPFS_SKIP" "$AWK_FIND"'
        FILENAME ~ /p\.mounts$/ { if ($3 == "tmpfs" && $2 !~ skip) tm[$2] = 1; next }
        FNR > 1 && $5 ~ /^[0-9]+%$/ { p = $5; sub(/%/, "", p); m = $6; for (i = 7; i <= NF; i++) m = m " " $i
            if (FILENAME ~ /df_tmpfs_/) { if (!(m in tm) || (m in seen)) next; what = " (tmpfs, " label ")"; print > tfile }
            else what = " (" label ")"
            seen[m] = 1
            if (p + 0 > 90) fnd(p + 0 >= 98 ? "critical" : "warning", code, sec, m " is " p " % full" what, "")
            print p "\t" m > (sec == "disk" ? dfile : "/dev/null") }' dfile="$WORK/df_use" tfile="$tmpfs.rows" "$WORK/p.mounts" "$OUT" "$tmpfs"
    if [ -s "$tmpfs.rows" ]; then { echo "tmpfs:"; cat "$tmpfs.rows"; } >>"$OUT"; fi
    add_section "$1" "$3" "df -P -l${2:+ $2} (local, real filesystems; tmpfs where programs write; no NFS/CIFS)" "cap:16384:4" "$OUT"
}

read -r -d '' AWK_MOUNTS <"$LIB/mounts.awk"

section_mounts() {
    OUT="$WORK/mounts"
    awk -v vfile="$WORK/vars.mounts" "$AWK_MOUNTS" "$WORK/p.mounts" >"$OUT"
    [ -s "$OUT" ] || echo "no block-device filesystems in /proc/mounts" >"$OUT"
    RO_MOUNTS=""
    [ -r "$WORK/vars.mounts" ] && { IFS= read -r RO_MOUNTS <"$WORK/vars.mounts"; RO_MOUNTS=${RO_MOUNTS#RO=}; }
    add_section mounts "Block-device filesystems" "/proc/mounts (ext4, xfs, btrfs, ...)" "cap:8192:2" "$OUT"
}
