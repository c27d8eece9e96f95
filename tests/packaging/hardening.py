"""What readelf says about a binary's hardening, as Debian's hardening-check
reads it: PIE, full RELRO (a GNU_RELRO segment and BIND_NOW), the stack
protector (__stack_chk_fail imported), FORTIFY (some __*_chk function
imported) and a non-executable stack. Used on bin/appdb-operator by
test_hardening.py and on the binary inside the image by test_image.py."""

import re
import subprocess


def readelf(path, *args):
    p = subprocess.run(["readelf", "-W"] + list(args) + [path], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("readelf %s %s: %s" % (" ".join(args), path, p.stderr.strip()))
    return p.stdout


def problems(path):
    """The hardening features the binary at path lacks; [] when it has all."""
    out = []
    header = readelf(path, "-h")
    dynamic = readelf(path, "-d")
    segments = readelf(path, "-l")
    symbols = readelf(path, "--dyn-syms")
    if not re.search(r"Type:\s+DYN", header) or not re.search(r"\(FLAGS_1\).*\bPIE\b", dynamic):
        out.append("not a position-independent executable (PIE)")
    if not re.search(r"^\s*GNU_RELRO\s", segments, re.M):
        out.append("no GNU_RELRO segment (RELRO)")
    if not (re.search(r"\(FLAGS\).*\bBIND_NOW\b", dynamic) or re.search(r"\(FLAGS_1\).*\bNOW\b", dynamic)):
        out.append("no BIND_NOW (RELRO is partial)")
    if "__stack_chk_fail" not in symbols:
        out.append("no stack protector (__stack_chk_fail not imported)")
    if not re.search(r"\b__\w+_chk\b", symbols.replace("__stack_chk_fail", "")):
        out.append("no FORTIFY_SOURCE (no __*_chk function imported)")
    stack = re.search(r"^\s*GNU_STACK\s.*\s(R?W?E?)\s+0x[0-9a-f]+$", segments, re.M)
    if stack is None or "E" in stack.group(1):
        out.append("executable stack (GNU_STACK is not RW)")
    return out


def fortified(path):
    """The __*_chk functions the binary imports (for messages)."""
    return sorted(set(re.findall(r"\b(__\w+_chk)\b", readelf(path, "--dyn-syms"))) - {"__stack_chk_fail"})
