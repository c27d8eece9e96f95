"""The container image, built by `make image` and run here (make image-test,
through hack/image-test.sh, which picks the engine: podman or docker).

- its metadata: the OCI labels, the non-root user, the cache VOLUME, the
  exec-form entrypoint; the binary's build id and hardening (readelf on the
  copy inside the image); every shared library resolves inside the image;
- the SBOM (CycloneDX JSON) lists exactly the packages of the image's dpkg
  database, with their versions;
- a plain `run --read-only` with only the config mounted: `reconcile`
  provisions a database and writes its audit trail into the cache VOLUME;
- the image run as the chart's Deployment runs it: the container spec of
  `helm template` (args, env, security contexts, mounts, limits) turned into
  engine flags, the in-cluster ServiceAccount token of the API simulator
  at the in-cluster path, KUBERNETES_SERVICE_HOST/PORT on loopback (host
  network); an AppDatabase goes Ready, the process is non-root with no
  capabilities and no new privileges on a read-only root, every API call
  is one the chart's RBAC allows, and `stop` ends it with exit 0 within a
  few seconds.

Ends with `image: N passed, M failed`."""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

import check_rbac  # noqa: E402
import hardening  # noqa: E402
import lib  # noqa: E402
from e2e import free_port  # noqa: E402
from harness import PgServer  # noqa: E402

ENGINE = os.environ.get("IMAGE_ENGINE", "podman")
CACHE_DIR = "/var/cache/appdb-operator"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NS = "appdb-system"
RELEASE = "appdb-operator"
# How long `stop` may take: the operator finishes what runs and exits on SIGTERM.
STOP_SECONDS = 5


def makefile_version():
    with open(os.path.join(lib.ROOT, "Makefile")) as f:
        return re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)


IMAGE = os.environ.get("IMAGE") or "appdb-operator:" + makefile_version()
SBOM = os.environ.get("SBOM") or os.path.join(lib.ROOT, "build", "image", "sbom.cdx.json")


def engine(*args, check=True, timeout=120):
    return lib.run([ENGINE] + [str(a) for a in args], check=check, timeout=timeout)


def inspect():
    return json.loads(engine("image", "inspect", IMAGE).stdout)[0]


class State:
    error = None
    pg = None
    sim = None
    work = None
    containers = []


def setup():
    try:
        engine("image", "inspect", IMAGE)
    except AssertionError as e:
        State.error = AssertionError("no image %s (make image builds it): %s" % (IMAGE, e))
        return
    State.work = tempfile.mkdtemp(prefix="appdb-image.")
    os.chmod(State.work, 0o755)


def teardown():
    for name in State.containers:
        engine("rm", "-f", "-v", name, check=False)
    if State.sim is not None:
        State.sim.close()
    if State.pg is not None:
        State.pg.stop()
    if State.work:
        shutil.rmtree(State.work, ignore_errors=True)


def need():
    if State.error is not None:
        raise State.error


def pg():
    if State.pg is None:
        State.pg = PgServer()
    return State.pg


def copy_binary():
    """The operator binary copied out of a created (never started) container."""
    need()
    dest = os.path.join(State.work, "appdb-operator.image")
    if not os.path.exists(dest):
        cid = engine("create", IMAGE).stdout.strip()
        try:
            engine("cp", cid + ":/usr/local/bin/appdb-operator", dest)
        finally:
            engine("rm", "-f", "-v", cid, check=False)
    return dest


# ---- metadata, binary, SBOM ----

