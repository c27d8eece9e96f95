"""Crash drill: resources through `appdb-operator run` while the operator is
SIGKILLed at random moments and restarted each time. At the end every
resource is Ready, its database and roles are exactly what an uninterrupted
run makes (catalog fingerprint) and the users log in; no extra database or
role, no admin membership left, nothing stuck, an audit record for every
change."""
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from drill import Drill, FORM, databases, figure, fingerprint, roles, scale  # noqa: E402
from e2e import condition, wait_until  # noqa: E402
from test_controller import resource  # noqa: E402

N = scale(10, 100)
KILLS = scale(3, 20)
NAMESPACES = scale(2, 5)


class CrashDrill(Drill):
    start = False

    def test_sigkill_at_random_moments(self):
        seed = int(os.environ.get("APPDB_DRILLS_SEED") or time.time())
        rnd = random.Random(seed)
        sys.stderr.write("crash drill: seed %d, %d resources, %d kills\n" % (seed, N, KILLS))
        pg = self.pg
        admin_before = sorted(pg.admin_memberships())
        # The reference: one resource of the same shape, provisioned without a kill.
        self.op.start()
        self.sim.apply(resource("ref", "drill-ref"))
        wait_until(lambda: self.ready_all([("ref", "drill-ref")]), 60, what="ref Ready")
        reference = fingerprint(pg, "ref")
        dbs_before, roles_before = databases(pg), roles(pg)
        audit_before = len(self.op.audit())

        # The resources arrive while the operator is down, so that every kill
        # falls while they are being provisioned.
        self.op.stop(signal.SIGKILL)
        names = [("c%d" % i, "drill-%d" % (i % NAMESPACES)) for i in range(N)]
        self.sim.apply("---\n".join(resource(n, ns) for n, ns in names))
        self.op.start()
        t0 = time.monotonic()
        kills = []
        # Kill moments while provisioning goes on: a clean run does a resource in
        # about 0.1 s on two workers, a restart takes a few tenths to list and watch.
        for k in range(KILLS):
            time.sleep(rnd.uniform(0.1, scale(0.6, 1.0)))
            present = databases(pg)
            done = sum(1 for n, _ in names if n in present)
            self.op.stop(signal.SIGKILL)
            kills.append({"at": round(time.monotonic() - t0, 2), "databases": done})
            self.op.start()
        ready = wait_until(lambda: self.ready_all(names), scale(120, 600), interval=1,
                           what="all Ready after the kills")
        elapsed = time.monotonic() - t0

        # Every resource: Ready for its generation, nothing Reconciling, exactly the
        # reference's catalog, its user logs in to its database.
        mismatched = []
        for (n, ns), obj in zip(names, ready):
            self.assertEqual(obj["status"].get("observedGeneration"), obj["metadata"]["generation"])
            rc = condition(obj, "Reconciling")
            self.assertTrue(rc is None or rc["status"] == "False", "%s still Reconciling" % n)
            if fingerprint(pg, n) != reference:
                mismatched.append(n)
            self.assertTrue(pg.can_login("%s_u0" % n, "pw-%s0-1" % n, n), "%s_u0 cannot log in" % n)
        self.assertEqual(mismatched, [], "catalog differs from the uninterrupted run")
        expected_dbs = {n for n, _ in names}
        expected_roles = {"%s_owner" % n for n, _ in names} | {"%s_u0" % n for n, _ in names}
        self.assertEqual(databases(pg) - dbs_before, expected_dbs, "extra or missing databases")
        self.assertEqual(roles(pg) - roles_before, expected_roles, "extra or missing roles")
        self.assertEqual(sorted(pg.admin_memberships()), admin_before, "admin membership left")
        # Nothing stuck: no session of the operator inside a transaction, no
        # advisory lock held. A run still in flight (a retry, under load) or the
        # backend of a killed run still finishing its statement holds them for a
        # moment; stuck ones never go.
        def stuck():
            idle = pg.superuser_sql(
                "select count(*) from pg_catalog.pg_stat_activity where usename = '%s' and "
                "state like 'idle in transaction%%'" % pg.admin)
            locks = pg.superuser_sql(
                "select count(*) from pg_catalog.pg_locks where locktype = 'advisory'")
            return None if idle == ["0"] and locks == ["0"] else (idle, locks)
        wait_until(lambda: stuck() is None, 30, interval=0.5,
                   what="no session in a transaction and no advisory lock")
        # An audit record for every change. The database's log names each run
        # (application_name appdb-operator/<runId>); a run that completed has its
        # records, and a run cut by a SIGKILL after some statements has those the
        # next start wrote from its intent (docs/reliability.md, defect 1). Strict
        # by default; APPDB_DRILLS_STRICT=0 only counts what an older build left
        # unrecorded (at most one run a worker can be cut per kill).
        audit = self.op.audit()[audit_before:]
        audited = {a["runId"] for a in audit}
        runs, cleanups = self.ddl_runs(names)
        cut = sorted(r for r in runs if r not in audited)
        # A run that only gives back a membership an interrupted run left
        # (REVOKE x_owner FROM admin) records it too (defect 7): counted apart.
        cleanup_only = sorted(r for r in cut if r in cleanups)
        cut = [r for r in cut if r not in cleanups]
        unrecorded = []
        for n, ns in names:
            recs = [a for a in audit if a["resource"] == "%s/%s" % (ns, n)]
            for user, what in ((None, "create database %s " % n), ("%s_u0" % n, "create role %s_u0 " % n)):
                if not any(x.startswith(what) for a in recs if a.get("user") == user
                           for x in a["actions"]):
                    unrecorded.append(what.strip())
        figure("crash", resources=N, kills=KILLS, seed=seed, seconds=round(elapsed, 1),
               kill_moments=kills, audit_records=len(audit), runs_with_ddl=len(runs),
               runs_cut_without_audit=len(cut), creations_without_audit=unrecorded,
               membership_cleanups_without_audit=len(cleanup_only))
        self.assertLessEqual(len(cut), 2 * KILLS, "runs without an audit record: %s" % cut)
        if os.environ.get("APPDB_DRILLS_STRICT", "1") != "0":
            self.assertEqual(cut, [], "runs cut by a kill left changes no audit record names")
            self.assertEqual(cleanup_only, [], "membership clean-ups without an audit record")
            self.assertEqual(unrecorded, [], "creations no audit record names")

    def ready_all(self, names):
        r = self.sim.kubectl("get", "appdb", "-A", "-o", "json")
        import json
        items = {(o["metadata"]["name"], o["metadata"]["namespace"]): o
                 for o in json.loads(r.stdout)["items"]}
        out = []
        for key in names:
            o = items.get(key)
            c = condition(o, "Ready")
            if not c or c["status"] != "True":
                return None
            out.append(o)
        return out

    def ddl_runs(self, names):
        """The run ids of the operator's sessions that ran DDL for these
        resources, and those whose only DDL gave back an admin membership."""
        import re
        ours = {n for n, _ in names}
        runs, other = set(), set()
        revoke = re.compile(r'REVOKE "c\d+_owner" FROM "%s"$' % re.escape(self.pg.admin))
        for line in self.pg.statements():
            m = re.search(r"app=appdb-operator/([0-9a-f]{32}) .*statement: (.*)", line)
            if not m:
                continue
            objs = set(re.findall(r'"(c\d+)(?:_owner|_u0)?"', m.group(2)))
            if objs & ours:
                runs.add(m.group(1))
                if not revoke.search(m.group(2).strip()):
                    other.add(m.group(1))
        return runs, runs - other


if __name__ == "__main__":
    unittest.main()
