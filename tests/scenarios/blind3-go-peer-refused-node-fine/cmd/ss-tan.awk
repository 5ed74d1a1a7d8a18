BEGIN { for (i = 0; i < 9000; i++) printf "TIME-WAIT  0      0           10.0.1.10:443 203.0.%d.%d:%d\n", 113 + int(i / 3000), i % 250 + 1, 40000 + i }
