"""The install on the API simulator: `kubectl apply -k manifests/` for real,
then the operator's own calls made with its ServiceAccount's token. The
rendered RBAC must allow each of them (and refuse what the operator never
does), and check_rbac.py must find the request log clean: every call
allowed, every grant used."""

import json
import os
import ssl
import sys
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
    assert report[0].startswith("7 calls by system:serviceaccount:%s:%s" % (NS, SA)), report


def test_3_other_calls_forbidden():
    need_sim()
    assert State.token, "no token (the install failed)"
    denied = [
        ("DELETE", GROUP + "/namespaces/team-a/appdatabases/orders"),
        ("PUT", GROUP + "/namespaces/team-a/appdatabases/orders"),
        ("PATCH", GROUP + "/namespaces/team-a/appdatabases/orders"),
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


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    setup()
    try:
        lib.main_for("install", tests())
    finally:
        teardown()