def test_1_labels_user_volume():
    need()
    cfg = inspect()["Config"]
    labels = cfg.get("Labels") or {}
    version = makefile_version()
    oci = "org.opencontainers.image."
    assert labels.get(oci + "title") == "appdb-operator", labels
    assert labels.get(oci + "version") == version, labels
    head = lib.run(["git", "-C", lib.ROOT, "rev-parse", "HEAD"], check=False).stdout.strip()
    rev = labels.get(oci + "revision", "")
    assert head and rev.split("-")[0] == head, "revision %r, HEAD %r" % (rev, head)
    created = datetime.datetime.strptime(labels.get(oci + "created", ""), "%Y-%m-%dT%H:%M:%SZ")
    assert created < datetime.datetime.utcnow() + datetime.timedelta(minutes=5), "created %s" % created
    if not rev.endswith("-dirty"):
        # A clean build is dated by its commit (hack/image-build.sh).
        ct = int(lib.run(["git", "-C", lib.ROOT, "log", "-1", "--format=%ct"]).stdout)
        assert created == datetime.datetime.utcfromtimestamp(ct), "created %s, commit %s" % (created, ct)
    for key in ("source", "licenses", "description"):
        assert labels.get(oci + key), "no %s%s label: %s" % (oci, key, labels)
    assert cfg.get("User") == "65532:65532", cfg.get("User")
    assert CACHE_DIR in (cfg.get("Volumes") or {}), "no VOLUME %s: %s" % (CACHE_DIR, cfg.get("Volumes"))
    assert cfg.get("Entrypoint") == ["/usr/local/bin/appdb-operator"], cfg.get("Entrypoint")
    assert cfg.get("Cmd") == ["run"], cfg.get("Cmd")
    assert "8080/tcp" in (cfg.get("ExposedPorts") or {}), cfg.get("ExposedPorts")
    size = int(inspect()["Size"])
    print("     image %s: %.1f MB" % (IMAGE, size / 1e6), flush=True)
    assert size < 150e6, "the image grew to %.0f MB" % (size / 1e6)


def test_2_version_and_build_id():
    need()
    out = engine("run", "--rm", "--network", "none", "--read-only", IMAGE, "version").stdout.strip()
    want = os.environ.get("BUILD_ID")
    m = re.fullmatch(r"appdb-operator (\S+) \(build (\S+)\)", out)
    assert m, out
    assert m.group(1) == makefile_version(), out
    assert m.group(2) != "unknown", "the image was built without a build id: " + out
    if want:
        assert m.group(2) == want, "build %s, expected %s" % (m.group(2), want)


def test_3_binary_hardened():
    path = copy_binary()
    found = hardening.problems(path)
    assert found == [], "the image's binary: " + "; ".join(found)
    assert hardening.fortified(path), "no fortified calls"


def test_4_libraries_resolve():
    need()
    out = engine("run", "--rm", "--network", "none", "--read-only", "--entrypoint", "ldd", IMAGE,
                 "/usr/local/bin/appdb-operator").stdout
    assert "not found" not in out, out
    assert "libpq.so.5" in out and "libcurl.so.4" in out, out


def dpkg_in_image():
    out = engine("run", "--rm", "--network", "none", "--read-only", "--entrypoint", "dpkg-query", IMAGE, "-W",
                 "-f", "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n").stdout
    pkgs = {}
    for line in out.splitlines():
        status, name, version, arch = line.split("\t")
        if status.startswith("ii"):
            pkgs[name] = (version, arch)
    return pkgs


def test_5_sbom():
    need()
    assert os.path.exists(SBOM), "no SBOM at %s (make image writes it)" % SBOM
    with open(SBOM) as f:
        bom = json.load(f)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5", bom.get("specVersion")
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", bom["serialNumber"]), bom["serialNumber"]
    meta = bom["metadata"]["component"]
    assert meta["type"] == "container" and meta["bom-ref"] == IMAGE, meta
    props = {p["name"]: p["value"] for p in meta["properties"]}
    assert props["image:id"] == inspect()["Id"], "the SBOM is of another image: %s" % props["image:id"]
    libs = {c["name"]: c for c in bom["components"] if c["type"] == "library"}
    want = dpkg_in_image()
    got = {n: (c["version"], next(p["value"] for p in c["properties"] if p["name"] == "dpkg:architecture"))
           for n, c in libs.items()}
    assert got == want, "SBOM and the image's dpkg differ: %s" % sorted(set(got.items()) ^ set(want.items()))[:10]
    for name in ("libpq5", "libcurl4", "libssl3", "libjansson4", "libyaml-0-2", "libmicrohttpd12", "libexpat1",
                 "ca-certificates", "libc6"):
        assert name in libs, "%s not in the SBOM" % name
    assert not [n for n in libs if n.endswith("-dev")], "build packages in the runtime image"
    for n, c in libs.items():
        assert c["purl"].startswith("pkg:deb/debian/%s@" % urllib.parse.quote(n)), c["purl"]
        assert "distro=debian-12" in c["purl"], c["purl"]
    (op,) = [c for c in bom["components"] if c["type"] == "application"]
    assert op["name"] == "appdb-operator" and op["version"] == makefile_version(), op


