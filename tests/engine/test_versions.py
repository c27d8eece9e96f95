"""What the operator relies on that differs between PostgreSQL majors.

Runs on whichever major the suite runs against (APPDB_PG_MAJOR, see
mk/engine.mk); docs/compatibility.md lists each fact and the test here that
pins it. Server facts are read from the catalog as the superuser; what the
operator leaves behind is read the same way after it ran.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, PgServer, Workspace, appdb, secret, docs  # noqa: E402

PG = None
EXAMPLES = [os.path.join(ROOT, "examples", f) for f in ("orders.yaml", "payments.yaml")]


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


def public_schema(db):
    """(owner, {grantee: privileges/grantor}) of schema public in db; PUBLIC is ''."""
    row = PG.superuser_sql("select pg_catalog.pg_get_userbyid(nspowner) || '|' || "
                           "coalesce(nspacl::text, '') from pg_catalog.pg_namespace "
                           "where nspname = 'public'", db)[0]
    owner, _, acl = row.partition("|")
    items = (i.partition("=") for i in acl.strip("{}").split(",") if i)
    return owner, {grantee: rest for grantee, _, rest in items}


class VersionCase(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def provision(self, name, users, schemas=None):
        """Reconciles one resource whose users all share one Secret."""
        keys = {u: "%s-pw-%d" % (u, i) for i, (u, _) in enumerate(users)}
        path = self.ws.write(name + ".yaml", docs(
            secret(name + "-db", keys),
            appdb(name, users=[(u, a, name + "-db", u) for u, a in users], schemas=schemas)))
        code, out, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        return path, keys, err


class TestServer(unittest.TestCase):
    def test_server_is_the_major_asked_for(self):
        num = int(PG.superuser_sql("show server_version_num")[0])
        self.assertEqual(num // 10000, PG.major)
        if os.environ.get("APPDB_PG_MAJOR"):
            self.assertEqual(PG.major, int(os.environ["APPDB_PG_MAJOR"]))

    def test_public_schema_owner_and_acl(self):
        # Before 15 the public schema of a new database belongs to the
        # bootstrap superuser and PUBLIC may CREATE in it; from 15 it belongs
        # to pg_database_owner and PUBLIC has USAGE only.
        owner, acl = public_schema("template1")
        if PG.major < 15:
            self.assertEqual(owner, "postgres")
            self.assertEqual(acl, {"postgres": "UC/postgres", "": "UC/postgres"})
        else:
            self.assertEqual(owner, "pg_database_owner")
            self.assertEqual(acl, {"pg_database_owner": "UC/pg_database_owner",
                                   "": "U/pg_database_owner"})

    def test_predefined_roles(self):
        roles = set(PG.superuser_sql("select rolname from pg_catalog.pg_roles "
                                     "where rolname like 'pg\\_%'"))
        self.assertEqual("pg_database_owner" in roles, PG.major >= 14)
        self.assertEqual("pg_maintain" in roles, PG.major >= 17)
        self.assertEqual("pg_create_subscription" in roles, PG.major >= 16)

    def test_membership_options_exist_from_16(self):
        cols = set(PG.superuser_sql(
            "select attname from pg_catalog.pg_attribute where attrelid = "
            "'pg_catalog.pg_auth_members'::regclass and attnum > 0"))
        self.assertEqual({"inherit_option", "set_option"} <= cols, PG.major >= 16)
        if PG.major >= 16:
            self.assertEqual(PG.superuser_sql("show createrole_self_grant"), [])


class TestExamples(VersionCase):
    def test_examples_second_run_is_unchanged_and_plan_exits_0(self):
        code, _, err = self.ws.run("reconcile", *EXAMPLES)
        self.assertEqual(code, 0, err)
        before = len(PG.statements())
        code, out, err = self.ws.run("reconcile", *EXAMPLES)
        self.assertEqual(code, 0, err)
        self.assertIn("team-orders/orders: Unchanged", err)
        self.assertIn("team-payments/payments: Unchanged", err)
        self.assertEqual(PG.statements()[before:], [], "a second run executed DDL")
        code, out, err = self.ws.run("plan", *EXAMPLES)
        self.assertEqual(code, 0, err)
        for line in out.splitlines():
            self.assertEqual(json.loads(line)["actions"], [], line)

    def test_provisioning_draws_no_server_warning(self):
        # A WARNING from the server (e.g. 01007 "no privileges were granted")
        # means a statement did less than the plan said.
        logged = len(PG.log_text().splitlines())
        _, _, err = self.provision("vw", [("vw_app", "readwrite"), ("vw_ro", "readonly")])
        self.assertNotIn("WARNING:", err)
        lines = PG.log_text().splitlines()[logged:]
        warned = [l.split(" WARNING:", 1)[1].strip() for l in lines
                  if "app=appdb-operator/" in l and " WARNING:" in l]
        self.assertEqual(warned, [])


class TestGrants(VersionCase):
    def acl_of(self, db, rel, role):
        """The privileges role holds on rel, as a sorted list."""
        return PG.superuser_sql(
            "select a.privilege_type from pg_catalog.pg_class c, "
            "pg_catalog.aclexplode(c.relacl) a where c.oid = '%s'::regclass and "
            "a.grantee = (select oid from pg_catalog.pg_roles where rolname = '%s') "
            "order by 1" % (rel, role), db)

    def test_levels_are_exact_on_every_major(self):
        # GRANT ALL would include MAINTAIN from 17: the levels name their
        # privileges, so they are the same on every major.
        _, keys, _ = self.provision("vg", [("vg_app", "readwrite"), ("vg_ro", "readonly"),
                                           ("vg_mig", "owner")])
        ok, _, e = PG.user_sql("vg_mig", keys["vg_mig"], "create table public.t (id int)", "vg")
        self.assertTrue(ok, e)
        self.assertEqual(self.acl_of("vg", "public.t", "vg_app"),
                         ["DELETE", "INSERT", "SELECT", "UPDATE"])
        self.assertEqual(self.acl_of("vg", "public.t", "vg_ro"), ["SELECT"])
        # Default privileges on tables, per role that creates them (the owner
        # role and the owner-access users), without each role's own entry.
        defaults = PG.superuser_sql(
            "select pg_catalog.pg_get_userbyid(d.defaclrole) || ':' || "
            "pg_catalog.pg_get_userbyid(a.grantee) || ':' || a.privilege_type "
            "from pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a "
            "where d.defaclobjtype = 'r' and a.grantee <> d.defaclrole and "
            "pg_catalog.pg_get_userbyid(d.defaclrole) like 'vg\\_%' order by 1", "vg")
        self.assertLessEqual({d.split(":")[2] for d in defaults},
                             {"SELECT", "INSERT", "UPDATE", "DELETE"}, defaults)
        self.assertEqual(sorted({d for d in defaults if d.startswith("vg_owner:vg_a")
                                 or d.startswith("vg_owner:vg_r")}),
                         ["vg_owner:vg_app:DELETE", "vg_owner:vg_app:INSERT",
                          "vg_owner:vg_app:SELECT", "vg_owner:vg_app:UPDATE",
                          "vg_owner:vg_ro:SELECT"])

    def test_admin_keeps_only_the_creator_admin_option(self):
        # From 16 CREATE ROLE by a CREATEROLE non-superuser grants the new role
        # to its creator WITH ADMIN, without INHERIT and SET (grantor: the
        # bootstrap superuser), which the creator cannot revoke and needs to
        # manage the role. Before 16 there is no such grant. Either way the
        # admin holds no usable membership after a run.
        self.provision("vm", [("vm_app", "readwrite"), ("vm_mig", "owner")])
        roles = ["vm_owner", "vm_app", "vm_mig"]
        where = ("m.member = (select oid from pg_catalog.pg_roles where rolname = '%s') and "
                 "r.rolname in (%s)" % (PG.admin, ", ".join("'%s'" % r for r in roles)))
        if PG.major >= 16:
            rows = PG.superuser_sql(
                "select r.rolname || ':' || m.admin_option::int || m.inherit_option::int "
                "|| m.set_option::int || ':' || pg_catalog.pg_get_userbyid(m.grantor) "
                "from pg_catalog.pg_auth_members m join pg_catalog.pg_roles r "
                "on r.oid = m.roleid where " + where + " order by 1")
            self.assertEqual(rows, sorted("%s:100:postgres" % r for r in roles))
        else:
            rows = PG.superuser_sql(
                "select r.rolname from pg_catalog.pg_auth_members m join pg_catalog.pg_roles r "
                "on r.oid = m.roleid where " + where)
            self.assertEqual(rows, [])
        self.assertEqual([r for r in PG.admin_memberships() if r in roles], [])

    def test_passwords_are_scram_verifiers(self):
        # No MD5 password on any major (18 warns when one is set).
        _, _, err = self.provision("vp", [("vp_app", "readonly")])
        self.assertEqual(PG.superuser_sql(
            "select rolpassword like 'SCRAM-SHA-256$%' from pg_catalog.pg_authid "
            "where rolname = 'vp_app'"), ["t"])
        self.assertNotIn("md5", err.lower())


if __name__ == "__main__":
    unittest.main()
