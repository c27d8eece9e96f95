"""The install on the API simulator: `kubectl apply -k manifests/` for real,
then the operator's own calls made with its ServiceAccount's token. The
rendered RBAC must allow each of them (and refuse what the operator never
does), and check_rbac.py must find the request log clean: every call
allowed, every grant used."""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))

import check_rbac  # noqa: E402
import lib  # noqa: E402

MANIFESTS = os.path.join(lib.ROOT, "manifests")
NS = "appdb-system"
SA = "appdb-operator"
GROUP = "/apis/db.platform.dev/v1alpha1"


class State:
    sim = None
    token = None
    setup_error = None


def setup():
    try:
        State.sim = lib.Kubesim()
    except lib.Skip as e:
        State.setup_error = e


def teardown():
    if State.sim is not None:
        State.sim.close()
        State.sim = None


def need_sim():
    if State.setup_error is not None:
        raise State.setup_error
    assert State.sim is not None, "the simulator did not start"
    return State.sim


def call(method, path, body=None, content_type="application/json"):
    """One request as the operator's ServiceAccount; returns (status, body)."""
    sim = need_sim()
    ctx = ssl.create_default_context(cafile=os.path.join(sim.dir, "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sim.url + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + State.token,
                                          "Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_1_apply_manifests():
    sim = need_sim()
    p = sim.kubectl("apply", "-k", MANIFESTS)
    assert "deployment.apps/appdb-operator created" in p.stdout, p.stdout
    sim.kubectl("get", "deployment", "appdb-operator", "-n", NS)
    sim.kubectl("get", "validatingadmissionpolicy", "appdb-operator-approvals")
    out = sim.kubectl("get", "crd", "appdatabases.db.platform.dev", "-o", "jsonpath={.spec.names.shortNames}").stdout
    assert out == '["appdb"]', out
    # Applying again changes nothing.
    p = sim.kubectl("apply", "-k", MANIFESTS)
    assert "created" not in p.stdout, p.stdout
    sim.kubectl("create", "namespace", "team-a")
    sim.kubectl("apply", "-f", os.path.join(lib.CORPUS, "valid", "02-design-example.yaml"))
    sim.kubectl("create", "secret", "generic", "orders-ro-db", "-n", "team-a", "--from-literal=password=x")
    State.token = sim.ctl("mint-token", NS, SA).stdout.strip()
    assert State.token


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "orders-db", "namespace": "team-a"},
             "data": {"host": "db.example", "port": "5432", "dbname": "orders", "sslmode": "verify-full"}}


def operator_calls():
    """What the operator does in one reconcile of team-a/orders."""
    ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "orders.1", "namespace": "team-a"},
          "involvedObject": {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
                             "name": "orders", "namespace": "team-a"},
          "reason": "Provisioned", "message": "run r1", "type": "Normal", "count": 1,
          "source": {"component": "appdb-operator"}}
    return [
        ("GET", GROUP + "/appdatabases?limit=500", None, None),
        ("GET", GROUP + "/appdatabases?watch=true&timeoutSeconds=1&allowWatchBookmarks=true", None, None),
        ("GET", GROUP + "/namespaces/team-a/appdatabases/orders", None, None),
        ("GET", "/api/v1/namespaces/team-a/secrets/orders-ro-db", None, None),
        ("PATCH", GROUP + "/namespaces/team-a/appdatabases/orders/status",
         {"status": {"observedGeneration": 1, "database": "orders"}}, "application/merge-patch+json"),
        ("POST", "/api/v1/namespaces/team-a/events", ev, None),
        ("PATCH", "/api/v1/namespaces/team-a/events/orders.1", {"count": 2}, "application/merge-patch+json"),
        # spec.connection.configMap: created, read, replaced with the resourceVersion read.
        ("POST", "/api/v1/namespaces/team-a/configmaps", CONFIGMAP, None),
        ("GET", "/api/v1/namespaces/team-a/configmaps/orders-db", None, None),
        ("PUT", "/api/v1/namespaces/team-a/configmaps/orders-db", CONFIGMAP, None),
        # deletionPolicy Disable: the finalizer on the resource itself.
        ("PATCH", GROUP + "/namespaces/team-a/appdatabases/orders",
         {"metadata": {"finalizers": ["db.platform.dev/disable-on-delete"]}},
         "application/merge-patch+json"),
    ]


def test_2_operator_calls_allowed():
    sim = need_sim()
    assert State.token, "no token (the install failed)"
    sim.ctl("clear-requests")
    for method, path, body, ctype in operator_calls():
        status, text = call(method, path, body, ctype or "application/json")
        assert 200 <= status < 300, "%s %s: %d %s" % (method, path, status, text[:300])
    log = sim.ctl("requests").stdout.splitlines()
    objs = lib.yaml_text_to_objects(sim.kubectl("kustomize", MANIFESTS).stdout, "kustomized-install.yaml")
    problems, report = check_rbac.check(log, objs)
    assert problems == [], "\n  ".join([""] + problems)
    assert report[0].startswith("11 calls by system:serviceaccount:%s:%s" % (NS, SA)), report