# ---- running it ----

def render_chart(extra_values, values_file=None):
    """helm template of the chart (with its CRD) for values_file and the
    values given, as text and objects."""
    values = os.path.join(State.work, "values.json")
    with open(values, "w") as f:
        json.dump(extra_values, f)
    files = ["-f", values_file] if values_file else []
    p = lib.run([lib.helm(), "template", RELEASE, lib.CHART, "--namespace", NS, "--include-crds"]
                + files + ["-f", values, "--set-file", "caBundle=" + pg().ca], env=lib.helm_env())
    return p.stdout, lib.yaml_text_to_objects(p.stdout, "image-rendered.yaml")


def chart_values(http_port):
    p = pg()
    return {
        "config": {
            "httpPort": http_port,
            "resyncSeconds": 60,
            "instances": {"local": {"host": "127.0.0.1", "port": p.port, "sslMode": "verify-full",
                                    "admin": {"user": p.admin,
                                              "passwordFrom": {"file": "/etc/appdb-operator/admin/password"}}}},
        },
        "extraVolumes": [{"name": "admin", "secret": {"secretName": "appdb-admin"}}],
        "extraVolumeMounts": [{"name": "admin", "mountPath": "/etc/appdb-operator/admin", "readOnly": True}],
    }


def find(objs, kind, name=None):
    for o in objs:
        if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name):
            return o
    raise AssertionError("no %s %s rendered" % (kind, name or ""))


def write_files(d, files, mode=0o644):
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(d, name), mode)
    return d


def volume_dirs(objs, spec, secrets, pod):
    """A host directory per volume of the pod: ConfigMap and Secret contents
    as files, emptyDirs empty and writable as the kubelet makes them."""
    dirs = {}
    for v in spec["volumes"]:
        d = os.path.join(State.work, "vol-%s-%s" % (pod, v["name"]))
        if "configMap" in v:
            write_files(d, find(objs, "ConfigMap", v["configMap"]["name"])["data"])
        elif "secret" in v:
            write_files(d, secrets[v["secret"]["secretName"]], 0o444)
        elif "emptyDir" in v:
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o777)
        else:
            raise AssertionError("no host directory for volume %s" % v)
        dirs[v["name"]] = d
    return dirs


def memory_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", str(q))
    return int(m.group(1)) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m.group(2)]


def deployment_flags(deploy, dirs, sa_dir, api_port, pod_name):
    """The engine flags that run the container as the kubelet would run the
    Deployment's pod: security contexts, env, mounts, limits."""
    spec = deploy["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
    flags = ["--network", "host"]
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    if uid is not None:
        flags += ["--user", "%d:%d" % (uid, gid if gid is not None else uid)]
    if psc.get("fsGroup") is not None:
        flags += ["--group-add", str(psc["fsGroup"])]
    if csc.get("readOnlyRootFilesystem"):
        flags += ["--read-only"]
        if ENGINE == "podman":
            flags += ["--read-only-tmpfs=false"]  # the kubelet adds no tmpfs
    for cap in csc.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", cap]
    for cap in csc.get("capabilities", {}).get("add", []):
        flags += ["--cap-add", cap]
    if csc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    assert not csc.get("privileged"), "privileged container"
    seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
    assert seccomp == "RuntimeDefault", seccomp  # the engine's default profile
    fields = {"metadata.name": pod_name, "metadata.namespace": NS}
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api_port)}
    for e in c.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
    for k, v in env.items():
        flags += ["-e", "%s=%s" % (k, v)]
    mounts = [(dirs[m["name"]], m["mountPath"], m.get("readOnly", False)) for m in c["volumeMounts"]]
    if spec.get("automountServiceAccountToken", True):
        mounts.append((sa_dir, SA_DIR, True))
    for src, dst, ro in mounts:
        # A mount inside another needs its mount point on the outer one's host side.
        for osrc, odst, _ in mounts:
            if dst.startswith(odst.rstrip("/") + "/"):
                os.makedirs(os.path.join(osrc, os.path.relpath(dst, odst)), exist_ok=True)
        flags += ["-v", "%s:%s%s" % (src, dst, ":ro" if ro else "")]
    limits = c.get("resources", {}).get("limits", {})
    if "memory" in limits:
        flags += ["--memory", str(memory_bytes(limits["memory"]))]
    return flags, c.get("args", [])


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def root_mount_options(pid):
    with open("/proc/%d/mountinfo" % pid) as f:
        for line in f:
            parts = line.split()
            if parts[4] == "/":
                return parts[5].split(",")
    return []


