"""The CRD upgrade story, for real on the API simulator with helm itself.

Helm installs `crds/` on the first install only and never upgrades or
deletes it. The chart keeps it that way (no templated CRD), and the docs say:
after `helm upgrade`, run `kubectl apply -f crds/` (from the unpacked chart,
or crds/appdatabase.yaml of the repository). This test installs an older
chart whose CRD lacks a field (`users[].connectionLimit`), upgrades to this
chart and sees the CRD unchanged (kubectl's strict field validation still
refuses the field), applies crds/ as documented and sees the new schema
served and the field kept; a second
apply changes nothing, and `helm uninstall` leaves the CRD and the
resources in place."""

import copy
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))

import lib  # noqa: E402

NS = "appdb-system"
CRD_NAME = "appdatabases.db.platform.dev"
APPDB = """apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata: {name: orders, namespace: team-a}
spec:
  instance: local
  database: {name: orders, owner: orders_owner}
  users:
    - name: orders_app
      access: readwrite
      connectionLimit: 7
      passwordFrom:
        kubernetesSecret: {name: orders-app, key: password}
"""


def user_props(crd):
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "users"]["items"]["properties"]


def old_chart():
    """This chart as version 0.0.9, with a CRD that has no connectionLimit."""
    d = os.path.join(lib.tmpdir(), "chart-0.0.9")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(lib.CHART, d)
    crd = copy.deepcopy(lib.load_crd())
    del user_props(crd)["connectionLimit"]
    with open(os.path.join(d, "crds", "appdatabase.yaml"), "w") as f:
        json.dump(crd, f, indent=1)
    with open(os.path.join(d, "Chart.yaml")) as f:
        text = f.read()
    with open(os.path.join(d, "Chart.yaml"), "w") as f:
        f.write(text.replace("\nversion: 0.1.0\n", "\nversion: 0.0.9\n", 1))
    return d


def test_upgrade_then_apply_crds():
    sim = lib.Kubesim()
    try:
        helm = [lib.helm(), "--kubeconfig", sim.kubeconfig]
        env = lib.helm_env()
        lib.run(helm + ["install", "appdb-operator", old_chart(), "-n", NS, "--create-namespace"], env=env)
        sim.kubectl("create", "namespace", "team-a")

        def served_crd():
            return json.loads(sim.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)

        def applied_limit():
            """The connectionLimit the server kept, or the refusal."""
            p = sim.kubectl("apply", "-f", "-", input=APPDB, check=False)
            if p.returncode != 0:
                return p.stderr.strip()
            got = json.loads(sim.kubectl("get", "appdb", "orders", "-n", "team-a", "-o", "json").stdout)
            return got["spec"]["users"][0].get("connectionLimit")

        assert "connectionLimit" not in user_props(served_crd())
        refused = applied_limit()
        assert 'unknown field "spec.users[0].connectionLimit"' in str(refused), refused

        # helm upgrade to this chart: Helm leaves the CRD as it was.
        lib.run(helm + ["upgrade", "appdb-operator", lib.CHART, "-n", NS], env=env)
        (rel,) = json.loads(lib.run(helm + ["list", "-n", NS, "-o", "json"], env=env).stdout)
        assert rel["chart"] == "appdb-operator-0.1.0" and rel["revision"] == "2", rel
        assert "connectionLimit" not in user_props(served_crd()), "helm upgraded the CRD after all"
        assert "unknown field" in str(applied_limit())

        # The documented step.
        p = sim.kubectl("apply", "-f", os.path.join(lib.CHART, "crds") + "/")
        assert "%s configured" % ("customresourcedefinition.apiextensions.k8s.io/" + CRD_NAME) in p.stdout, p.stdout
        served = served_crd()
        want = lib.load_crd()
        assert served["spec"]["versions"] == want["spec"]["versions"], "the served CRD is not crds/appdatabase.yaml"
        assert applied_limit() == 7, "the new field is still refused or pruned"
        p = sim.kubectl("apply", "-f", os.path.join(lib.CHART, "crds") + "/")
        assert "unchanged" in p.stdout, p.stdout

        # Uninstalling the release keeps the CRD, so no AppDatabase is lost.
        # --keep-history: the simulator does not take the protobuf body of
        # the delete that purges the release records; the objects go anyway.
        lib.run(helm + ["uninstall", "appdb-operator", "-n", NS, "--keep-history"], env=env)
        gone = sim.kubectl("get", "deployment", "appdb-operator", "-n", NS, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout + gone.stderr
        served_crd()
        sim.kubectl("get", "appdb", "orders", "-n", "team-a")
    finally:
        sim.close()


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    lib.main_for("crd-upgrade", tests())
