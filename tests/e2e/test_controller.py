"""The controller end to end: the real kubectl against the API simulator,
`appdb-operator run`, and a real PostgreSQL."""
import base64
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, appdb, secret, docs  # noqa: E402
from e2e import CRD, KubeSim, Operator, condition, wait_until  # noqa: E402


def namespace(ns):
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}) + "\n"


def resource(name, ns, users=1, annotations=None, password="pw-%s-1"):
    data = {"p%d" % i: password % ("%s%d" % (name, i)) for i in range(users)}
    return docs(namespace(ns), secret(name + "-db", data, ns=ns),
                appdb(name, ns=ns, users=[("%s_u%d" % (name, i), "readwrite", name + "-db", "p%d" % i)
                                          for i in range(users)],
                      annotations=annotations))


def ready(sim, name, ns, generation=None):
    def check():
        obj = sim.get("appdb", name, ns)
        c = condition(obj, "Ready")
        if c and c["status"] == "True" and (generation is None or
                                            obj["status"].get("observedGeneration") == generation):
            return obj
        return None
    return check


class Base(unittest.TestCase):
    environment = "dev"
    extra = "resyncSeconds: 3\n"
    env = None
    major = None  # the server's major version (default: the throwaway server's)

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer(cls.major)
        cls.sim = KubeSim()
        cls.sim.kubectl("apply", "-f", CRD)
        cls.op = Operator(cls.pg, cls.sim, cls.environment, cls.extra).start(cls.env)

    @classmethod
    def tearDownClass(cls):
        cls.op.cleanup()
        cls.sim.cleanup()
        cls.pg.stop()

    def tearDown(self):
        if any(e for _, e in (self._outcome.errors if hasattr(self._outcome, "errors") else [])):
            sys.stderr.write(self.op.output()[-4000:])


class TestLifecycle(Base):
    def test_apply_wait_describe(self):
        self.sim.apply(resource("shop", "team-shop", users=2,
                                annotations={"db.platform.dev/build-id": "ci-e2e-7"}))
        start = time.monotonic()
        r = self.sim.kubectl("wait", "--for=condition=Ready", "appdb/shop", "-n", "team-shop",
                             "--timeout=60s")
        elapsed = time.monotonic() - start
        print("apply to Ready: %.2f s" % elapsed, file=sys.stderr)
        self.assertIn("condition met", r.stdout)
        self.assertTrue(self.pg.database_exists("shop"))
        self.assertTrue(self.pg.can_login("shop_u0", "pw-shop0-1", "shop"))
        d = self.sim.kubectl("describe", "appdb", "shop", "-n", "team-shop").stdout
        self.assertIn("Provisioned", d)
        self.assertIn("ci-e2e-7", d)
        self.assertRegex(d, r"Run Id:\s+[0-9a-f]{32}")
        self.assertRegex(d, r"Normal\s+Provisioned\s+.*appdb-operator")
        obj = self.sim.get("appdb", "shop", "team-shop")
        st = obj["status"]
        self.assertEqual(st["observedGeneration"], 1)
        self.assertEqual({c["type"]: c["status"] for c in st["conditions"]},
                         {"Ready": "True", "Reconciling": "False", "Stalled": "False"})
        self.assertEqual(st["lastRun"]["buildId"], "ci-e2e-7")
        self.assertEqual(st["lastRun"]["result"], "Changed")
        self.assertEqual(sorted(u["name"] for u in st["users"]), ["shop_u0", "shop_u1"])
        self.assertTrue(all(u.get("passwordVersion") for u in st["users"]))
        self.assertNotIn("pendingActions", st)
        # The audit record carries the run id of the status.
        self.assertIn(st["lastRun"]["runId"], {a["runId"] for a in self.op.audit()})
        # kubectl get shows the printer columns.
        out = self.sim.kubectl("get", "appdb", "-n", "team-shop").stdout
        self.assertRegex(out, r"shop\s+local\s+shop\s+True\s+Provisioned")
        # No password anywhere the operator writes.
        for text in (d, json.dumps(obj), self.op.output(), open(self.pg.log).read()):
            self.assertNotIn("pw-shop0-1", text)

    def test_spec_change_and_quiet_resync(self):
        self.sim.apply(resource("grow", "team-grow", users=1))
        wait_until(ready(self.sim, "grow", "team-grow"), 60, what="grow Ready")
        self.sim.apply(resource("grow", "team-grow", users=2))
        obj = wait_until(ready(self.sim, "grow", "team-grow", generation=2), 60,
                         what="generation 2 Ready")
        self.assertEqual(obj["metadata"]["generation"], 2)
        self.assertTrue(self.pg.can_login("grow_u1", "pw-grow1-1", "grow"))
        # Resyncs every 3 s execute no DDL.
        before = len(self.pg.statements())
        time.sleep(7)
        self.assertEqual(len(self.pg.statements()), before, "a resync executed DDL")

    def test_secret_missing_then_created(self):
        self.sim.apply(docs(namespace("team-late"),
                            appdb("late", ns="team-late",
                                  users=[("late_u", "readonly", "late-db", "p")])))
        obj = wait_until(lambda: (lambda o: o if condition(o, "Stalled") and condition(
            o, "Stalled")["status"] == "True" else None)(self.sim.get("appdb", "late", "team-late")),
            60, what="Stalled")
        self.assertEqual(condition(obj, "Ready")["reason"], "SecretMissing")
        self.assertFalse(self.pg.database_exists("late"))
        ev = self.sim.kubectl("get", "events", "-n", "team-late").stdout
        self.assertIn("SecretMissing", ev)
        self.sim.apply(secret("late-db", {"p": "late-pw"}, ns="team-late"))
        wait_until(ready(self.sim, "late", "team-late"), 30, what="Ready after the Secret")

    def test_invalid_spec_is_stalled(self):
        # The API accepts it; only the operator knows the admin role's name.
        self.sim.apply(docs(namespace("team-bad"), secret("bad-db", {"p": "x"}, ns="team-bad"),
                            appdb("bad", ns="team-bad",
                                  users=[(self.pg.admin, "readonly", "bad-db", "p")])))
        obj = wait_until(lambda: (lambda o: o if condition(o, "Ready") and condition(
            o, "Ready")["reason"] == "InvalidSpec" else None)(self.sim.get("appdb", "bad", "team-bad")),
            60, what="InvalidSpec")
        self.assertEqual(condition(obj, "Stalled")["status"], "True")
        self.assertIn("spec.users[0].name", condition(obj, "Ready")["message"])

    def test_probes_and_metrics(self):
        self.assertEqual(self.op.http("/healthz")[0], 200)
        wait_until(lambda: self.op.http("/readyz")[0] == 200, 30, what="/readyz")
        code, text = self.op.http("/metrics")
        self.assertEqual(code, 200)
        for name in ("appdb_reconcile_total", "appdb_reconcile_duration_seconds",
                     "appdb_resources", "appdb_kube_api_up", "appdb_workqueue_depth"):
            self.assertIn("# TYPE %s" % name, text)
            self.assertIn("# HELP %s" % name, text)
        self.assertIn("appdb_kube_api_up 1", text)

    def test_deletion_keeps_the_database(self):
        self.sim.apply(resource("gone", "team-gone"))
        wait_until(ready(self.sim, "gone", "team-gone"), 60, what="Ready")
        self.sim.kubectl("delete", "appdb", "gone", "-n", "team-gone")
        wait_until(lambda: any(a.get("result") == "Deleted" and a["resource"] == "team-gone/gone"
                               for a in self.op.audit()), 30, what="deletion audit")
        self.assertTrue(self.pg.database_exists("gone"))