APPDB = """apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata: {name: %(name)s, namespace: team-a}
spec:
  instance: local
  deletionPolicy: Disable     # the finalizer: every grant of the chart's RBAC is used
  database: {name: %(name)s, owner: %(name)s_owner}
  connection: {configMap: %(name)s-db}   # configmaps get and create (update: when one changes)
  users:
    - name: %(name)s_ro
      access: readonly
      passwordFrom:
        kubernetesSecret: {name: %(name)s-ro, key: password}
"""


def test_6_read_only_plain_run():
    """`run --read-only` with the config alone mounted (the image's own user,
    no cache mount): the cache VOLUME takes the audit trail."""
    need()
    p = pg()
    http_port = free_port()
    _, objs = render_chart(chart_values(http_port))
    conf = find(objs, "ConfigMap", RELEASE)["data"]
    d = write_files(os.path.join(State.work, "plain-etc"), conf)
    write_files(os.path.join(d, "admin"), {"password": p.admin_password}, 0o444)
    write_files(os.path.join(d, "manifests"), {
        "plain.yaml": APPDB.replace("kubernetesSecret: {name: %(name)s-ro, key: password}",
                                    "kubernetesSecret: {name: plain-ro, key: password}") % {"name": "plain"}
        + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: plain-ro, namespace: team-a}\n"
          "stringData: {password: plain-ro-pw-1}\n"})
    name = "appdb-image-plain-%d" % os.getpid()
    State.containers.append(name)
    r = engine("run", "--name", name, "--network", "host", "--read-only", "-v", d + ":/etc/appdb-operator:ro",
               "-e", "BUILD_ID=image-test", IMAGE, "reconcile", "-f", "/etc/appdb-operator/manifests", check=False)
    assert r.returncode == 0, "reconcile exited %d: %s" % (r.returncode, r.stderr[-1500:])
    records = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert any(x.get("result") == "Changed" and x.get("buildId") == "image-test" for x in records), r.stdout
    assert p.database_exists("plain")
    assert p.can_login("plain_ro", "plain-ro-pw-1", "plain")
    mounts = json.loads(engine("inspect", name).stdout)[0]["Mounts"]
    (vol,) = [m for m in mounts if m["Destination"] == CACHE_DIR]
    audit = os.path.join(vol["Source"], "audit.jsonl")
    with open(audit) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    assert [x["runId"] for x in lines] == [x["runId"] for x in records], "audit.jsonl differs from stdout"
    assert p.admin_password not in r.stdout + r.stderr and "plain-ro-pw-1" not in r.stdout + r.stderr


def api_sim():
    """The API simulator with the namespaces; started once for the run tests."""
    if State.sim is None:
        State.sim = lib.Kubesim()
        State.sim.kubectl("create", "namespace", NS)
        State.sim.kubectl("create", "namespace", "team-a")
    return State.sim


