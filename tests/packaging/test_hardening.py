"""The operator binary is built with Debian's hardening flags (the Makefile
takes them from dpkg-buildflags with hardening=+all): PIE, full RELRO,
BIND_NOW, the stack protector, FORTIFY_SOURCE, no executable stack. readelf
checks bin/appdb-operator here; test_image.py checks the image's copy."""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))

import hardening  # noqa: E402
import lib  # noqa: E402


def binary():
    path = os.environ.get("APPDB_OPERATOR") or os.path.join(lib.ROOT, "bin", "appdb-operator")
    if not os.access(path, os.X_OK):
        raise lib.Skip("no operator binary")
    if shutil.which("readelf") is None:
        raise lib.Skip("no readelf")
    return path


def test_binary_hardened():
    path = binary()
    if "asan" in lib.run(["ldd", path]).stdout:
        raise lib.Skip("the sanitizer build is not hardened")
    found = hardening.problems(path)
    assert found == [], "%s: %s" % (path, "; ".join(found))


def test_check_finds_an_unhardened_binary():
    """The check itself: a binary linked without the flags is reported."""
    binary()
    d = lib.tmpdir()
    src = os.path.join(d, "plain.c")
    with open(src, "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n"
                "int main(int c, char **v) { char b[8]; memcpy(b, v[0], (size_t)c); puts(b); return c; }\n")
    plain = os.path.join(d, "plain")
    lib.run(["cc", "-O2", "-no-pie", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-Wl,-z,norelro",
             "-Wl,-z,lazy", "-o", plain, src])
    found = " ".join(hardening.problems(plain))
    for word in ("PIE", "GNU_RELRO", "BIND_NOW", "stack protector", "FORTIFY"):
        assert word in found, "%s not reported: %s" % (word, found)
    hard = os.path.join(d, "hard")
    lib.run(["cc", "-O2", "-fPIE", "-pie", "-fstack-protector-all", "-D_FORTIFY_SOURCE=2", "-Wl,-z,relro",
             "-Wl,-z,now", "-o", hard, src])
    assert hardening.problems(hard) == [], hardening.problems(hard)


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    lib.main_for("hardening", tests())
