BEGIN { for (p = 32768; p <= 59999; p++) printf "TIME-WAIT  0      0      10.0.1.10:%d 10.0.2.15:5432\n", p }