def run_as_deployment(db, values_file=None, assigned=None):
    """Renders the chart (plus values_file), installs it on the simulator,
    runs the image as its Deployment says, takes the AppDatabase db to
    Ready, stops the container. assigned: the (uid, gid, fsGroup) a policy
    such as OpenShift's SCC gives a pod that fixes none."""
    need()
    p = pg()
    sim = api_sim()
    http_port = free_port()
    values = chart_values(http_port)
    text, objs = render_chart(values, values_file and os.path.join(lib.HERE, values_file))
    deploy = find(objs, "Deployment", RELEASE)
    spec = deploy["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["image"] == IMAGE, "the chart's default image %s is not what make image tags (%s)" % (c["image"], IMAGE)
    sim.kubectl("apply", "-f", "-", input=text)
    pw = "%s-ro-pw-1" % db
    sim.kubectl("create", "secret", "generic", "%s-ro" % db, "-n", "team-a", "--from-literal=password=" + pw)
    token = sim.ctl("mint-token", NS, RELEASE).stdout.strip()
    sa_dir = write_files(os.path.join(State.work, "serviceaccount-" + db), {
        "token": token, "namespace": NS, "ca.crt": open(os.path.join(sim.dir, "ca.crt")).read()}, 0o444)
    dirs = volume_dirs(objs, spec, {"appdb-admin": {"password": p.admin_password}}, db)
    api_port = int(sim.url.rsplit(":", 1)[1])
    name = "appdb-image-%s-%d" % (db, os.getpid())
    flags, args = deployment_flags(deploy, dirs, sa_dir, api_port, name)
    if assigned:
        assert "--user" not in flags, "the chart fixes the user: %s" % flags
        flags += ["--user", "%d:%d" % assigned[:2], "--group-add", str(assigned[2])]
        uid, gid, group = assigned
    else:
        uid, gid, group = c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"], \
            spec["securityContext"]["fsGroup"]
    sim.ctl("clear-requests")
    State.containers.append(name)
    engine("run", "-d", "--name", name, *flags, IMAGE, *args)

    def logs():
        r = engine("logs", name, check=False)
        return r.stdout + r.stderr

    try:
        end = time.monotonic() + 30
        while http_get(http_port, "/readyz") != 200:
            state = json.loads(engine("inspect", name).stdout)[0]["State"]
            assert state["Running"] and time.monotonic() < end, "not ready: %s\n%s" % (state, logs()[-2000:])
            time.sleep(0.3)
        assert http_get(http_port, "/healthz") == 200
        sim.kubectl("apply", "-f", "-", input=APPDB % {"name": db})
        r = sim.kubectl("wait", "--for=condition=Ready", "appdb/" + db, "-n", "team-a", "--timeout=60s",
                        check=False)
        assert r.returncode == 0, "not Ready: %s\n%s\n%s" % (
            r.stderr, sim.kubectl("get", "appdb", db, "-n", "team-a", "-o", "yaml").stdout, logs()[-3000:])
        assert p.database_exists(db)
        assert p.can_login(db + "_ro", pw, db)

        # The process as the kernel sees it.
        pid = json.loads(engine("inspect", name).stdout)[0]["State"]["Pid"]
        st = proc_status(pid)
        assert st["Uid"].split() == [str(uid)] * 4 and st["Gid"].split() == [str(gid)] * 4, (st["Uid"], st["Gid"])
        assert str(group) in st["Groups"].split(), st["Groups"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, "%s %s" % (cap, st[cap])
        assert st["NoNewPrivs"] == "1", st["NoNewPrivs"]
        assert st["Seccomp"] == "2", "no seccomp filter: %s" % st["Seccomp"]
        assert "ro" in root_mount_options(pid), root_mount_options(pid)
        metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5).read().decode()
        assert re.search(r"^appdb_kube_api_up 1", metrics, re.M), metrics[:500]
        assert re.search(r'^appdb_resources\{ready="true"\} [1-9]', metrics, re.M), metrics[:1500]

        # SIGTERM through the engine: exit 0, well within the grace period.
        grace = deploy["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        start = time.monotonic()
        engine("stop", "-t", grace, name, timeout=grace + 30)
        took = time.monotonic() - start
        state = json.loads(engine("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, "exit %s\n%s" % (state["ExitCode"], logs()[-2000:])
        assert took < STOP_SECONDS, "stop took %.1f s" % took
        print("     ready, Ready and stopped (%.1f s)" % took, flush=True)
    finally:
        out = logs()
    assert p.admin_password not in out and pw not in out and token not in out, "a secret in the log"
    with open(os.path.join(dirs["cache"], "audit.jsonl")) as f:
        audit = [json.loads(line) for line in f if line.strip()]
    assert any(a.get("resource") == "team-a/" + db and a.get("result") == "Changed" for a in audit), audit
    # Every call was made with the mounted token and is one the chart's RBAC allows.
    log = sim.ctl("requests", "--clear").stdout.splitlines()
    problems, report = check_rbac.check(log, objs, allow_unused=["get:appdatabases", "patch:events",
                                                            "update:configmaps"])
    assert problems == [], "\n  ".join([""] + problems + report)


def test_7_deployment_run():
    run_as_deployment("orders")


def test_8_openshift_run():
    """values-openshift.yaml fixes no ids; the pod runs under the uid, gid 0
    and fsGroup that restricted-v2 picks from a namespace's range."""
    run_as_deployment("billing", "values-openshift.yaml", assigned=(1000650000, 0, 1000650000))


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    setup()
    try:
        lib.main_for("image", tests())
    finally:
        teardown()
