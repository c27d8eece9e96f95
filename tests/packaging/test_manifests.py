"""manifests/: up to date with the chart, a valid kustomization, and
`kubectl apply --dry-run=client -k manifests/` succeeds. kubectl needs a
server for discovery even in client dry-run, so a read-only stub answers
discovery (discovery_stub.py); it must see no write."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import lib  # noqa: E402
from discovery_stub import DiscoveryStub  # noqa: E402

MANIFESTS = os.path.join(lib.ROOT, "manifests")


def test_up_to_date():
    p = lib.run([os.path.join(lib.ROOT, "hack", "gen-manifests.sh"), "--check"], check=False)
    assert p.returncode == 0, "manifests/ or the chart's CRD is stale: %s" % p.stderr.strip()[-1500:]


def test_kustomize_build():
    p = lib.run([lib.KUBECTL, "kustomize", MANIFESTS])
    objs = lib.yaml_text_to_objects(p.stdout, "kustomized.yaml")
    got = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    want = sorted([
        ("Namespace", "appdb-system"),
        ("CustomResourceDefinition", "appdatabases.db.platform.dev"),
        ("ServiceAccount", "appdb-operator"),
        ("ConfigMap", "appdb-operator"),
        ("ClusterRole", "appdb-operator"),
        ("ClusterRoleBinding", "appdb-operator"),
        ("ClusterRole", "appdb-operator-secrets"),
        ("ClusterRoleBinding", "appdb-operator-secrets"),
        ("Service", "appdb-operator-metrics"),
        ("Deployment", "appdb-operator"),
        ("ValidatingAdmissionPolicy", "appdb-operator-approvals"),
        ("ValidatingAdmissionPolicyBinding", "appdb-operator-approvals"),
    ])
    assert got == want, got
    for o in objs:
        labels = o["metadata"].get("labels", {})
        assert "helm.sh/chart" not in labels, "%s keeps Helm's labels" % o["kind"]
        if o["kind"] not in ("Namespace", "CustomResourceDefinition"):
            assert labels.get("app.kubernetes.io/managed-by") == "kustomize", o["kind"]
        if o["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                             "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
            assert o["metadata"]["namespace"] == "appdb-system", o["kind"]


def test_apply_dry_run_client():
    d = lib.tmpdir()
    with DiscoveryStub() as stub:
        kc = stub.kubeconfig(os.path.join(d, "stub.kubeconfig"))
        p = lib.run([lib.KUBECTL, "--kubeconfig", kc, "--cache-dir", os.path.join(d, "stub-cache"),
                     "apply", "--dry-run=client", "--validate=false", "-k", MANIFESTS], check=False)
        assert p.returncode == 0, p.stderr.strip()
        lines = [line for line in p.stdout.splitlines() if line.strip()]
        assert len(lines) == 12 and all(line.endswith("created (dry run)") for line in lines), p.stdout
        assert stub.writes == [], "client dry-run wrote: %s" % stub.writes
        asked = {path.split("?")[0] for _, path in stub.log}
        assert "/apis/apps/v1/namespaces/appdb-system/deployments/appdb-operator" in asked


def test_namespace_is_restricted():
    (ns,) = lib.yaml_file_to_objects(os.path.join(MANIFESTS, "namespace.yaml"))
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    lib.main_for("manifests", tests())
