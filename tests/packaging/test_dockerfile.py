"""The Dockerfile, read as text: its stages, the runtime packages against
the binary's NEEDED libraries (mapped to Debian packages with dpkg on this
bookworm machine), the user (the chart's), the exec-form entrypoint, the
cache VOLUME, the OCI labels, and the build context allowed by .dockerignore.
test_image.py (make image-test) builds and runs the image itself."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))

import lib  # noqa: E402

RUNTIME = {"libcurl4", "libjansson4", "libpq5", "libyaml-0-2", "libssl3", "libmicrohttpd12", "libexpat1",
           "ca-certificates"}
# In every Debian base image already.
ESSENTIAL = {"libc6", "libgcc-s1"}


def instructions():
    """(INSTRUCTION, argument) pairs with continuation lines joined."""
    with open(os.path.join(lib.ROOT, "Dockerfile")) as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages():
    out = []
    for ins, arg in instructions():
        if ins == "FROM":
            out.append([(ins, arg)])
        else:
            out[-1].append((ins, arg))
    return out


def apt_packages(stage):
    pkgs = set()
    for ins, arg in stage:
        if ins == "RUN" and "apt-get install" in arg:
            seg = arg.split("apt-get install", 1)[1].split("&&", 1)[0]
            pkgs |= {w for w in seg.split() if not w.startswith("-")}
    return pkgs


def test_stages():
    st = stages()
    assert len(st) == 2, "two stages: build and runtime"
    assert st[0][0][1] == "debian:bookworm AS build", st[0][0]
    assert st[1][0][1] == "debian:bookworm-slim", st[1][0]
    runs = " ".join(a for i, a in st[0] if i == "RUN")
    assert "make" in runs
    assert {"libcurl4-openssl-dev", "libjansson-dev", "libpq-dev", "libyaml-dev", "libssl-dev",
            "libmicrohttpd-dev", "build-essential", "pkg-config"} <= apt_packages(st[0])
    copies = [a for i, a in st[1] if i == "COPY"]
    assert copies == ["--from=build /src/bin/appdb-operator /usr/local/bin/appdb-operator"], copies


def test_runtime_packages():
    final = stages()[1]
    pkgs = apt_packages(final)
    assert pkgs == RUNTIME, pkgs ^ RUNTIME
    assert not any(p.endswith("-dev") for p in pkgs)
    runs = " ".join(a for i, a in final if i == "RUN")
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists/*" in runs


def test_user_and_entrypoint():
    final = dict((i, a) for i, a in stages()[1])
    user = final["USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root id: %s" % user
    assert gid == "" or (gid.isdigit() and int(gid) != 0)
    assert json.loads(final["ENTRYPOINT"]) == ["/usr/local/bin/appdb-operator"], "exec-form ENTRYPOINT"
    assert json.loads(final["CMD"]) == ["run"]
    assert "SHELL" not in final
    # The chart runs the same user id by default.
    with open(os.path.join(lib.CHART, "values.yaml")) as f:
        assert f.read().count("  runAsUser: %s\n" % uid) == 2, "values.yaml runs another uid than the image"


def test_volume_and_labels():
    final = stages()[1]
    vols = [json.loads(a) for i, a in final if i == "VOLUME"]
    assert vols == [["/var/cache/appdb-operator"]], vols
    with open(os.path.join(lib.CHART, "templates", "_helpers.tpl")) as f:
        assert "\n/var/cache/appdb-operator\n" in f.read(), "the chart's cacheDir is not the image's VOLUME"
    args = {}
    for ins, arg in final:
        if ins == "ARG":
            k, _, v = arg.partition("=")
            args[k] = v
    with open(os.path.join(lib.ROOT, "Makefile")) as f:
        version = re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)
    assert args.get("VERSION") == version, "ARG VERSION=%s, the Makefile says %s" % (args.get("VERSION"), version)
    labels = " ".join(a for i, a in final if i == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert "org.opencontainers.image.%s=" % key in labels, "no %s label" % key
    runs = " ".join(a for i, a in stages()[0] if i == "RUN")
    assert "HARDEN=1" in runs, "the image's make must keep the hardening flags"


def test_libraries_match_binary():
    binary = os.environ.get("APPDB_OPERATOR") or os.path.join(lib.ROOT, "bin", "appdb-operator")
    if not os.access(binary, os.X_OK):
        raise lib.Skip("no operator binary")
    needed = re.findall(r"NEEDED\s+(\S+)", lib.run(["objdump", "-p", binary]).stdout)
    assert needed, "no NEEDED entries"
    ldd = {}
    for line in lib.run(["ldd", binary]).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            ldd[m.group(1)] = m.group(2)
    missing = []
    for lib_name in needed:
        if lib_name.startswith(("libasan", "libubsan")):
            continue  # the sanitizer build
        path = ldd.get(lib_name)
        assert path and path != "not", "%s does not resolve" % lib_name
        pkg = None
        for cand in (path, os.path.realpath(path), path.replace("/usr/lib/", "/lib/"),
                     path.replace("/lib/", "/usr/lib/", 1)):
            p = lib.run(["dpkg", "-S", cand], check=False)
            if p.returncode == 0:
                pkg = p.stdout.split(":", 1)[0].strip()
                break
        assert pkg, "no Debian package owns %s" % path
        if pkg not in RUNTIME | ESSENTIAL:
            missing.append("%s (%s)" % (lib_name, pkg))
    assert not missing, "the image lacks: %s" % ", ".join(missing)


def test_dockerignore_context():
    with open(os.path.join(lib.ROOT, ".dockerignore")) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "exclude everything, then allow what the build copies"
    allowed = {line[1:] for line in lines[1:] if line.startswith("!")}
    for ins, arg in stages()[0]:
        if ins == "COPY":
            src = arg.split()[0].rstrip("/")
            assert src in allowed, "COPY %s is excluded by .dockerignore" % src


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    lib.main_for("dockerfile", tests())
