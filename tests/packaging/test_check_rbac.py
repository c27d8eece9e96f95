"""Self-test of check_rbac.py on a fixture request log and the rendered chart."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import check_rbac  # noqa: E402
import lib  # noqa: E402
import test_helm  # noqa: E402

SA = "system:serviceaccount:appdb-system:appdb-appdb-operator"
FIXTURE = os.path.join(lib.HERE, "fixtures", "rbac-requests.jsonl")


def fixture():
    with open(FIXTURE) as f:
        return f.readlines()


_objs = {}


def ha_chart():
    """Default values with two replicas: ClusterRoles plus the Lease Role."""
    if "ha" not in _objs:
        _objs["ha"] = test_helm.render(sets=["replicaCount=2"])
    return _objs["ha"]


def line(method, path, query="", user=SA, status=200):
    return json.dumps({"method": method, "path": path, "query": query, "user": user, "status": status})


def test_parse_request():
    p = check_rbac.parse_request
    assert p("GET", "/apis/db.platform.dev/v1alpha1/appdatabases", "watch=true") == \
        {"verb": "watch", "group": "db.platform.dev", "resource": "appdatabases", "namespace": None, "name": None}
    assert p("GET", "/apis/db.platform.dev/v1alpha1/namespaces/a/appdatabases?watch=1", "")["verb"] == "watch"
    assert p("PATCH", "/apis/db.platform.dev/v1alpha1/namespaces/a/appdatabases/x/status", "") == \
        {"verb": "patch", "group": "db.platform.dev", "resource": "appdatabases/status", "namespace": "a", "name": "x"}
    assert p("GET", "/api/v1/namespaces/a", "") == \
        {"verb": "get", "group": "", "resource": "namespaces", "namespace": None, "name": "a"}
    assert p("DELETE", "/api/v1/namespaces/a/secrets", "")["verb"] == "deletecollection"
    assert p("GET", "/api", "") is None and p("GET", "/openapi/v2", "") is None and p("GET", "/healthz", "") is None


def test_fixture_log_passes():
    problems, report = check_rbac.check(fixture(), ha_chart())
    assert problems == [], problems
    assert report[0].startswith("14 calls by " + SA), report
    assert any("non-resource request (not judged): GET /apis" in r for r in report)


def test_call_not_granted():
    problems, _ = check_rbac.check(fixture() + [line("GET", "/api/v1/namespaces/team-a/secrets")], ha_chart())
    assert problems == ["not allowed by the rendered rules: list secrets in team-a"], problems


def test_forbidden_answer():
    log = fixture() + [line("GET", "/api/v1/namespaces/team-a/secrets/x", status=403)]
    problems, _ = check_rbac.check(log, ha_chart())
    assert problems == ["forbidden by the server: get secrets x in team-a"], problems


def test_lease_names_are_restricted():
    log = fixture() + [line("PUT", "/apis/coordination.k8s.io/v1/namespaces/appdb-system/leases/other")]
    problems, _ = check_rbac.check(log, ha_chart())
    assert problems == ["not allowed by the rendered rules: update leases other in appdb-system"], problems
    log = fixture() + [line("GET", "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/appdb-appdb-operator")]
    problems, _ = check_rbac.check(log, ha_chart())
    assert len(problems) == 1 and "in team-a" in problems[0], problems


def test_unused_grant():
    log = [entry for entry in fixture() if "/events/" not in entry]
    problems, _ = check_rbac.check(log, ha_chart())
    assert problems == ["granted but never used: patch events by ClusterRole appdb-appdb-operator"], problems
    problems, _ = check_rbac.check(log, ha_chart(), allow_unused=["patch:events"])
    assert problems == [], problems


def test_roles_per_namespace():
    objs = test_helm.render(sets=["config.watchNamespaces={team-a}", "rbac.readSecrets=false"])
    log = [entry for entry in fixture() if "leases" not in entry and "secrets" not in entry]
    problems, _ = check_rbac.check(log, objs)
    # The cluster-wide list and watch are not allowed with per-namespace Roles.
    assert problems == ["not allowed by the rendered rules: list appdatabases (cluster-wide)",
                        "not allowed by the rendered rules: watch appdatabases (cluster-wide)",
                        "granted but never used: list appdatabases (db.platform.dev) by Role appdb-appdb-operator in team-a",
                        "granted but never used: watch appdatabases (db.platform.dev) by Role appdb-appdb-operator in team-a"], problems


def test_log_user():
    log = [entry.replace(SA, "admin") if '"admin"' not in entry else entry.replace('"admin"', '"someone"')
           for entry in fixture()]
    problems, report = check_rbac.check(log, ha_chart(), log_user="admin")
    assert problems == [] and report[0].startswith("14 calls by admin"), (problems, report)
    problems, _ = check_rbac.check(log, ha_chart())
    assert len(problems) == 14 and all(p.startswith("granted but never used") for p in problems), problems


def test_command_line():
    rendered = os.path.join(lib.tmpdir(), "rbac-rendered")
    lib.run([lib.helm(), "template", "appdb", lib.CHART, "--namespace", "appdb-system", "--set", "replicaCount=2",
             "--output-dir", rendered], env=lib.helm_env())
    script = os.path.join(lib.HERE, "check_rbac.py")
    p = lib.run([sys.executable, script, "--log", FIXTURE, "--rendered", rendered], check=False)
    assert p.returncode == 0 and "rbac: ok" in p.stdout, p.stdout + p.stderr
    bad = os.path.join(lib.tmpdir(), "bad.jsonl")
    with open(bad, "w") as f:
        f.writelines(fixture() + [line("DELETE", "/apis/db.platform.dev/v1alpha1/namespaces/a/appdatabases/x") + "\n"])
    p = lib.run([sys.executable, script, "--log", bad, "--rendered", rendered], check=False)
    assert p.returncode == 1 and "RBAC: not allowed by the rendered rules: delete appdatabases x in a" in p.stdout, p.stdout


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    lib.main_for("check_rbac", tests())
