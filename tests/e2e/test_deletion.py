"""deletionPolicy through the controller and the API simulator: Retain
changes nothing in PostgreSQL; Disable holds the deletion with the finalizer
db.platform.dev/disable-on-delete until every login role of the resource is
disabled and has lost CONNECT. Nothing is dropped, and applying the
resource again enables its users again."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import appdb, secret, docs  # noqa: E402
from e2e import wait_until  # noqa: E402
from test_controller import Base, namespace, ready  # noqa: E402

FINALIZER = "db.platform.dev/disable-on-delete"


def resource(name, ns, policy=None):
    text = appdb(name, ns=ns, users=[(name + "_app", "readwrite", name + "-db", "a"),
                                     (name + "_mig", "owner", name + "-db", "m")])
    doc = json.loads(text)
    if policy is not None:
        doc["spec"]["deletionPolicy"] = policy
    return docs(namespace(ns), secret(name + "-db", {"a": name + "-pw-a", "m": name + "-pw-m"},
                                      ns=ns), json.dumps(doc) + "\n")


class TestDeletionPolicy(Base):
    extra = "resyncSeconds: 3\n"

    def gone(self, name, ns):
        r = self.sim.kubectl("get", "appdb", name, "-n", ns, "-o", "json", check=False)
        return r.returncode != 0 and "NotFound" in r.stderr

    def test_disable_holds_the_deletion_until_logins_are_disabled(self):
        self.sim.apply(resource("dsb", "team-d", "Disable"))
        obj = wait_until(ready(self.sim, "dsb", "team-d"), 60, what="Ready")
        obj = wait_until(lambda: (lambda o: o if FINALIZER in o["metadata"].get(
            "finalizers", []) else None)(self.sim.get("appdb", "dsb", "team-d")), 30,
            what="the finalizer")
        self.pg.superuser_sql("set role dsb_owner; create table public.keep (v text); "
                              "insert into public.keep values ('data')", "dsb")
        self.assertTrue(self.pg.can_login("dsb_app", "dsb-pw-a", "dsb"))
        self.sim.kubectl("delete", "appdb", "dsb", "-n", "team-d", "--wait=false")
        wait_until(lambda: self.gone("dsb", "team-d"), 60, what="the resource gone")
        for user, pw in (("dsb_app", "dsb-pw-a"), ("dsb_mig", "dsb-pw-m")):
            self.assertFalse(self.pg.can_login(user, pw, "dsb"), user)
            self.assertEqual(self.pg.superuser_sql(
                "select rolcanlogin::text || has_database_privilege('%s', 'dsb', 'CONNECT')::text"
                " from pg_roles where rolname = '%s'" % (user, user)), ["falsefalse"])
        self.assertEqual(self.pg.superuser_sql("select v from public.keep", "dsb"), ["data"])
        self.assertTrue(self.pg.database_exists("dsb"))
        self.assertEqual(self.pg.admin_memberships(), [])
        audit = [a for a in self.op.audit() if a["resource"] == "team-d/dsb"]
        self.assertTrue(any(a.get("result") == "Deleted" for a in audit))
        self.assertTrue(any("disable role dsb_app (nologin)" in a.get("actions", [])
                            for a in audit))
        # Applied again (a new uid): the users come back with their grants.
        self.sim.apply(resource("dsb", "team-d", "Disable"))
        wait_until(ready(self.sim, "dsb", "team-d"), 60, what="Ready again")
        ok, out, e = self.pg.user_sql("dsb_app", "dsb-pw-a", "select v from public.keep", "dsb")
        self.assertTrue(ok, e)

    def test_retain_changes_nothing(self):
        self.sim.apply(resource("rtn", "team-r"))
        obj = wait_until(ready(self.sim, "rtn", "team-r"), 60, what="Ready")
        self.assertNotIn(FINALIZER, obj["metadata"].get("finalizers", []))
        self.sim.kubectl("delete", "appdb", "rtn", "-n", "team-r")
        wait_until(lambda: self.gone("rtn", "team-r"), 30, what="the resource gone")
        wait_until(lambda: any(a.get("result") == "Deleted" and a["resource"] == "team-r/rtn"
                               for a in self.op.audit()), 30, what="deletion audit")
        self.assertTrue(self.pg.can_login("rtn_app", "rtn-pw-a", "rtn"))


if __name__ == "__main__":
    unittest.main()
