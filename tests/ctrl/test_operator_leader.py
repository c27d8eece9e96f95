"""Leader election in the real binary: two `appdb-operator run` processes
(distinct POD_NAME, as the chart sets it) against the API simulator and a
real PostgreSQL. One leads and reconciles, the standby does nothing; after
SIGKILL of the leader the standby takes the Lease within the lease duration
and reconciles; SIGTERM releases the Lease and exits 0."""

import os
import signal
import sys
import time
import unittest

ROOT = os.environ.get("APPDB_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import e2e  # noqa: E402
import harness  # noqa: E402

LEASE = 4
RETRY = 1
LEADER_CFG = ("leaderElection: {enabled: true, namespace: default, name: appdb-ctrl-test, "
              "leaseDurationSeconds: %d, renewDeadlineSeconds: 3, retryPeriodSeconds: %d}\n" % (LEASE, RETRY))


def appdb(name):
    return """apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata: {name: %s, namespace: team-lead}
spec:
  instance: local
  database: {name: %s, owner: %s_owner}
""" % (name.replace("_", "-"), name, name)


class OperatorLeaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.PgServer()
        cls.sim = e2e.KubeSim()
        cls.sim.kubectl("apply", "-f", e2e.CRD)
        cls.sim.kubectl("create", "namespace", "team-lead")

    @classmethod
    def tearDownClass(cls):
        cls.sim.cleanup()
        cls.pg.stop()

    def holder(self):
        lease = self.sim.get("lease", "appdb-ctrl-test", "default")
        return (lease or {}).get("spec", {}).get("holderIdentity")

    def ready(self, name):
        c = e2e.condition(self.sim.get("appdb", name, "team-lead"), "Ready")
        return c is not None and c["status"] == "True"

    def test_one_leader_takeover_and_release(self):
        a = e2e.Operator(self.pg, self.sim, extra=LEADER_CFG, name="a")
        b = e2e.Operator(self.pg, self.sim, extra=LEADER_CFG, name="b")
        try:
            a.start(env={"POD_NAME": "appdb-a"})
            e2e.wait_until(lambda: self.holder() == "appdb-a", 20, what="a to lead")
            b.start(env={"POD_NAME": "appdb-b"})
            e2e.wait_until(lambda: b.http("/healthz")[0] == 200, 20, what="b to serve")
            self.sim.apply(appdb("lead_one"))
            e2e.wait_until(lambda: self.ready("lead-one"), 60, what="lead-one Ready")
            time.sleep(LEASE)
            self.assertEqual(self.holder(), "appdb-a")
            # Only the leader reconciled.
            self.assertTrue(any(r.get("resource") == "team-lead/lead-one" for r in a.audit()))
            self.assertEqual(b.audit(), [], b.output())

            killed = time.monotonic()
            a.stop(signal.SIGKILL)
            e2e.wait_until(lambda: self.holder() == "appdb-b", LEASE + 3 * RETRY + 5, what="b to take over")
            took = time.monotonic() - killed
            self.assertLess(took, LEASE + 3 * RETRY + 3)
            self.sim.apply(appdb("lead_two"))
            e2e.wait_until(lambda: self.ready("lead-two"), 60, what="lead-two Ready by b")
            self.assertTrue(any(r.get("resource") == "team-lead/lead-two" for r in b.audit()))

            self.assertEqual(b.stop(signal.SIGTERM), 0, b.output())
            self.assertEqual(self.holder(), "")
        finally:
            a.cleanup()
            b.cleanup()


if __name__ == "__main__":
    unittest.main()
