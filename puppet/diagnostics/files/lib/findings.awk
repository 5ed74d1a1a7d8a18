BEGIN { FS = "\t"; n = 0; crit = 0; shown = 0; more = 0; used = 0 }
{
    if ((getline msg < msgfile) <= 0) msg = ""
    sev = $3; code = $4
    if (++per[code] > maxcode) { more++; next }
    if (sev == "critical" && ++crit > maxcrit) sev = "warning"
    one = sprintf("{\"severity\":\"%s\",\"code\":\"%s\",\"message\":\"%s\",\"section\":\"%s\"%s}", sev, code, msg, $5, $6 == "" ? "" : ",\"at\":\"" iso_of($6) "\"")
    if (shown >= maxf || used + length(one) + 1 > budget) { more++; next }
    printf "%s%s", (shown++ > 0 ? "," : ""), one; used += length(one) + 1
}
END { if (more > 0) printf "%s{\"severity\":\"info\",\"code\":\"more-findings\",\"message\":\"%d more findings not shown\",\"section\":\"host\"}", (shown > 0 ? "," : ""), more }
