"""The Helm chart: lint, render with the default values and three values
files, and check the rendered objects: security context, probes, resources,
the operator config, RBAC shape, the approval policy (evaluated with
minicel), PodDisruptionBudget and leader election only above one replica."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import lib  # noqa: E402
import minicel  # noqa: E402

RELEASE = "appdb"
NAMESPACE = "appdb-system"
FULLNAME = "appdb-appdb-operator"
CONFIG_KEYS = {"environment", "instances", "aws", "watchNamespaces", "cacheDir", "workers",
               "resyncSeconds", "httpPort", "lockTimeoutSeconds", "leaderElection"}
LEADER_KEYS = {"enabled", "namespace", "name", "leaseDurationSeconds", "renewDeadlineSeconds",
               "retryPeriodSeconds"}
# Every (apiGroup, resource) the operator may be granted, and the verbs.
ALLOWED = {
    ("db.platform.dev", "appdatabases"): {"get", "list", "watch", "patch"},
    ("db.platform.dev", "appdatabases/status"): {"patch"},
    ("", "events"): {"create", "patch"},
    ("", "secrets"): {"get", "create", "update"},  # writing: allowConnectionSecrets only
    ("", "configmaps"): {"get", "create", "update"},  # spec.connection.configMap
    ("coordination.k8s.io", "leases"): {"create", "get", "update"},
}
APPDB_RULES = {("db.platform.dev", "appdatabases", v, None)
               for v in ("get", "list", "watch", "patch")} | \
    {("db.platform.dev", "appdatabases/status", "patch", None)} | \
    {("", "events", v, None) for v in ("create", "patch")} | \
    {("", "configmaps", v, None) for v in ("get", "create", "update")}


def values_file(name):
    return os.path.join(lib.HERE, "values-%s.yaml" % name) if name != "default" else None


def helm_args(values=None, sets=()):
    args = []
    if values:
        args += ["-f", values]
    for s in sets:
        args += ["--set", s]
    return args


def render(values=None, sets=(), check=True):
    p = lib.run([lib.helm(), "template", RELEASE, lib.CHART, "--namespace", NAMESPACE]
                + helm_args(values, sets), check=False, env=lib.helm_env())
    if not check:
        return p
    assert p.returncode == 0, "helm template failed: %s" % p.stderr.strip()
    return lib.yaml_text_to_objects(p.stdout, "rendered.yaml")


_cache = {}


def rendered(name):
    if name not in _cache:
        _cache[name] = render(values_file(name))
    return _cache[name]


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, "expected one %s %s, found %d" % (kind, name or "", len(found))
    return found[0]


def kinds(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def yaml_value(text, name):
    """A YAML document that is not a Kubernetes object, read by kubectl
    (wrapped in one, indented under a key)."""
    doc = "apiVersion: v1\nkind: Wrapper\nmetadata: {name: w}\nvalue:\n" + \
        "".join("  " + line + "\n" for line in text.splitlines())
    (obj,) = lib.yaml_text_to_objects(doc, name + "-wrapper.yaml")
    return obj["value"]


def operator_config(objs):
    cm = one(objs, "ConfigMap", FULLNAME)
    text = cm["data"]["config.yaml"]
    return yaml_value(text, "config"), text


def grants(objs):
    """{(namespace or '*', group, resource, verb, resourceNames)} granted to
    the operator's ServiceAccount through bound Roles and ClusterRoles."""
    roles = {}
    for o in objs:
        if o["kind"] in ("Role", "ClusterRole"):
            roles[(o["kind"], o["metadata"].get("namespace", "*"), o["metadata"]["name"])] = o
    out = set()
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subjects = b.get("subjects", [])
        assert subjects == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}], \
            "%s %s binds %s" % (b["kind"], b["metadata"]["name"], subjects)
        ns = b["metadata"].get("namespace", "*")
        ref = b["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        key = (ref["kind"], ns if ref["kind"] == "Role" else "*", ref["name"])
        assert key in roles, "%s %s refers to a missing %s" % (b["kind"], b["metadata"]["name"], key)
        if b["kind"] == "ClusterRoleBinding":
            assert ref["kind"] == "ClusterRole"
        for rule in roles[key]["rules"]:
            names = tuple(rule["resourceNames"]) if rule.get("resourceNames") else None
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        out.add((ns, g, r, v, names))
    bound = {(k[0], k[1], k[2]) for k in roles}
    used = set()
    for b in objs:
        if b["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            ref = b["roleRef"]
            used.add((ref["kind"], b["metadata"].get("namespace", "*") if ref["kind"] == "Role" else "*", ref["name"]))
    assert bound <= used, "roles without a binding: %s" % (bound - used)
    return out


def scoped(ns, rules):
    return {(ns,) + r for r in rules}


# ---- lint and render ----------------------------------------------------

def check_lint(name):
    p = lib.run([lib.helm(), "lint", "--strict", lib.CHART, "--namespace", NAMESPACE]
                + helm_args(values_file(name)), check=False, env=lib.helm_env())
    assert p.returncode == 0, "helm lint --strict: %s %s" % (p.stdout.strip()[-1500:], p.stderr.strip()[-500:])
    assert "0 chart(s) failed" in p.stdout


def check_common(name):
    objs = rendered(name)
    for o in objs:
        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                             "ValidatingAdmissionPolicyBinding", "CustomResourceDefinition"):
            assert o["metadata"].get("namespace"), "%s %s has no namespace" % (o["kind"], o["metadata"]["name"])
        labels = o["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "appdb-operator", "%s lacks labels" % o["kind"]
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    # Absent on OpenShift (the SCC assigns one); never root.
    assert psc.get("runAsUser") != 0 and psc.get("runAsGroup") != 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == FULLNAME
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc.get("runAsUser") != 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged") is False
    assert sc["capabilities"] == {"drop": ["ALL"]}, sc["capabilities"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "command" not in c, "the image's ENTRYPOINT is the binary; no shell command"
    assert c["args"][0] == "run"
    assert c["args"][c["args"].index("--config") + 1] == "/etc/appdb-operator/config.yaml"
    cfg, _ = operator_config(objs)
    port = cfg["httpPort"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": port}, ports
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["timeoutSeconds"] >= 1 and c[probe]["failureThreshold"] >= 2
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}, c["resources"]
    assert pod["terminationGracePeriodSeconds"] > cfg["lockTimeoutSeconds"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["ALLOW_DB_PROVISION"]["value"] in ("true", "false")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["/etc/appdb-operator"]["readOnly"] is True
    assert volumes[mounts["/etc/appdb-operator"]["name"]]["configMap"]["name"] == FULLNAME
    cache = volumes[mounts[cfg["cacheDir"]]["name"]]
    assert "emptyDir" in cache or "persistentVolumeClaim" in cache, cache
    assert "/tmp" in mounts
    # The operator config: only keys the operator knows (it refuses others).
    assert set(cfg) <= CONFIG_KEYS, set(cfg) - CONFIG_KEYS
    assert set(cfg["leaderElection"]) <= LEADER_KEYS
    assert cfg["leaderElection"]["namespace"] == NAMESPACE
    le_on = dep["spec"]["replicas"] > 1
    assert cfg["leaderElection"]["enabled"] is le_on or (cfg["leaderElection"]["enabled"] and not le_on)
    if le_on:
        assert cfg["leaderElection"]["enabled"] is True
    pdbs = kinds(objs, "PodDisruptionBudget")
    assert len(pdbs) == (1 if dep["spec"]["replicas"] > 1 else 0), "PodDisruptionBudget only when replicas > 1"
    for pdb in pdbs:
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] >= 1
    # RBAC: nothing beyond what the operator calls, no wildcards.
    for o in objs:
        if o["kind"] in ("Role", "ClusterRole"):
            for rule in o["rules"]:
                assert "nonResourceURLs" not in rule
                for g in rule["apiGroups"]:
                    for r in rule["resources"]:
                        assert "*" not in (g, r) and "*" not in rule["verbs"], rule
                        allowed = ALLOWED.get((g, r))
                        assert allowed is not None, "%s grants %s/%s" % (o["metadata"]["name"], g, r)
                        assert set(rule["verbs"]) <= allowed, "%s: %s/%s %s" % (o["metadata"]["name"], g, r, rule["verbs"])
    lease_rules = {(g[0], g[2], g[3], g[4]) for g in grants(objs) if g[2] == "leases"}
    if cfg["leaderElection"]["enabled"]:
        lease = cfg["leaderElection"]["name"]
        assert lease_rules == {(NAMESPACE, "leases", "create", None), (NAMESPACE, "leases", "get", (lease,)),
                               (NAMESPACE, "leases", "update", (lease,))}, lease_rules
    else:
        assert not lease_rules, "Lease access without leader election"
    svc = kinds(objs, "Service")
    for s in svc:
        assert s["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert s["spec"]["ports"][0]["targetPort"] == "http"
    sa = one(objs, "ServiceAccount", FULLNAME)
    assert sa.get("automountServiceAccountToken") is True


def check_operator_loads_config(name):
    """The rendered config.yaml is accepted by the operator itself."""
    binary = os.environ.get("APPDB_OPERATOR") or os.path.join(lib.ROOT, "bin", "appdb-operator")
    if not os.access(binary, os.X_OK):
        raise lib.Skip("no operator binary (make builds bin/appdb-operator)")
    help_text = lib.run([binary, "--help"], check=False)
    if "validate" not in help_text.stdout + help_text.stderr:
        raise lib.Skip("the operator has no validate command yet")
    _, text = operator_config(rendered(name))
    path = os.path.join(lib.tmpdir(), "config-%s.yaml" % name)
    with open(path, "w") as f:
        f.write(text)
    p = lib.run([binary, "validate", "--config", path, "-f",
                 os.path.join(lib.CORPUS, "valid", "01-minimal.yaml")], check=False)
    assert p.returncode in (0, 1), "the operator refuses the rendered config (exit %d): %s" % (
        p.returncode, p.stderr.strip()[-1000:])


# ---- per values file ----------------------------------------------------

def test_default_values():
    objs = rendered("default")
    assert one(objs, "Deployment")["spec"]["replicas"] == 1
    cfg, _ = operator_config(objs)
    assert cfg["environment"] == "dev"
    assert cfg["leaderElection"]["enabled"] is False
    assert cfg["cacheDir"] == "/var/cache/appdb-operator"
    assert not kinds(objs, "PersistentVolumeClaim")
    assert not kinds(objs, "ServiceMonitor")
    assert not kinds(objs, "ValidatingAdmissionPolicy"), "no policy without approvals.group"
    assert {o["kind"] for o in objs if o["kind"] in ("Role", "RoleBinding")} == set()
    # Every namespace: ClusterRoles for the resources and for Secrets.
    assert grants(objs) == scoped("*", APPDB_RULES) | {("*", "", "secrets", "get", None)}
    env = {e["name"]: e.get("value") for e in one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ALLOW_DB_PROVISION"] == "false"
    assert "BUILD_ID" not in env
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    psc, sc = pod["securityContext"], pod["containers"][0]["securityContext"]
    # The image's USER (test_dockerfile.py checks the Dockerfile against values.yaml).
    assert (psc["runAsUser"], psc["runAsGroup"], psc["fsGroup"]) == (65532, 65532, 65532), psc
    assert (sc["runAsUser"], sc["runAsGroup"]) == (65532, 65532), sc
    assert psc["fsGroupChangePolicy"] == "OnRootMismatch"
    assert not kinds(objs, "NetworkPolicy"), "NetworkPolicy only with networkPolicy.enabled"


def test_openshift_values():
    """restricted-v2 assigns the ids: none is fixed, the rest of the
    restricted profile stays."""
    objs = rendered("openshift")
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    psc, sc = pod["securityContext"], pod["containers"][0]["securityContext"]
    for key in ("runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy"):
        assert key not in psc, "podSecurityContext.%s is set: %s" % (key, psc)
    for key in ("runAsUser", "runAsGroup"):
        assert key not in sc, "securityContext.%s is set: %s" % (key, sc)
    assert psc == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}, psc
    assert sc == {"runAsNonRoot": True, "privileged": False, "allowPrivilegeEscalation": False,
                  "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                  "seccompProfile": {"type": "RuntimeDefault"}}, sc
    # The cache and /tmp are emptyDirs: writable by whatever uid the SCC picks.
    mounts = {m["name"] for m in pod["containers"][0]["volumeMounts"]}
    writable = [v for v in pod["volumes"] if v["name"] in mounts and "emptyDir" in v]
    assert {v["name"] for v in writable} == {"cache", "tmp"}, writable
    np = one(objs, "NetworkPolicy")
    dns = [r for r in np["spec"]["egress"] if {"port": 53, "protocol": "UDP"} in r["ports"]]
    assert dns[0]["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}}}]


# ---- the NetworkPolicy -------------------------------------------------

def _peer_matches(peer, dest):
    """Whether a NetworkPolicyPeer matches dest: {"ip": ...} or {"pod": labels, "ns": labels}."""
    import ipaddress
    if "ipBlock" in peer:
        if "ip" not in dest:
            return False
        ip = ipaddress.ip_address(dest["ip"])
        net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        if ip.version != net.version or ip not in net:
            return False
        return not any(ip in ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", [])
                       if ipaddress.ip_network(e).version == ip.version)
    if "ns" not in dest:
        return False
    for key, labels in (("namespaceSelector", dest["ns"]), ("podSelector", dest.get("pod", {}))):
        sel = peer.get(key)
        if sel is not None and not sel.get("matchLabels", {}).items() <= labels.items():
            return False
    return True


def np_allows(rules, dest, port, protocol="TCP", named=None):
    """Whether any rule of an egress or ingress list admits (dest, port):
    the semantics of a NetworkPolicy's rules, for the peers used here."""
    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(p.get("protocol", "TCP") == protocol and
                             (p["port"] == port or (named and p["port"] == named)) for p in ports):
            continue
        peers = rule.get("to", rule.get("from"))
        if not peers or any(_peer_matches(peer, dest) for peer in peers):
            return True
    return False


def test_network_policy():
    objs = render(values_file("prod"), sets=[
        "networkPolicy.enabled=true", "networkPolicy.databaseCIDRs={10.20.0.0/16}",
        "networkPolicy.apiServer.cidrs={172.20.0.1/32}", "networkPolicy.aws.cidrs={10.30.1.0/24}",
        "config.instances.reports-rds.host=reports.example", "config.instances.reports-rds.port=6432",
        "config.instances.reports-rds.admin.user=appdb_admin",
        "config.instances.reports-rds.admin.passwordFrom.file=/etc/appdb-operator/admin/password"])
    np = one(objs, "NetworkPolicy", FULLNAME)
    dep = one(objs, "Deployment")
    assert np["metadata"]["namespace"] == NAMESPACE
    assert np["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    assert sorted(np["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    eg, ing = np["spec"]["egress"], np["spec"]["ingress"]
    ip = lambda a: {"ip": a}  # noqa: E731
    allowed = [
        ("DNS over UDP", ip("10.96.0.10"), 53, "UDP"),
        ("DNS over TCP", ip("10.96.0.10"), 53, "TCP"),
        ("the API server", ip("172.20.0.1"), 443, "TCP"),
        ("the API server on 6443", ip("172.20.0.1"), 6443, "TCP"),
        ("an instance", ip("10.20.3.4"), 5432, "TCP"),
        ("the other instance's port", ip("10.20.3.5"), 6432, "TCP"),
        ("an AWS VPC endpoint", ip("10.30.1.9"), 443, "TCP"),
        ("the Pod Identity agent", ip("169.254.170.23"), 80, "TCP"),
        ("the Pod Identity agent over IPv6", ip("fd00:ec2::23"), 80, "TCP"),
    ]
    denied = [
        ("SSH to an instance", ip("10.20.3.4"), 22, "TCP"),
        ("PostgreSQL outside the database CIDRs", ip("10.99.0.1"), 5432, "TCP"),
        ("HTTPS elsewhere", ip("8.8.8.8"), 443, "TCP"),
        ("the instance metadata service", ip("169.254.169.254"), 80, "TCP"),
        ("plain HTTP to the API server", ip("172.20.0.1"), 80, "TCP"),
    ]
    wrong = [w for w, d, p, proto in allowed if not np_allows(eg, d, p, proto)]
    wrong += ["%s allowed" % w for w, d, p, proto in denied if np_allows(eg, d, p, proto)]
    assert not wrong, "egress: %s" % wrong
    port = operator_config(objs)[0]["httpPort"]
    assert np_allows(ing, {"ns": {"x": "y"}}, port, named="http"), ing
    assert not np_allows(ing, {"ns": {"x": "y"}}, 5432, named="postgres"), ing
    assert len(ing) == 1 and ing[0]["ports"] == [{"port": "http", "protocol": "TCP"}], ing
    # Defaults: any address, but still only these ports.
    eg = one(render(sets=["networkPolicy.enabled=true", "networkPolicy.aws.podIdentityAgent=false"]),
             "NetworkPolicy")["spec"]["egress"]
    assert np_allows(eg, ip("203.0.113.7"), 443) and np_allows(eg, ip("203.0.113.7"), 6443)
    assert not np_allows(eg, ip("203.0.113.7"), 5432), "no instances, no database port"
    assert not np_allows(eg, ip("169.254.170.23"), 80)
    # metrics.from restricts the http port to the given peers.
    ing = one(render(sets=["networkPolicy.enabled=true",
                           "networkPolicy.metrics.from[0].namespaceSelector.matchLabels.name=monitoring"]),
              "NetworkPolicy")["spec"]["ingress"]
    assert np_allows(ing, {"ns": {"name": "monitoring"}}, 8080, named="http")
    assert not np_allows(ing, {"ns": {"name": "team-a"}}, 8080, named="http")


def test_network_policy_refused_values():
    for sets, needle in [(["networkPolicy.databaseCIDRs={10.0.0.0}"], "databaseCIDRs"),
                         (["networkPolicy.apiServer.ports={0}"], "ports"),
                         (["networkPolicy.egress=[]"], "egress")]:
        p = render(sets=sets, check=False)
        assert p.returncode != 0 and needle in p.stderr, "%s: %s" % (sets, p.stderr.strip())


# ---- Artifact Hub ------------------------------------------------------

def chart_annotations():
    with open(os.path.join(lib.CHART, "Chart.yaml")) as f:
        return yaml_value(f.read(), "chart")["annotations"]


def annotation_list(ann, key):
    return yaml_value(ann[key], "annotation")


def test_artifacthub_annotations():
    ann = chart_annotations()
    assert ann["artifacthub.io/operator"] == "true"
    crd = lib.load_crd()
    (entry,) = annotation_list(ann, "artifacthub.io/crds")
    assert entry["name"] == crd["metadata"]["name"] and entry["kind"] == crd["spec"]["names"]["kind"], entry
    assert entry["version"] in [v["name"] for v in crd["spec"]["versions"] if v.get("served")], entry
    assert entry["displayName"] and entry["description"]
    # Each example is valid by the CRD's schema and its CEL rules (offline,
    # as test_crd.py checks the corpus), and the operator's own validation.
    import structural
    examples = annotation_list(ann, "artifacthub.io/crdsExamples")
    assert examples and all(e["kind"] == "AppDatabase" for e in examples)
    for e in examples:
        errors = structural.validate_resource(crd, e)
        assert not errors, "crdsExamples: %s" % errors
    binary = lib.operator_binary()
    if binary:
        d = lib.tmpdir()
        with open(os.path.join(lib.CORPUS, "config.yaml")) as f:
            config = f.read().replace("\n  local:\n", "\n  %s:\n" % examples[0]["spec"]["instance"])
        with open(os.path.join(d, "crds-examples-config.yaml"), "w") as f:
            f.write(config)
        with open(os.path.join(d, "crds-examples.json"), "w") as f:
            f.write("\n---\n".join(json.dumps(e) for e in examples))
        p = lib.run([binary, "validate", "--config", os.path.join(d, "crds-examples-config.yaml"), "-f",
                     os.path.join(d, "crds-examples.json")], check=False)
        assert p.returncode == 0, "the operator refuses crdsExamples: %s" % p.stderr.strip()[-1000:]
    (image,) = annotation_list(ann, "artifacthub.io/images")
    with open(os.path.join(lib.CHART, "Chart.yaml")) as f:
        app_version = [line.split('"')[1] for line in f if line.startswith("appVersion:")][0]
    assert image["image"] == "appdb-operator:" + app_version, image
    assert image["image"] == one(rendered("default"), "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "image"], "the annotation names another image than the chart runs"
    changes = annotation_list(ann, "artifacthub.io/changes")
    assert changes and all(c["kind"] in ("added", "changed", "deprecated", "removed", "fixed", "security")
                           and c["description"] for c in changes), changes
    # One license statement: the chart's and the image's label.
    with open(os.path.join(lib.ROOT, "hack", "image-build.sh")) as f:
        assert "IMAGE_LICENSES:-%s}" % ann["artifacthub.io/license"] in f.read()


def test_prod_values():
    objs = rendered("prod")
    cfg, _ = operator_config(objs)
    assert cfg["environment"] == "prod"
    assert cfg["instances"]["orders-rds"]["sslMode"] == "verify-full"
    assert cfg["instances"]["orders-rds"]["sslRootCert"] == "/etc/appdb-operator/rds-ca.pem"
    dep = one(objs, "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["ALLOW_DB_PROVISION"] == "true"
    assert env["BUILD_ID"] == "release-2026.11"
    assert c["image"].startswith("registry.example.com/platform/appdb-operator@sha256:")
    cm = one(objs, "ConfigMap", FULLNAME)
    assert cm["data"]["rds-ca.pem"].startswith("-----BEGIN CERTIFICATE-----")
    # Watched namespaces only: Roles, no ClusterRole; Secrets only in team-orders.
    assert not kinds(objs, "ClusterRole") and not kinds(objs, "ClusterRoleBinding")
    assert grants(objs) == scoped("team-orders", APPDB_RULES) | scoped("team-billing", APPDB_RULES) | \
        {("team-orders", "", "secrets", "get", None)}
    sm = one(objs, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "http-metrics"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    svc = one(objs, "Service")
    assert svc["spec"]["ports"][0]["name"] == "http-metrics"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()


def test_ha_values():
    objs = rendered("ha")
    dep = one(objs, "Deployment")
    assert dep["spec"]["replicas"] == 3
    cfg, _ = operator_config(objs)
    assert cfg["leaderElection"]["enabled"] is True
    assert cfg["leaderElection"]["name"] == FULLNAME
    pvc = one(objs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert pvc["spec"]["storageClassName"] == "efs-sc"
    pod = dep["spec"]["template"]["spec"]
    cache = [v for v in pod["volumes"] if v["name"] == "cache"][0]
    assert cache["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "podAntiAffinity" in pod["affinity"]
    one(objs, "PodDisruptionBudget")
    # readSecrets false: only the admin password Secret, by name.
    secret_grants = {g for g in grants(objs) if g[2] == "secrets"}
    assert secret_grants == {(NAMESPACE, "", "secrets", "get", ("shared-rds-admin",))}, secret_grants


def test_irsa_values():
    objs = rendered("irsa")
    sa = one(objs, "ServiceAccount", FULLNAME)
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/appdb-operator"
    cfg, _ = operator_config(objs)
    assert cfg["instances"]["billing-rds"]["admin"]["iamAuth"] == {"region": "us-east-1"}
    assert not [g for g in grants(objs) if g[2] == "secrets"], "no Secret access with readSecrets false"
    # verify-full without sslRootCert and without caBundle: the image's system bundle.
    assert cfg["instances"]["billing-rds"]["sslRootCert"] == "/etc/ssl/certs/ca-certificates.crt"
    c = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"} in c["env"]


def test_leader_election_forced_with_one_replica():
    objs = render(sets=["config.leaderElection.enabled=true"])
    cfg, _ = operator_config(objs)
    assert cfg["leaderElection"]["enabled"] is True
    assert not kinds(objs, "PodDisruptionBudget")
    assert {g for g in grants(objs) if g[2] == "leases"}


def test_persistence_rwo_single_replica_recreates():
    objs = render(sets=["persistence.enabled=true"])
    dep = one(objs, "Deployment")
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    assert one(objs, "PersistentVolumeClaim")["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_prometheus_rule_and_dashboard_values():
    """Off by default; each behind its value, with its labels (tests/observe runs them)."""
    objs = rendered("default")
    assert not kinds(objs, "PrometheusRule")
    assert not [o for o in kinds(objs, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]
    objs = render(sets=["metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.release=kps",
                        "metrics.prometheusRule.alertLabels.team=platform",
                        "metrics.prometheusRule.notReadyFor=1h", "metrics.grafanaDashboard.enabled=true",
                        "metrics.grafanaDashboard.namespace=monitoring",
                        "metrics.grafanaDashboard.annotations.grafana_folder=Databases"])
    rule = one(objs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts["AppDatabaseNotReady"]["for"] == "1h"
    assert all(r["labels"]["team"] == "platform" for r in alerts.values())
    cm = [o for o in kinds(objs, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")][0]
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "Databases"
    assert json.loads(cm["data"]["appdb-operator.json"])["uid"] == "appdb-operator"
    for sets, needle in ((["metrics.prometheusRule.notReadyFor=soon"], "notReadyFor"),
                         (["metrics.grafanaDashboard.bogus=1"], "bogus")):
        p = render(sets=sets, check=False)
        assert p.returncode != 0 and needle in p.stderr, (sets, p.stderr.strip())


def test_refused_values():
    cases = [
        (["environment=prod"], "approvals.group is required"),
        (["replicaCount=2", "persistence.enabled=true"], "ReadWriteMany"),
        (["terminationGracePeriodSeconds=10"], "terminationGracePeriodSeconds"),
        (["environment=production"], "environment"),
        (["replicaCount=0"], "replicaCount"),
        (["unknownValue=1"], "unknownValue"),
        (["config.environment=prod"], "environment"),
        (["config.cacheDir=/tmp"], "cacheDir"),
        (["config.instances.x.port=5432"], "host"),
        (["config.instances.x.host=h", "config.instances.x.admin.user=u",
          "config.instances.x.admin.iamAuth.region=r",
          "config.instances.x.allowedNamespaces={Team_A}"], "allowedNamespaces"),
        (["metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"], "metrics.service.enabled"),
    ]
    for sets, needle in cases:
        p = render(sets=sets, check=False)
        assert p.returncode != 0, "helm accepted %s" % sets
        assert needle in p.stderr, "%s: the error does not mention %s: %s" % (sets, needle, p.stderr.strip())


def test_watch_namespaces_default_secret_namespaces():
    objs = render(sets=["config.watchNamespaces={team-a,team-b}"])
    assert grants(objs) == scoped("team-a", APPDB_RULES) | scoped("team-b", APPDB_RULES) | \
        {("team-a", "", "secrets", "get", None), ("team-b", "", "secrets", "get", None)}


def render_notes(values=None, sets=()):
    """NOTES.txt as rendered for values (helm template leaves it out, so a
    copy of the chart renders it through tpl into a ConfigMap-like object)."""
    import shutil
    chart = os.path.join(lib.tmpdir(), "notes-chart")
    shutil.rmtree(chart, ignore_errors=True)
    shutil.copytree(lib.CHART, chart)
    shutil.copy(os.path.join(chart, "templates", "NOTES.txt"), os.path.join(chart, "notes-copy.txt"))
    with open(os.path.join(chart, "templates", "zz-notes.yaml"), "w") as f:
        f.write('apiVersion: v1\nkind: Notes\nmetadata: {name: notes}\n'
                'text: {{ tpl (.Files.Get "notes-copy.txt") . | toJson }}\n')
    p = lib.run([lib.helm(), "template", RELEASE, chart, "--namespace", NAMESPACE,
                 "--show-only", "templates/zz-notes.yaml"] + helm_args(values, sets), env=lib.helm_env())
    (obj,) = lib.yaml_text_to_objects(p.stdout, "notes.yaml")
    return obj["text"]


def test_notes():
    text = render_notes(values_file("prod"))
    for needle in ("kubectl get appdb -A", "rollout status deployment/" + FULLNAME,
                   "kubectl wait --for=condition=Ready", "platform-db-approvers",
                   "db.platform.dev/approved-generation"):
        assert needle in text, "NOTES.txt lacks %r" % needle
    assert "WARNING: config.instances is empty" not in text
    text = render_notes()
    assert "WARNING: config.instances is empty" in text
    assert "approved-generation" not in text
    text = render_notes(sets=["environment=staging"])
    assert "allowProvision is false" in text


def test_readme_documents_every_value():
    with open(os.path.join(lib.CHART, "values.yaml")) as f:
        values = yaml_value(f.read(), "values")
    paths = []

    def walk(v, prefix):
        if isinstance(v, dict) and v and prefix not in ("resources",):
            for k, sub in v.items():
                walk(sub, prefix + "." + k if prefix else k)
        else:
            paths.append(prefix)
    walk(values, "")
    with open(os.path.join(lib.CHART, "README.md")) as f:
        readme = f.read()
    missing = [p for p in paths if "`%s`" % p not in readme]
    assert not missing, "helm/appdb-operator/README.md does not document: %s" % ", ".join(missing)
    assert len(paths) > 40, paths


def test_package():
    """helm package carries the CRD, the schema and the README."""
    import tarfile
    out = os.path.join(lib.tmpdir(), "package")
    lib.run([lib.helm(), "package", lib.CHART, "--destination", out], env=lib.helm_env())
    (tgz,) = os.listdir(out)
    assert tgz == "appdb-operator-0.1.0.tgz", tgz
    with tarfile.open(os.path.join(out, tgz)) as t:
        names = set(t.getnames())
        for want in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md", "crds/appdatabase.yaml",
                     "templates/NOTES.txt", "templates/deployment.yaml", "templates/admission-policy.yaml"):
            assert "appdb-operator/" + want in names, want
        crd = t.extractfile("appdb-operator/crds/appdatabase.yaml").read()
    with open(lib.CRD, "rb") as f:
        assert crd == f.read(), "the packaged CRD differs from crds/appdatabase.yaml"


def test_allowed_namespaces_reach_the_config():
    cfg, _ = operator_config(render(values=os.path.join(lib.HERE, "values-prod.yaml")))
    assert cfg["instances"]["orders-rds"]["allowedNamespaces"] == ["team-orders", "team-orders-*"]


def test_ssl_root_cert_defaults():
    base = ["config.instances.a.host=a", "config.instances.a.admin.user=u",
            "config.instances.a.admin.iamAuth.region=r"]
    cfg, _ = operator_config(render(sets=base))
    assert cfg["instances"]["a"]["sslRootCert"] == "/etc/ssl/certs/ca-certificates.crt"
    cfg, _ = operator_config(render(sets=base + ["caBundle=x"]))
    assert cfg["instances"]["a"]["sslRootCert"] == "/etc/appdb-operator/rds-ca.pem"
    cfg, _ = operator_config(render(sets=base + ["config.instances.a.sslRootCert=/etc/own.pem"]))
    assert cfg["instances"]["a"]["sslRootCert"] == "/etc/own.pem"
    cfg, _ = operator_config(render(sets=base + ["config.instances.a.sslMode=require"]))
    assert "sslRootCert" not in cfg["instances"]["a"]


# ---- the approval policy ------------------------------------------------

def _appdb(annotations=None, generation=1, spec_name="orders"):
    md = {"name": "orders", "namespace": "team-a", "generation": generation}
    if annotations is not None:
        md["annotations"] = annotations
    return {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase", "metadata": md,
            "spec": {"instance": "local", "database": {"name": spec_name, "owner": "o"}}}


GEN = "db.platform.dev/approved-generation"
BY = "db.platform.dev/approved-by"
APPROVERS = ["platform-db-approvers", "system:authenticated"]
OTHERS = ["platform-db-approvers-not", "system:authenticated"]


def test_admission_policy_shape():
    objs = rendered("prod")
    vap = one(objs, "ValidatingAdmissionPolicy")
    binding = one(objs, "ValidatingAdmissionPolicyBinding")
    assert vap["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert vap["spec"]["failurePolicy"] == "Fail"
    (rule,) = vap["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["db.platform.dev"] and rule["resources"] == ["appdatabases"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE"}
    text = json.dumps(vap["spec"])
    for needle in (GEN, BY, "oldObject != null", "request.userInfo.username", "platform-db-approvers"):
        assert needle in text, needle
    for v in vap["spec"]["variables"] + vap["spec"]["validations"]:
        minicel.compile_rule(v["expression"])


def test_admission_policy_decisions():
    vap = one(rendered("prod"), "ValidatingAdmissionPolicy")["spec"]
    cases = [
        # (what, new, old, user, groups, allowed)
        ("create without approval", _appdb(), None, "ci", OTHERS, True),
        ("create with other annotations", _appdb({"db.platform.dev/build-id": "ci-1"}), None, "ci", OTHERS, True),
        ("approver creates approved", _appdb({GEN: "1", BY: "jane"}), None, "jane", APPROVERS, True),
        ("non-approver creates approved", _appdb({GEN: "1", BY: "ci"}), None, "ci", OTHERS, False),
        ("non-approver sets approved-by only", _appdb({BY: "ci"}), None, "ci", OTHERS, False),
        ("approver names someone else", _appdb({GEN: "1", BY: "bob"}), None, "jane", APPROVERS, False),
        ("approver approves without approved-by", _appdb({GEN: "1"}), None, "jane", APPROVERS, False),
        ("spec change keeps approval", _appdb({GEN: "1", BY: "jane"}, 2, "orders2"),
         _appdb({GEN: "1", BY: "jane"}), "ci", OTHERS, True),
        ("no annotations before or after", _appdb(None, 2, "x"), _appdb(None), "ci", OTHERS, True),
        ("non-approver bumps generation", _appdb({GEN: "2", BY: "jane"}, 2),
         _appdb({GEN: "1", BY: "jane"}, 2), "ci", OTHERS, False),
        ("non-approver removes approval", _appdb({}), _appdb({GEN: "1", BY: "jane"}), "ci", OTHERS, False),
        ("approver approves the new generation", _appdb({GEN: "2", BY: "jane"}, 2),
         _appdb({GEN: "1", BY: "bob"}, 2), "jane", APPROVERS, True),
        ("approver bumps generation under another name", _appdb({GEN: "2", BY: "bob"}, 2),
         _appdb({GEN: "1", BY: "bob"}, 2), "jane", APPROVERS, False),
        ("approver withdraws the approval", _appdb({}), _appdb({GEN: "1", BY: "bob"}), "jane", APPROVERS, True),
        ("non-approver changes another annotation", _appdb({GEN: "1", BY: "jane", "x": "y"}),
         _appdb({GEN: "1", BY: "jane"}), "ci", OTHERS, True),
        ("non-approver adds approval on update", _appdb({GEN: "1", BY: "ci"}), _appdb(None), "ci", OTHERS, False),
    ]
    wrong = []
    for what, new, old, user, groups, allowed in cases:
        failed = minicel.admit(vap, new, old, user, groups)
        if (not failed) != allowed:
            wrong.append("%s: %s (%s)" % (what, "denied" if failed else "allowed", "; ".join(failed)))
    assert not wrong, "\n  ".join([""] + wrong)


def tests():
    out = []
    for name in ("default", "prod", "ha", "irsa", "openshift"):
        out.append(("lint %s" % name, lambda n=name: check_lint(n)))
        out.append(("render %s" % name, lambda n=name: check_common(n)))
        out.append(("operator loads the %s config" % name, lambda n=name: check_operator_loads_config(n)))
    return out + [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    lib.main_for("helm", tests())
