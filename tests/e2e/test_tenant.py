"""The tenant boundary through the controller: a team's `owner` user plants
shadowing functions, operators, views and hostile database settings, then
the controller's resyncs and a spec change run over its database; the admin
runs nothing of the tenant's and another team's password stays as it was.
On 13 the tenant plants the same in the admin database too, where the
resync's instance-wide query and the admin observation run."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import appdb, secret, docs  # noqa: E402
from e2e import condition, wait_until  # noqa: E402
from tenant_attack import plant_sql  # noqa: E402
from test_controller import Base, namespace, ready  # noqa: E402


class TestTenantThroughTheController(Base):
    extra = "resyncSeconds: 2\n"

    def apply(self, name, ns, users, pws):
        self.sim.apply(docs(namespace(ns), secret(name + "-db", pws, ns=ns),
                            appdb(name, ns=ns, users=users)))

    def test_resyncs_over_a_hostile_database_run_nothing_of_the_tenants(self):
        self.apply("cvic", "team-cv", [("cvic_app", "readwrite", "cvic-db", "a")],
                   {"a": "cvic-pw"})
        users = [("catt_dev", "owner", "catt-db", "d")]
        self.apply("catt", "team-ca", users, {"d": "catt-pw"})
        wait_until(ready(self.sim, "cvic", "team-cv"), 60, what="victim Ready")
        wait_until(ready(self.sim, "catt", "team-ca"), 60, what="attacker Ready")
        ok, _, e = self.pg.user_sql("catt_dev", "catt-pw", "create table public.t (id int)",
                                    "catt")
        self.assertTrue(ok, e)
        ok, _, e = self.pg.user_sql(
            "catt_dev", "catt-pw",
            "SET ROLE catt_owner; " + "; ".join(plant_sql("catt_dev", "cvic_app", "catt")),
            "catt")
        self.assertTrue(ok, e)
        admin_db = self.pg.major < 15 and self.pg.superuser_sql(
            "select has_schema_privilege('catt_dev', 'public', 'CREATE')") == ["t"]
        if self.major is not None and self.major < 15:
            self.assertTrue(admin_db, "the throwaway server's public is open to PUBLIC")
        if admin_db:
            # Before 15 every role may create in the admin database's public, where
            # the resync's instance-wide query and the admin observation run.
            ok, _, e = self.pg.user_sql(
                "catt_dev", "catt-pw",
                "; ".join(q for q in plant_sql("catt_dev", "cvic_app", "postgres")
                          if not q.startswith("ALTER DATABASE")), "postgres")
            self.assertTrue(ok, e)
        # Several resyncs (every 2 s), then a change that works inside the database.
        time.sleep(6)
        self.apply("catt", "team-ca", users + [("catt_ro", "readonly", "catt-db", "r")],
                   {"d": "catt-pw", "r": "catt-pw-r"})
        wait_until(ready(self.sim, "catt", "team-ca", generation=2), 60,
                   what="attacker generation 2 Ready")
        time.sleep(4)
        for db in ("catt", "postgres") if admin_db else ("catt",):
            self.assertEqual(self.pg.superuser_sql("select count(*) from public.pwned", db),
                             ["0"], self.pg.superuser_sql("select * from public.pwned", db))
        self.assertEqual(self.pg.superuser_sql(
            "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where r.rolname = 'pg_execute_server_program' "
            "and u.rolname = 'catt_dev'"), ["0"])
        self.assertTrue(self.pg.can_login("cvic_app", "cvic-pw", "cvic"))
        # (Checked from outside: the tenant's 1 ms statement_timeout holds for its users.)
        self.assertEqual(self.pg.superuser_sql(
            "select has_table_privilege('catt_ro', 'public.t', 'SELECT')", "catt"), ["t"])
        self.assertEqual(self.pg.admin_memberships(), [])
        obj = self.sim.get("appdb", "catt", "team-ca")
        self.assertEqual(condition(obj, "Ready")["status"], "True")



class TestTenantThroughTheControllerOn13(TestTenantThroughTheController):
    """The same on 13, where the tenant can also plant in the admin database."""
    major = 13


if __name__ == "__main__":
    unittest.main()
