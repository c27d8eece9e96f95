"""What the platform sees (DESIGN 11.5), end to end: the operator in prod
against the API simulator and a real PostgreSQL, resources brought to each
reason, then

- `kubectl appdb` (tools/kubectl-appdb) through the real kubectl, as users
  with their own client certificates, under the chart's approval policy;
- appdb_time_to_ready_seconds on /metrics;
- `appdb-operator report` on the audit trail this run wrote;
- the chart's PrometheusRule: `promtool check rules`, and `promtool test
  rules` firing each alert on series scraped from the operator's /metrics;
- the chart's Grafana dashboard against the metrics the operator exports;
- the Argo CD health check (docs/argocd-health.lua) run by lua5.1 on the
  status objects the simulator holds.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import OPERATOR, ROOT, PgServer, appdb, docs, secret  # noqa: E402
from e2e import CRD, KubeSim, Operator, condition, free_port, wait_until  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "packaging"))
import lib as pkg  # noqa: E402  (helm, and YAML read by kubectl)

PLUGIN_DIR = os.path.join(ROOT, "tools")
POLICY = os.path.join(ROOT, "manifests", "admission-policy.yaml")
HEALTH_LUA = os.path.join(ROOT, "docs", "argocd-health.lua")
CHART = os.path.join(ROOT, "helm", "appdb-operator")
GROUP = "appdb-approvers"  # the group manifests/admission-policy.yaml is rendered with
JANE = "jane@example.com"
BOB = "bob@example.com"

# reason -> the health the Argo CD check documents for it
HEALTH = {
    "Provisioned": "Healthy",
    "AwaitingApproval": "Suspended",
    "InvalidSpec": "Degraded",
    "SecretMissing": "Degraded",
    "InstanceUnknown": "Degraded",
    "InstanceNotAllowed": "Degraded",
    "RoleNotManaged": "Degraded",
    "DatabaseUnreachable": "Progressing",
}

# name, namespace, instance, the reason it ends with
RESOURCES = [
    ("pay", "team-pay", "local", "Provisioned"),
    ("waits", "team-waits", "local", "AwaitingApproval"),
    ("bad", "team-bad", "local", "InvalidSpec"),
    ("late", "team-late", "local", "SecretMissing"),
    ("ghost", "team-ghost", "nope", "InstanceUnknown"),
    ("stray", "other-stray", "local", "InstanceNotAllowed"),
    ("taken", "team-taken", "local", "RoleNotManaged"),
    ("down", "team-down", "down", "DatabaseUnreachable"),
]


def namespace(ns):
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}) + "\n"


def render_chart(*sets):
    """The chart rendered with the given --set values, as objects (YAML read by kubectl)."""
    args = [pkg.helm(), "template", "appdb-operator", CHART, "--namespace", "appdb-system"]
    for v in sets:
        args += ["--set", v]
    return pkg.yaml_text_to_objects(pkg.run(args, env=pkg.helm_env()).stdout, "rendered.yaml")


def parse_metrics(text):
    """/metrics text into {family: [(labels dict, value)]} and the families' types."""
    series, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "not a sample line: %r" % line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        series.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return series, types


def exported_families(types):
    """Metric names a query may name: each family, and a histogram's _bucket/_sum/_count."""
    names = set()
    for name, kind in types.items():
        names.add(name)
        if kind == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