def test_3_other_calls_forbidden():
    need_sim()
    assert State.token, "no token (the install failed)"
    denied = [
        ("DELETE", GROUP + "/namespaces/team-a/appdatabases/orders"),
        ("PUT", GROUP + "/namespaces/team-a/appdatabases/orders"),
        ("POST", GROUP + "/namespaces/team-a/appdatabases"),
        ("GET", "/api/v1/namespaces/team-a/secrets"),
        ("POST", "/api/v1/namespaces/team-a/secrets"),
        ("GET", "/api/v1/namespaces/team-a/configmaps"),
        ("GET", "/api/v1/namespaces/team-a/events"),
        ("DELETE", "/api/v1/namespaces/team-a/events/orders.1"),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/%s/leases" % NS),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
        ("GET", GROUP + "/namespaces/team-a/appdatabases/orders/status"),
        ("PUT", GROUP + "/namespaces/team-a/appdatabases/orders/status"),
    ]
    wrong = []
    for method, path in denied:
        body = {} if method in ("PUT", "PATCH", "POST") else None
        status, _ = call(method, path, body, "application/merge-patch+json" if method == "PATCH" else "application/json")
        if status != 403:
            wrong.append("%s %s: %d" % (method, path, status))
    assert not wrong, "not forbidden: " + "; ".join(wrong)


APPDB_KS_ONLY = """apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata: {name: reports, namespace: team-a}
spec:
  instance: local
  deletionPolicy: Disable     # the finalizer: the operator patches the resource itself
  database: {name: reports, owner: reports_owner}
  users:
    - name: reports_ro
      access: readonly
      passwordFrom:
        kubernetesSecret: {name: orders-ro-db, key: password}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_4_operator_run():
    """The real operator, run with the ServiceAccount's token against the
    simulator: every call it makes is allowed, its status is accepted by
    the CRD's status schema, and every grant is used (get on a single
    AppDatabase only happens on a status conflict, so it may go unused)."""
    sim = need_sim()
    assert State.token, "no token (the install failed)"
    binary = lib.operator_binary()
    if binary is None:
        raise lib.Skip("no operator binary")
    d = sim.dir
    kubeconfig = os.path.join(d, "operator.kubeconfig")
    with open(kubeconfig, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster: {server: \"%s\", "
                "certificate-authority: \"%s\"}\nusers:\n- name: sa\n  user: {token: \"%s\"}\n"
                "contexts:\n- name: sa\n  context: {cluster: sim, user: sa}\ncurrent-context: sa\n"
                % (sim.url, os.path.join(d, "ca.crt"), State.token))
    pwfile = os.path.join(d, "admin-password")
    with open(pwfile, "w") as f:
        f.write("not-a-real-password\n")
    cache = os.path.join(d, "operator-cache")
    os.makedirs(cache)
    config = os.path.join(d, "operator.yaml")
    # The database port is closed: every reconcile ends DatabaseUnreachable
    # after reading the user's Secret, writing status and an Event.
    with open(config, "w") as f:
        f.write("environment: dev\ninstances:\n  local:\n    host: 127.0.0.1\n    port: %d\n"
                "    sslMode: disable\n    admin:\n      user: appdb_admin\n      passwordFrom: {file: %s}\n"
                "cacheDir: %s\nhttpPort: %d\n" % (free_port(), pwfile, cache, free_port()))
    sim.kubectl("apply", "-f", "-", input=APPDB_KS_ONLY)
    sim.ctl("bookmark-interval", "1")
    sim.ctl("clear-requests")
    env = dict(os.environ, POD_NAME="appdb-operator-0", POD_NAMESPACE=NS)
    proc = subprocess.Popen([binary, "run", "--config", config, "--kubeconfig", kubeconfig],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "operator.stderr"), "w"),
                            env=env)
    want = {("GET", "secrets"), ("PATCH", "status"), ("POST", "events"), ("PATCH", "events")}

    def seen():
        got = set()
        for line in sim.ctl("requests").stdout.splitlines():
            e = json.loads(line)
            parts = e["path"].split("/")
            res = parts[-1] if parts[-1] in ("status", "events") else parts[-2] if len(parts) > 2 else ""
            got.add((e["method"], res))
        return got
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not want <= seen():
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the operator did not stop within 30 s of SIGTERM")
    assert rc == 0, "the operator exited %d on SIGTERM" % rc
    # A watch is logged when its connection ends; the simulator notices at the next bookmark.
    log = []
    deadline = time.time() + 10
    while time.time() < deadline:
        log = sim.ctl("requests").stdout.splitlines()
        if any("watch=true" in line for line in log):
            break
        time.sleep(0.5)
    entries = [json.loads(line) for line in log]
    statuses = [e["status"] for e in entries if e["path"].endswith("/status")]
    assert statuses and all(s == 200 for s in statuses), "status writes answered %s" % sorted(set(statuses))
    objs = lib.yaml_text_to_objects(sim.kubectl("kustomize", MANIFESTS).stdout, "kustomized-run.yaml")
    # The database is unreachable: no run is Ready, so no connection ConfigMap is written.
    problems, report = check_rbac.check(log, objs, allow_unused=[
        "get:appdatabases", "get:configmaps", "create:configmaps", "update:configmaps"])
    assert problems == [], "\n  ".join([""] + problems + report)
    out = sim.kubectl("get", "appdb", "reports", "-n", "team-a").stdout.splitlines()[1].split()
    assert out[3:5] == ["False", "DatabaseUnreachable"], out


def test_5_roles_per_namespace():
    """The prod values (Roles in two watched namespaces, Secrets in one) on
    the simulator's authorizer, with a second release's ServiceAccount."""
    sim = need_sim()
    ns = "appdb-prod"
    p = lib.run([lib.helm(), "template", "prod", lib.CHART, "--namespace", ns,
                 "-f", os.path.join(lib.HERE, "values-prod.yaml"),
                 "--set", "metrics.serviceMonitor.enabled=false"], env=lib.helm_env())
    for n in (ns, "team-orders", "team-billing", "team-other"):
        sim.kubectl("create", "namespace", n)
    sim.kubectl("apply", "-f", "-", input=p.stdout)
    saved = State.token
    State.token = sim.ctl("mint-token", ns, "prod-appdb-operator").stdout.strip()
    try:
        expect = [
            ("GET", GROUP + "/namespaces/team-orders/appdatabases", 200),
            ("GET", GROUP + "/namespaces/team-billing/appdatabases?watch=true&timeoutSeconds=1", 200),
            ("GET", GROUP + "/namespaces/team-other/appdatabases", 403),
            ("GET", GROUP + "/appdatabases", 403),
            ("GET", "/api/v1/namespaces/team-orders/secrets/absent", 404),
            ("GET", "/api/v1/namespaces/team-billing/secrets/absent", 403),
            ("POST", "/apis/coordination.k8s.io/v1/namespaces/%s/leases" % ns, 403),
        ]
        wrong = []
        for method, path, want in expect:
            status, _ = call(method, path)
            if status != want:
                wrong.append("%s %s: %d, expected %d" % (method, path, status, want))
        assert not wrong, "; ".join(wrong)
    finally:
        State.token = saved


def test_6_approval_policy_enforced():
    """The approval policies (manifests/ for appdb-approvers, the prod values
    for platform-db-approvers) enforced by the simulator's admission, with
    impersonated users."""
    sim = need_sim()
    sim.kubectl("get", "validatingadmissionpolicy", "prod-appdb-operator-approvals")
    approver = ["--as=jane", "--as-group=platform-db-approvers", "--as-group=appdb-approvers",
                "--as-group=system:masters"]
    other = ["--as=bob", "--as-group=system:masters"]
    doc = """apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata:
  name: %s
  namespace: team-billing
  %s
