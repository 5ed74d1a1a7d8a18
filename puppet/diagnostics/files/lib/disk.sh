# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Filesystems: space and inodes (df), and real filesystems mounted read-only (/proc/mounts),
# which is what ext4 does with errors=remount-ro after an I/O or metadata error.

DF_EXCLUDE=(-x tmpfs -x devtmpfs -x squashfs -x iso9660 -x efivarfs -x proc -x sysfs -x cgroup -x cgroup2 -x nsfs -x ramfs -x fuse.lxcfs -x overlay)

section_disk() { # id df-flag title column-label code
    OUT="$WORK/df_$1"; : >"$OUT"
    capture 32768 df -P ${2:+"$2"} "${DF_EXCLUDE[@]}"
    # Use% (or IUse%) is column 5 of POSIX output; mount point is the rest.
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v code="$5" -v label="$4" -v sec="$1" "$AWK_FIND"'
        NR > 1 && $5 ~ /^[0-9]+%$/ { p = $5; sub(/%/, "", p); m = $6; for (i = 7; i <= NF; i++) m = m " " $i
            if (p + 0 > 90) fnd(p + 0 >= 98 ? "critical" : "warning", code, sec, m " is " p " % full (" label ")", "")
            print p "\t" m > (sec == "disk" ? dfile : "/dev/null") }' dfile="$WORK/df_use" "$OUT"
    add_section "$1" "$3" "df -P${2:+ $2} (local, real filesystems)" "cap:16384:4" "$OUT"
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