class TestProdApproval(Base):
    environment = "prod"
    env = {"ALLOW_DB_PROVISION": "true"}

    def test_approval_per_generation(self):
        self.sim.apply(resource("pay", "team-pay"))

        def awaiting():
            o = self.sim.get("appdb", "pay", "team-pay")
            c = condition(o, "Ready")
            return o if c and c["reason"] == "AwaitingApproval" else None
        obj = wait_until(awaiting, 60, what="AwaitingApproval")
        self.assertEqual(condition(obj, "Stalled")["status"], "True")
        self.assertIn("create database pay owner pay_owner", obj["status"]["pendingActions"])
        self.assertFalse(self.pg.database_exists("pay"))
        self.sim.kubectl("annotate", "appdb", "pay", "-n", "team-pay",
                         "db.platform.dev/approved-generation=1",
                         "db.platform.dev/approved-by=jane@example.com")
        obj = wait_until(ready(self.sim, "pay", "team-pay"), 60, what="Ready after approval")
        self.assertNotIn("pendingActions", obj["status"])
        self.assertTrue(self.pg.database_exists("pay"))
        self.assertTrue(any(a.get("approvedBy") == "jane@example.com" for a in self.op.audit()))
        # A spec change needs a new approval.
        self.sim.apply(resource("pay", "team-pay", users=2))
        obj = wait_until(awaiting, 60, what="AwaitingApproval for generation 2")
        self.assertEqual(obj["metadata"]["generation"], 2)
        self.assertIn("create role pay_u1 (login)", obj["status"]["pendingActions"])
        self.sim.kubectl("annotate", "--overwrite", "appdb", "pay", "-n", "team-pay",
                         "db.platform.dev/approved-generation=2")
        wait_until(ready(self.sim, "pay", "team-pay", generation=2), 60, what="generation 2 Ready")


if __name__ == "__main__":
    unittest.main()
