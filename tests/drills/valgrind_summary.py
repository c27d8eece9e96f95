#!/usr/bin/env python3
"""Sums the valgrind logs of `make drills-valgrind` (one per operator
process): processes, errors, definitely lost bytes; fails unless both are 0.

usage: valgrind_summary.py DIR"""
import glob
import os
import re
import sys


def main():
    d = sys.argv[1]
    logs = sorted(glob.glob(os.path.join(d, "vg.*.log")))
    errors = lost = 0
    bad = []
    for p in logs:
        with open(p, errors="replace") as f:
            text = f.read()
        e = sum(int(x) for x in re.findall(r"ERROR SUMMARY: (\d+) errors", text))
        l = sum(int(x.replace(",", "")) for x in re.findall(r"definitely lost: ([\d,]+) bytes", text))
        # --quiet prints nothing for a clean process; an error shows its stack.
        if e == 0 and re.search(r"^==\d+== (Invalid|Conditional|Use of|Mismatched|Syscall)", text, re.M):
            e = 1
        errors += e
        lost += l
        if e or l:
            bad.append(p)
    print("valgrind: %d operator processes, %d errors, %d bytes definitely lost" %
          (len(logs), errors, lost))
    for p in bad:
        print("  see %s" % p)
    sys.exit(0 if logs and errors == 0 and lost == 0 else 1)


if __name__ == "__main__":
    main()