spec:
  instance: local
  database: {name: billing, owner: billing_owner}
"""
    gen = "db.platform.dev/approved-generation"
    by = "db.platform.dev/approved-by"
    ann = ["annotate", "appdb", "billing", "-n", "team-billing", "--overwrite"]
    steps = [
        ("anyone creates without approval", ["apply", "-f", "-"] + other, doc % ("billing", "labels: {team: billing}"), True),
        ("others may not approve", ann + [gen + "=1", by + "=bob"] + other, None, False),
        ("an approver names someone else", ann + [gen + "=1", by + "=bob"] + approver, None, False),
        ("an approver approves as herself", ann + [gen + "=1", by + "=jane"] + approver, None, True),
        ("others change the spec", ["patch", "appdb", "billing", "-n", "team-billing", "--type=merge", "-p",
                                    '{"spec": {"schemas": ["app"]}}'] + other, None, True),
        ("others change other annotations", ann + ["db.platform.dev/build-id=ci-9"] + other, None, True),
        ("others may not remove the approval", ann + [gen + "-"] + other, None, False),
        ("others may not create approved", ["apply", "-f", "-"] + other,
         doc % ("billing2", 'annotations: {%s: "1", %s: bob}' % (gen, by)), False),
        ("an approver withdraws the approval", ann + [gen + "-", by + "-"] + approver, None, True),
    ]
    wrong = []
    for what, args, stdin, allowed in steps:
        p = sim.kubectl(*args, input=stdin, check=False)
        if (p.returncode == 0) != allowed:
            wrong.append("%s: %s (%s)" % (what, "allowed" if p.returncode == 0 else "denied", p.stderr.strip()[-300:]))
        elif not allowed and "denied request" not in p.stderr:
            wrong.append("%s: refused for another reason: %s" % (what, p.stderr.strip()[-300:]))
    assert not wrong, "\n  ".join([""] + wrong)


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    setup()
    try:
        lib.main_for("install", tests())
    finally:
        teardown()
