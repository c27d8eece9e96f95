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
    errors = lost = checked = 0
    bad = []
    for p in logs:
        with open(p, errors="replace") as f:
            text = f.read()
        e = sum(int(x) for x in re.findall(r"ERROR SUMMARY: (\d+) errors", text))
        l = sum(int(x.replace(",", "")) for x in re.findall(r"definitely lost: ([\d,]+) bytes", text))
        # A process killed with SIGKILL (the drills' and the leader tests' own
        # kills) ends without a leak check.
        if "LEAK SUMMARY" in text or "All heap blocks were freed" in text:
            checked += 1
        errors += e
        lost += l
        if e or l:
            bad.append(p)
    print("valgrind: %d operator processes (%d exited and were leak-checked), %d errors, "
          "%d bytes definitely lost" % (len(logs), checked, errors, lost))
    for p in bad:
        print("  see %s" % p)
    sys.exit(0 if logs and errors == 0 and lost == 0 else 1)


if __name__ == "__main__":
    main()