def lua_literal(v):
    """A JSON value as a Lua 5.1 table constructor (null becomes nil)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        out = []
        for ch in v:
            if ch in '\\"':
                out.append("\\" + ch)
            elif ord(ch) < 32:
                out.append("\\%03d" % ord(ch))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(v, list):
        return "{" + ", ".join(lua_literal(x) for x in v) + "}"
    return "{" + ", ".join("[%s] = %s" % (lua_literal(k), lua_literal(x))
                           for k, x in v.items() if x is not None) + "}"


def argo_health(obj):
    """Runs docs/argocd-health.lua with lua5.1 as Argo CD does (obj global, table returned)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("obj = " + lua_literal(obj) + "\n")
        path = f.name
    try:
        r = subprocess.run(["lua5.1", "-e", "dofile(%s)" % lua_literal(path), "-e",
                            "local hs = dofile(%s) io.write(hs.status, '\\n', hs.message or '')"
                            % lua_literal(HEALTH_LUA)], capture_output=True, text=True, timeout=10)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise AssertionError("lua5.1 failed: %s" % r.stderr)
    status, _, message = r.stdout.partition("\n")
    return status, message


class TestObserve(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        cls.pg = PgServer()
        cls.sim = KubeSim()
        cls.sim.kubectl("apply", "-f", CRD)
        cls.sim.kubectl("apply", "-f", POLICY)
        # Users with their own client certificates, allowed to read and
        # annotate AppDatabases and read Events; only jane is an approver.
        cls.sim.apply(docs(json.dumps({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "appdb-user"},
            "rules": [{"apiGroups": ["db.platform.dev"], "resources": ["appdatabases"],
                       "verbs": ["get", "list", "watch", "patch", "update"]},
                      {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]}]}),
            json.dumps({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "appdb-users"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "appdb-user"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u}
                             for u in (JANE, BOB)]})))
        cls.kc = {JANE: cls.sim.ctl("mint-cert", JANE, GROUP).strip(),
                  BOB: cls.sim.ctl("mint-cert", BOB, "developers").strip()}
        cls.op = Operator(cls.pg, cls.sim, "prod")
        with open(cls.op.config, "w") as f:
            admin = "    admin: {user: %s, passwordFrom: {file: %s}}\n" % (cls.pg.admin,
                                                                          cls.op.admin_pw)
            f.write("environment: prod\ninstances:\n"
                    "  local:\n    host: 127.0.0.1\n    port: %d\n    sslMode: verify-full\n"
                    "    sslRootCert: %s\n    allowedNamespaces: [\"team-*\"]\n%s"
                    "  down:\n    host: 127.0.0.1\n    port: %d\n    sslMode: verify-full\n"
                    "    sslRootCert: %s\n%s"
                    "cacheDir: %s\nhttpPort: %d\nworkers: 2\nresyncSeconds: 3\n"
                    % (cls.pg.port, cls.pg.ca, admin, free_port(), cls.pg.ca, admin,
                       cls.op.cache, cls.op.http_port))
        cls.pg.superuser_sql("CREATE ROLE taken_u LOGIN")
        cls.op.start({"ALLOW_DB_PROVISION": "true"})
        cls.applied = {}
        for name, ns, inst, _ in RESOURCES:
            users = [(name + "_u", "readwrite", name + "-db", "p")]
            if name == "bad":
                users = [(cls.pg.admin, "readonly", name + "-db", "p")]
            if name == "taken":
                users = [("taken_u", "readwrite", name + "-db", "p")]
            parts = [namespace(ns)]
            if name != "late":
                parts.append(secret(name + "-db", {"p": "pw-" + name}, ns=ns))
            parts.append(appdb(name, ns=ns, users=users, instance=inst,
                               annotations={"db.platform.dev/build-id": "ci-observe-1"}))
            cls.sim.apply(docs(*parts))
            cls.applied[name] = time.monotonic()
        cls.reasons = {}

    @classmethod
    def tearDownClass(cls):
        cls.op.cleanup()
        cls.sim.cleanup()
        cls.pg.stop()
        pkg.cleanup()
        print("observe: %.1f s" % (time.monotonic() - cls.t0), file=sys.stderr)

    def tearDown(self):
        if any(e for _, e in (self._outcome.errors if hasattr(self._outcome, "errors") else [])):
            sys.stderr.write(self.op.output()[-4000:])

    # ---- helpers ----

    def plugin(self, user, *args, check=True):
        """`kubectl appdb ARGS` through the real kubectl, as user (their own kubeconfig)."""
        env = dict(os.environ, PATH=PLUGIN_DIR + os.pathsep + os.environ["PATH"],
                   KUBECONFIG=self.kc[user] if user else self.sim.kubeconfig)
        r = subprocess.run(["kubectl", "appdb"] + list(args) + ["--cache-dir", self.sim.cache],
                           capture_output=True, text=True, env=env, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("kubectl appdb %s failed: %s%s" % (" ".join(args), r.stdout,
                                                                     r.stderr))
        return r

    def reason(self, name, ns):
        return (condition(self.sim.get("appdb", name, ns), "Ready") or {}).get("reason")

    def settle(self, name, ns, want):
        """Waits for reason want; a resource that first waits for approval is approved by jane."""
        approved = False

        def check():
            nonlocal approved
            got = self.reason(name, ns)
            if got == "AwaitingApproval" and want != got and not approved:
                self.plugin(JANE, "approve", name, "-n", ns)
                approved = True
            return self.sim.get("appdb", name, ns) if got == want else None
        return wait_until(check, 60, interval=0.3, what="%s/%s %s" % (ns, name, want))

    def settled(self):
        """Every resource of RESOURCES at its reason (pay approved through the plugin once)."""
        cls = type(self)
        if not cls.reasons:
            self.approve_pay()
            for name, ns, _, want in RESOURCES:
                cls.reasons[want] = self.settle(name, ns, want)
        return cls.reasons

    def approve_pay(self):
        """bob is refused by the policy; jane's `kubectl appdb approve` makes pay Ready."""
        cls = type(self)
        if getattr(cls, "pay_ready", None):
            return
        wait_until(lambda: self.reason("pay", "team-pay") == "AwaitingApproval", 60,
                   what="pay AwaitingApproval")
        cls.plan_out = self.plugin(JANE, "plan", "pay", "-n", "team-pay").stdout
        cls.bob = self.plugin(BOB, "approve", "pay", "-n", "team-pay", check=False)
        cls.bob_after = self.sim.get("appdb", "pay", "team-pay")
        time.sleep(1)  # a resource that waits is not made Ready by a refused approval
        cls.bob_reason = self.reason("pay", "team-pay")
        cls.jane = self.plugin(JANE, "approve", "pay", "-n", "team-pay")
        wait_until(lambda: self.reason("pay", "team-pay") == "Provisioned", 60, what="pay Ready")
        cls.pay_ready = time.monotonic() - cls.applied["pay"]

    def metrics(self):
        code, text = self.op.http("/metrics")
        self.assertEqual(code, 200)
        return text

    # ---- kubectl appdb and the approval policy ----

    def test_approve_through_the_plugin(self):
        self.approve_pay()
        cls = type(self)
        self.assertIn("reason AwaitingApproval; approving it would run:", cls.plan_out)
        self.assertIn("  create database pay owner pay_owner", cls.plan_out)
        # bob is not in the approvers group: the policy refuses, nothing changes.
        self.assertNotEqual(cls.bob.returncode, 0)
        self.assertIn("ValidatingAdmissionPolicy 'appdb-operator-approvals'", cls.bob.stderr)
        self.assertIn("only members of the group %s may set" % GROUP, cls.bob.stderr)
        self.assertNotIn("db.platform.dev/approved-by",
                         cls.bob_after["metadata"].get("annotations", {}))
        self.assertEqual(cls.bob_reason, "AwaitingApproval")
        # jane's approval names her, as the API server authenticated her.
        self.assertIn("approving generation 1 of pay as %s" % JANE, cls.jane.stdout)
        obj = self.sim.get("appdb", "pay", "team-pay")
        ann = obj["metadata"]["annotations"]
        self.assertEqual(ann["db.platform.dev/approved-by"], JANE)
        self.assertEqual(ann["db.platform.dev/approved-generation"], "1")
        self.assertEqual(condition(obj, "Ready")["status"], "True")
        self.assertTrue(self.pg.database_exists("pay"))
        self.assertTrue(self.pg.can_login("pay_u", "pw-pay", "pay"))
        self.assertTrue(any(a.get("approvedBy") == JANE and a["resource"] == "team-pay/pay"
                            for a in self.op.audit()))

    def test_approve_refuses_a_changed_generation(self):
        # approve's annotate is conditional on the resourceVersion; after a conflict
        # it goes on only while the generation is the one it showed, so a spec
        # changed in between is not approved unseen.
        self.sim.apply(docs(namespace("team-race"), secret("race-db", {"p": "x"}, ns="team-race"),
                            appdb("race", ns="team-race", users=[("race_u", "readonly",
                                                                  "race-db", "p")])))
        wait_until(lambda: self.reason("race", "team-race") == "AwaitingApproval", 60,
                   what="race AwaitingApproval")
        env = dict(os.environ, PATH=PLUGIN_DIR + os.pathsep + os.environ["PATH"],
                   KUBECONFIG=self.kc[JANE])
        # A kubectl that changes the spec right before the plugin's annotate.
        shim = tempfile.mkdtemp(prefix="appdb-shim-")
        with open(os.path.join(shim, "kubectl"), "w") as f:
            f.write("#!/bin/sh\ncase \"$*\" in *annotate*) %s --kubeconfig %s --cache-dir %s "
                    "patch appdb race -n team-race --type=merge "
                    "-p '{\"spec\":{\"schemas\":[\"public\",\"extra\"]}}' >/dev/null;; esac\n"
                    "exec %s \"$@\"\n" % (shutil.which("kubectl"), self.sim.kubeconfig,
                                          self.sim.cache, shutil.which("kubectl")))
        os.chmod(os.path.join(shim, "kubectl"), 0o755)
        env["KUBECTL"] = os.path.join(shim, "kubectl")
        r = subprocess.run(["kubectl", "appdb", "approve", "race", "-n", "team-race",
                            "--cache-dir", self.sim.cache], capture_output=True, text=True,
                           env=env, timeout=60)
        shutil.rmtree(shim, ignore_errors=True)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("race changed (generation 2, not 1): run kubectl appdb plan again",
                      r.stderr)
        obj = self.sim.get("appdb", "race", "team-race")
        self.assertEqual(obj["metadata"]["generation"], 2)
        self.assertNotIn("db.platform.dev/approved-generation",
                         obj["metadata"].get("annotations", {}))

    def test_status_plan_audit(self):
        self.settled()
        out = self.plugin(JANE, "status", "-A").stdout
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^NAMESPACE\s+NAME\s+INSTANCE\s+GEN\s+OBSERVED\s+READY\s+"
                                   r"REASON\s+STALLED\s+RECONCILING\s+LAST RUN\s+MESSAGE")
        rows = {l.split()[1]: l.split() for l in lines[1:]}
        for name, ns, inst, want in RESOURCES:
            self.assertEqual(rows[name][0], ns)
            self.assertEqual(rows[name][6], want, out)
        self.assertEqual(rows["pay"][5:9], ["True", "Provisioned", "False", "False"])
        self.assertEqual(rows["waits"][5:9], ["False", "AwaitingApproval", "True", "False"])
        self.assertEqual(rows["down"][5:9], ["False", "DatabaseUnreachable", "False", "True"])
        one = self.plugin(JANE, "status", "pay", "-n", "team-pay").stdout.splitlines()
        self.assertEqual(len(one), 2)
        # plan of a resource that waits, and of one that does not.
        self.assertIn("  create role waits_u (login)",
                      self.plugin(JANE, "plan", "waits", "-n", "team-waits").stdout)
        self.assertIn("pay: generation 1, reason Provisioned: no pending actions",
                      self.plugin(JANE, "plan", "pay", "-n", "team-pay").stdout)
        # audit: lastRun and the resource's Events.
        audit = self.plugin(JANE, "audit", "pay", "-n", "team-pay").stdout
        obj = self.sim.get("appdb", "pay", "team-pay")
        self.assertIn("run id:     " + obj["status"]["lastRun"]["runId"], audit)
        self.assertIn("build id:   ci-observe-1", audit)
        self.assertIn("approved:   generation 1 by " + JANE, audit)
        self.assertIn("  create database pay owner pay_owner", audit)
        self.assertRegex(audit, r"Normal\s+Provisioned\s+\d+\s")
        self.assertRegex(audit, r"Normal\s+AwaitingApproval|Warning\s+AwaitingApproval")
        # usage errors
        r = self.plugin(JANE, "approve", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("approve needs the NAME", r.stderr)
        r = self.plugin(JANE, "frobnicate", check=False)
        self.assertEqual(r.returncode, 2)

    # ---- appdb_time_to_ready_seconds ----

    def test_time_to_ready_metric(self):
        self.approve_pay()
        series, types = parse_metrics(self.metrics())
        self.assertEqual(types["appdb_time_to_ready_seconds"], "histogram")
        count = [v for l, v in series["appdb_time_to_ready_seconds_count"]][0]
        total = [v for l, v in series["appdb_time_to_ready_seconds_sum"]][0]
        # Only resources that became Ready count: pay (and race never does).
        ready = sum(1 for name, ns, _, _ in RESOURCES
                    if self.reason(name, ns) == "Provisioned")
        self.assertEqual(count, ready)
        # pay waited for its approval: its time to Ready spans it, and no more
        # than from its apply to its Ready here.
        self.assertGreater(total, 1.0)
        self.assertLessEqual(total, type(self).pay_ready * count + 1)
        inf = [v for l, v in series["appdb_time_to_ready_seconds_bucket"] if l["le"] == "+Inf"]
        self.assertEqual(inf, [count])
        # A resync of a Ready resource (pay's, the one Unchanged run here) is not a
        # second first Ready.
        def unchanged(s):
            return sum(v for l, v in s.get("appdb_instance_reconcile_total", [])
                       if l["result"] == "Unchanged")
        before = unchanged(series)
        series = wait_until(lambda: (lambda s: s if unchanged(s) > before else None)(
            parse_metrics(self.metrics())[0]), 30, interval=0.3, what="a resync of pay")
        self.assertEqual(series["appdb_time_to_ready_seconds_count"][0][1], count)

    # ---- appdb-operator report on this run's audit trail ----

    def test_report_on_the_trail(self):
        self.settled()
        trail = os.path.join(self.op.cache, "audit.jsonl")
        r = subprocess.run([OPERATOR, "report", "-f", trail, "--format", "json"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        fig = json.loads(r.stdout)
        lines = [l for l in open(trail) if l.strip()]
        self.assertEqual(fig["records"], len(lines))
        self.assertEqual(fig["skipped"], 0)
        runs = [json.loads(l) for l in lines]
        # Each record says when its run began and where its build id came from.
        for a in runs:
            if a["result"] != "Deleted":
                self.assertLessEqual(a["startedAt"], a["ts"])
                self.assertEqual(a["buildIdFrom"], "operator" if a["resource"] == "team-race/race"
                                 else "annotation")  # race has no build-id annotation
        self.assertEqual(fig["runs"], sum(1 for a in runs if a.get("user") is None))
        by = {(g["environment"], g["instance"]): g for g in fig["byInstance"]}
        self.assertGreaterEqual(by[("prod", "local")]["changed"], 1)
        self.assertGreaterEqual(by[("prod", "local")]["blocked"], 3)
        self.assertGreaterEqual(by[("prod", "down")]["failed"], 1)
        outcomes = {(o["result"], o["reason"]) for o in fig["byOutcome"]}
        for want in (("Changed", "Provisioned"), ("Blocked", "AwaitingApproval"),
                     ("Invalid", "InvalidSpec"), ("Blocked", "SecretMissing"),
                     ("Failed", "DatabaseUnreachable")):
            self.assertIn(want, outcomes)
        self.assertGreaterEqual(fig["approvals"], 1)
        pay = [c for c in fig["prodChanges"] if c["resource"] == "team-pay/pay"]
        self.assertEqual(pay[0]["approvedBy"], JANE)
        self.assertEqual(pay[0]["buildId"], "ci-observe-1")
        # Every change here carries its resource's build id.
        self.assertEqual(fig["traceability"]["share"], 1.0)
        self.assertEqual(fig["builds"][0]["buildId"], "ci-observe-1")
        ttr = fig["timeToReady"]
        self.assertGreaterEqual(ttr["ready"], 1)
        self.assertGreaterEqual(ttr["notReady"], 1)
        # pay's time to Ready in whole seconds of the trail: about what the test saw.
        self.assertLessEqual(ttr["max"], type(self).pay_ready + 2)
        self.assertEqual(sum(h["count"] for h in ttr["histogram"]), ttr["ready"])
        # The Markdown form, and the trail found through --config.
        md = subprocess.run([OPERATOR, "report", "--config", self.op.config],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(md.returncode, 0, md.stderr)
        for heading in ("# appdb-operator report", "## Runs by environment and instance",
                        "## Time to Ready", "## Changes in prod and their approvers"):
            self.assertIn(heading, md.stdout)
        self.assertRegex(md.stdout, r"\| \S+ \| team-pay/pay \| 1 \| jane@example.com \| "
                                    r"ci-observe-1 \| [0-9a-f]{32} \|")
        # --since after everything: nothing counted.
        later = subprocess.run([OPERATOR, "report", "-f", trail, "--format", "json", "--since",
                                "2999-01-01T00:00:00Z"], capture_output=True, text=True)
        self.assertEqual(json.loads(later.stdout)["runs"], 0)
        bad = subprocess.run([OPERATOR, "report", "-f", trail, "--since", "soon"],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        missing = subprocess.run([OPERATOR, "report", "-f", trail + ".nope"],
                                 capture_output=True, text=True)
        self.assertEqual(missing.returncode, 2)

    # ---- Argo CD health ----

    def test_argocd_health_on_real_status(self):
        objs = self.settled()
        for reason, obj in objs.items():
            status, message = argo_health(obj)
            self.assertEqual(status, HEALTH[reason], "%s: %s %s" % (reason, status, message))
            self.assertTrue(message.startswith(reason), message)
        # No status yet, and a generation the operator has not observed yet.
        fresh = json.loads(json.dumps(objs["Provisioned"]))
        del fresh["status"]
        self.assertEqual(argo_health(fresh)[0], "Progressing")
        newer = json.loads(json.dumps(objs["Provisioned"]))
        newer["metadata"]["generation"] += 1
        self.assertEqual(argo_health(newer), ("Progressing", "Waiting for appdb-operator to "
                                              "observe generation %d"
                                              % newer["metadata"]["generation"]))

    # ---- the PrometheusRule and the dashboard ----

    def scrape_for_rules(self):
        """Two scrapes of the real /metrics, and one with the Kubernetes API down."""
        cls = type(self)
        if getattr(cls, "scrapes", None):
            return cls.scrapes
        self.settled()
        first = parse_metrics(self.metrics())[0]

        def failed_grew():
            now = parse_metrics(self.metrics())[0]
            a = {l["instance"]: v for l, v in first.get("appdb_instance_reconcile_total", [])
                 if l["result"] == "Failed"}
            b = {l["instance"]: v for l, v in now.get("appdb_instance_reconcile_total", [])
                 if l["result"] == "Failed"}
            return now if b.get("down", 0) > a.get("down", 0) else None
        # A change of the resource reconciles it now, not after its growing backoff.
        self.sim.kubectl("annotate", "appdb", "down", "-n", "team-down", "--overwrite",
                         "example.dev/poke=%d" % time.time())
        second = wait_until(failed_grew, 60, interval=1, what="another failed reconcile")
        self.sim.ctl("down")
        try:
            down = wait_until(lambda: (lambda s: s if s["appdb_kube_api_up"][0][1] == 0 else None)(
                parse_metrics(self.metrics())[0]), 60, interval=0.5, what="appdb_kube_api_up 0")
        finally:
            self.sim.ctl("up")
        cls.scrapes = (first, second, down)
        return cls.scrapes

    def test_prometheus_rules(self):
        rendered = render_chart("metrics.prometheusRule.enabled=true")
        rules = [d for d in rendered if d["kind"] == "PrometheusRule"]
        self.assertEqual(len(rules), 1)
        work = tempfile.mkdtemp(prefix="appdb-rules-")
        try:
            path = os.path.join(work, "rules.json")
            with open(path, "w") as f:
                json.dump({"groups": rules[0]["spec"]["groups"]}, f)
            r = subprocess.run(["promtool", "check", "rules", path], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("SUCCESS: 4 rules found", r.stdout)
            alerts = {x["alert"]: x for g in rules[0]["spec"]["groups"] for x in g["rules"]}
            self.assertEqual(set(alerts), {"AppDatabaseNotReady", "AppDatabaseInstanceDown",
                                           "AppDatabaseKubeAPIDown", "AppDatabaseReconcileErrors"})
            first, second, down = self.scrape_for_rules()
            test = self.rule_test(first, second, down, alerts)
            tpath = os.path.join(work, "test.json")
            with open(tpath, "w") as f:
                json.dump(test, f)
            r = subprocess.run(["promtool", "test", "rules", tpath], capture_output=True,
                               text=True, cwd=work)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr + json.dumps(test, indent=1))
            self.assertIn("SUCCESS", r.stdout)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def rule_test(self, first, second, down, alerts):
        """A promtool unit test: the scraped series, scraped every minute for an hour."""
        def selector(name, labels):
            return name + "{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}"

        def gauge(scrape, name):
            return [{"series": selector(name, l), "values": "%g+0x60" % v}
                    for l, v in scrape.get(name, [])]
        series = []
        for name in ("appdb_resources", "appdb_resources_by_reason", "appdb_instance_up"):
            series += gauge(second, name)
        series += [{"series": selector("appdb_kube_api_up", {"pod": "up"}),
                    "values": "%g+0x60" % second["appdb_kube_api_up"][0][1]},
                   {"series": selector("appdb_kube_api_up", {"pod": "cut-off"}),
                    "values": "%g+0x60" % down["appdb_kube_api_up"][0][1]}]
        # Counters grow by what grew between the two real scrapes, every minute.
        before = {selector("x", l): v for l, v in first["appdb_instance_reconcile_total"]}
        for l, v in second["appdb_instance_reconcile_total"]:
            step = v - before.get(selector("x", l), 0)
            series.append({"series": selector("appdb_instance_reconcile_total", l),
                           "values": "%g+%gx60" % (v, step)})
        not_ready = {l["reason"]: v for l, v in second["appdb_resources_by_reason"]
                     if l["reason"] != "Provisioned" and v > 0}
        down_instances = [l["instance"] for l, v in second["appdb_instance_up"] if v == 0]
        failing = sorted({l["instance"] for l, v in second["appdb_instance_reconcile_total"]
                          if l["result"] == "Failed" and
                          v > before.get(selector("x", l), 0)})
        self.assertEqual(down_instances, ["down"])
        self.assertEqual(failing, ["down"])
        self.assertGreaterEqual(len(not_ready), 6, not_ready)
        def expect(alert, labels, value=None):
            """The alert as promtool reports it: its labels and its rendered annotations."""
            ann = {}
            for k, text in alerts[alert]["annotations"].items():
                for name, v in labels.items():
                    text = text.replace("{{ $labels.%s }}" % name, v)
                if value is not None:
                    text = text.replace('{{ printf "%.3f" $value }}', "%.3f" % value)
                    text = text.replace("{{ $value }}", "%g" % value)
                ann[k] = text
            return {"exp_labels": dict(labels, severity=alerts[alert]["labels"]["severity"]),
                    "exp_annotations": ann}
        rates = {}
        for l, v in second["appdb_instance_reconcile_total"]:
            if l["result"] == "Failed":
                rates[l["instance"]] = (v - before.get(selector("x", l), 0)) / 60.0
        return {
            "rule_files": ["rules.json"],
            "evaluation_interval": "1m",
            "tests": [{
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": "AppDatabaseNotReady",
                     "exp_alerts": [expect("AppDatabaseNotReady", {"reason": r}, not_ready[r])
                                    for r in sorted(not_ready)]},
                    {"eval_time": "30m", "alertname": "AppDatabaseInstanceDown",
                     "exp_alerts": [expect("AppDatabaseInstanceDown", {"instance": i})
                                    for i in down_instances]},
                    {"eval_time": "30m", "alertname": "AppDatabaseKubeAPIDown",
                     "exp_alerts": [expect("AppDatabaseKubeAPIDown", {"pod": "cut-off"})]},
                    {"eval_time": "30m", "alertname": "AppDatabaseReconcileErrors",
                     "exp_alerts": [expect("AppDatabaseReconcileErrors", {"instance": i},
                                           rates[i]) for i in failing]},
                    # Not before their "for": nothing fires in the first minutes.
                    {"eval_time": "3m", "alertname": "AppDatabaseNotReady", "exp_alerts": []},
                    {"eval_time": "3m", "alertname": "AppDatabaseInstanceDown", "exp_alerts": []},
                ],
            }],
        }

    def test_grafana_dashboard(self):
        rendered = render_chart("metrics.grafanaDashboard.enabled=true")
        (cm,) = [d for d in rendered if d["kind"] == "ConfigMap" and
                 d["metadata"]["name"].endswith("-dashboard")]
        self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
        dash = json.loads(cm["data"]["appdb-operator.json"])
        with open(os.path.join(CHART, "files", "dashboard.json")) as f:
            self.assertEqual(dash, json.load(f))
        # The shape Grafana loads: schemaVersion, uid, title, panels with ids,
        # types, grid positions and Prometheus targets.
        self.assertIsInstance(dash["schemaVersion"], int)
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        self.assertTrue(dash["uid"] and dash["title"])
        self.assertEqual(dash["templating"]["list"][0]["type"], "datasource")
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        series, types = parse_metrics(self.metrics())
        exported = exported_families(types)
        titles = set()
        for p in dash["panels"]:
            titles.add(p["title"])
            self.assertIn(p["type"], {"timeseries", "stat", "bargauge", "state-timeline",
                                      "gauge", "table", "heatmap"})
            self.assertEqual(set(p["gridPos"]), {"h", "w", "x", "y"})
            self.assertLessEqual(p["gridPos"]["x"] + p["gridPos"]["w"], 24)
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["type"], "prometheus")
                names = set(re.findall(r"\b(appdb_[a-z_]+)\b", t["expr"]))
                self.assertTrue(names, t["expr"])
                self.assertFalse(names - exported, "%s names %s, not on /metrics"
                                 % (p["title"], names - exported))
        for want in ("AppDatabases by reason", "Time to Ready", "Reconciles per instance",
                     "Reconcile errors per instance"):
            self.assertIn(want, titles)
        # The panels' labels are on the series: reason, instance and result.
        self.assertTrue(any("reason" in l for l, _ in series["appdb_resources_by_reason"]))
        self.assertTrue(all({"instance", "result"} <= set(l)
                            for l, _ in series["appdb_instance_reconcile_total"]))


if __name__ == "__main__":
    unittest.main()
