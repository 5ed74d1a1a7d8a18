$3 ~ /^(ext[234]|xfs|btrfs|f2fs|jfs|reiserfs|zfs)$/ && $1 ~ /^\// {
    print
    if (("," $4 ",") ~ /,ro,/) { ro++; list = list (ro > 1 ? ", " : "") $2 " (" $1 ", " $3 ")" }
}
END {
    if (ro) {
        print "read-only: " list
        print "RO=" list > vfile
    }
}
