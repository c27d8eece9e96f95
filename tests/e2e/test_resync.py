"""The controller's two-tier resync (DESIGN section 10, docs/resync.md): one
instance-wide query per period finds what changed outside the databases at
once; the in-database checks, spread over the period and at most
maxConnectionsPerInstance at a time, find drift inside a database (a default
privilege dropped, a grant revoked by hand) within one period; a resync over
unchanged resources changes nothing."""
import json
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, appdb, secret, docs  # noqa: E402
from e2e import CRD, KubeSim, Operator, condition, wait_until  # noqa: E402

N = 12
RESYNC = 8

DEFACL = ("select count(*) from pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a "
          "where d.defaclobjtype = 'r' and a.privilege_type = 'SELECT' "
          "and a.grantee = '%s'::pg_catalog.regrole")


def metric_lines(op, name):
    _, text = op.http("/metrics")
    return [l for l in text.splitlines() if l.startswith(name)]


def metric(op, name):
    total = 0.0
    for line in metric_lines(op, name):
        head = line.split(" ")[0]
        if head == name or head.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class TestTwoTiers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.sim = KubeSim()
        cls.sim.kubectl("apply", "-f", CRD)
        cls.op = Operator(cls.pg, cls.sim, "dev",
                          "workers: 4\nresyncSeconds: %d\n" % RESYNC).start()
        texts = [json.dumps({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "fleet"}}) + "\n",
                 secret("pw", {"a": "fleet-pw-a", "b": "fleet-pw-b"}, ns="fleet")]
        for i in range(N):
            texts.append(appdb("f%d" % i, ns="fleet", db="f_%d" % i,
                               users=[("f_%d_app" % i, "readwrite", "pw", "a"),
                                      ("f_%d_ro" % i, "readonly", "pw", "b")]))
        cls.sim.apply(docs(*texts))
        wait_until(lambda: cls.ready_count() == N, 120, interval=0.5, what="all Ready")

    @classmethod
    def tearDownClass(cls):
        cls.op.cleanup()
        cls.sim.cleanup()
        cls.pg.stop()

    @classmethod
    def ready_count(cls):
        out = cls.sim.kubectl("get", "appdb", "-n", "fleet", "-o", "json").stdout
        return sum(1 for o in json.loads(out)["items"]
                   if (condition(o, "Ready") or {}).get("status") == "True")

    def tearDown(self):
        if any(e for _, e in (self._outcome.errors if hasattr(self._outcome, "errors") else [])):
            sys.stderr.write(self.op.output()[-4000:])

    def sessions_in_databases(self):
        """The operator's sessions inside the application databases now."""
        rows = self.pg.superuser_sql(
            "select count(*) from pg_catalog.pg_stat_activity where datname like 'f\\_%' "
            "and application_name like 'appdb-operator/%'")
        return int(rows[0])

    def test_1_quiet_periods_change_nothing_and_stay_within_the_bound(self):
        before = len(self.pg.statements())
        checks = metric(self.op, "appdb_database_checks_total")
        peak, stop = [0], threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], self.sessions_in_databases())
                time.sleep(0.05)
        t = threading.Thread(target=sample)
        t.start()
        try:
            # Each database is checked inside once a period, no more than 2 at a time.
            wait_until(lambda: metric(self.op, "appdb_instance_check_seconds_count") >= 2 and
                       metric(self.op, "appdb_database_checks_total") - checks >= N,
                       4 * RESYNC + 20, interval=0.5,
                       what="two instance-wide checks and every database checked")
        finally:
            stop.set()
            t.join()
        self.assertEqual(len(self.pg.statements()), before, "a quiet resync executed DDL")
        self.assertLessEqual(peak[0], 2, "more in-database sessions at once than the bound")
        lines = metric_lines(self.op, "appdb_instance_check_seconds_count")
        self.assertTrue(any('instance="local"' in l for l in lines), lines)
        self.assertIn("in-database checks spread over %d s" % RESYNC, self.op.output())

    def test_2_drift_inside_one_database_is_repaired_within_a_period(self):
        victim, db, owner = "f_7_ro", "f_7", "f_7_owner"
        self.pg.superuser_sql("alter default privileges for role %s in schema public revoke "
                              "select on tables from %s" % (owner, victim), db=db)
        self.assertEqual(self.pg.superuser_sql(DEFACL % victim, db=db), ["0"])
        start = time.monotonic()
        wait_until(lambda: self.pg.superuser_sql(DEFACL % victim, db=db) == ["1"],
                   2 * RESYNC + 10, interval=0.2, what="the default privilege back")
        took = time.monotonic() - start
        print("drift inside one database of %d repaired in %.1f s (period %d s)"
              % (N, took, RESYNC), file=sys.stderr)
        self.assertLess(took, RESYNC + 3)

    def test_3_a_change_outside_the_database_is_found_by_the_instance_check(self):
        # A membership revoked by hand: the instance-wide digest differs, so the
        # resource is reconciled at the pass, not at its in-database slot.
        self.pg.superuser_sql("alter role f_3_app connection limit 3")
        start = time.monotonic()
        wait_until(lambda: self.pg.superuser_sql(
            "select rolconnlimit from pg_catalog.pg_roles where rolname = 'f_3_app'") == ["-1"],
            2 * RESYNC + 10, interval=0.2, what="the connection limit back")
        took = time.monotonic() - start
        self.assertLess(took, RESYNC + 3)
        self.assertRegex(self.op.output(), r"[1-9]\d* changed outside their database")
        # A membership granted by hand (a readonly user made a member of the owner
        # role) in the resource whose in-database check ran last: its next check is
        # a period away, so it is the instance-wide pass (the digest covers
        # memberships, either side) that finds it and has it revoked. Not f0: its
        # check is queued at the very moment of the pass.
        def last_checked():
            found = re.findall(r"info fleet/f(\d+) run=\S+: Unchanged", self.op.output())
            return found[-1] if found and found[-1] != "0" else None
        i = wait_until(last_checked, 2 * RESYNC, interval=0.1, what="an in-database check")
        member = ("select count(*) from pg_catalog.pg_auth_members m "
                  "join pg_catalog.pg_roles g on g.oid = m.roleid "
                  "join pg_catalog.pg_roles u on u.oid = m.member "
                  "where g.rolname = 'f_%s_owner' and u.rolname = 'f_%s_ro'" % (i, i))
        mark = len(self.op.output())
        self.pg.superuser_sql("grant f_%s_owner to f_%s_ro" % (i, i))
        self.assertEqual(self.pg.superuser_sql(member), ["1"])
        start = time.monotonic()
        wait_until(lambda: self.pg.superuser_sql(member) == ["0"], 2 * RESYNC + 10,
                   interval=0.2, what="the membership revoked")
        self.assertLess(time.monotonic() - start, RESYNC + 3)
        self.assertRegex(self.op.output()[mark:], r"[1-9]\d* changed outside their database")

if __name__ == "__main__":
    unittest.main()
