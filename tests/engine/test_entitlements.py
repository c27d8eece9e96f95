"""Richer access (DESIGN 11.3) on a real server, checked by logging in.

One resource with every new field: a user limited to one schema with extra
privileges (TEMPORARY, CREATE on its schema, TRUNCATE), VALID UNTIL and
settings; a user in an allowed predefined role; an RDS IAM user (an
`rds_iam` role made here stands for RDS); an extension. A second run changes
nothing; taking the fields out revokes them (nothing dropped), and again a
second run changes nothing. Off RDS (no rds_iam) and with a role or an
extension the server lacks, the run stops before any change with a reason
naming the field. Runs on every major: pg_read_all_data from 14, role
membership options from 16.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, Workspace, docs, secret  # noqa: E402

PG = None
NS = "team-e"


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


def manifest(rich=True, reader_role="pg_read_all_data", iam=True, extension="pgcrypto"):
    users = [
        {"name": "ent_rep", "access": "readonly",
         "passwordFrom": {"kubernetesSecret": {"name": "ent-db", "key": "rep"}}},
        {"name": "ent_reader", "access": "readonly",
         "passwordFrom": {"kubernetesSecret": {"name": "ent-db", "key": "reader"}}},
        {"name": "ent_iam", "access": "readonly",
         "passwordFrom": {"kubernetesSecret": {"name": "ent-db", "key": "iam"}}},
    ]
    spec = {"instance": "local", "database": {"name": "ent", "owner": "ent_owner"},
            "schemas": ["public", "reporting"], "users": users}
    if rich:
        users[0].update({
            "schemas": ["reporting"],
            "privileges": {"database": ["TEMPORARY"], "schema": ["CREATE"],
                           "tables": ["TRUNCATE"]},
            "validUntil": "2099-06-30T00:00:00Z",
            "settings": {"search_path": "reporting, public", "statement_timeout": "30s"}})
        users[1]["memberOf"] = [reader_role]
        if iam:
            del users[2]["passwordFrom"]
            users[2]["iamAuth"] = True
        if extension:
            spec["database"]["extensions"] = [{"name": extension, "schema": "public"}]
    doc = {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
           "metadata": {"name": "ent", "namespace": NS}, "spec": spec}
    return docs(secret("ent-db", PWS, ns=NS), json.dumps(doc, indent=2) + "\n")


PWS = {"rep": "p-rep-1", "reader": "p-reader-1", "iam": "p-iam-1"}


class TestEntitlements(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ws = Workspace(PG)
        with open(cls.ws.config) as f:
            text = f.read()
        with open(cls.ws.config, "w") as f:
            f.write(text.replace("    admin:\n",
                                 "    allowedRoles: [pg_read_all_data, pg_monitor]\n"
                                 "    allowedExtensions: [pgcrypto, no_such_ext]\n"
                                 "    admin:\n", 1))
        # Before 14 there is no pg_read_all_data: pg_monitor stands in.
        cls.reader_role = "pg_read_all_data" if PG.major >= 14 else "pg_monitor"

    @classmethod
    def tearDownClass(cls):
        cls.ws.cleanup()

    def run_twice(self, text):
        path = self.ws.write("ent.yaml", text)
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        before = len(PG.statements())
        code, _, err2 = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err2)
        self.assertIn("Unchanged", err2, err)
        self.assertEqual(len(PG.statements()), before, "the second run changed something")
        return err

    def can(self, user, sql, db="ent"):
        ok, _, _ = PG.user_sql(user, PWS[user.split("_")[1]], sql, db)
        return ok

    def out(self, user, sql, db="ent"):
        ok, out, err = PG.user_sql(user, PWS[user.split("_")[1]], sql, db)
        self.assertTrue(ok, err)
        return out.splitlines()

    def test_fields_apply_and_are_revoked(self):
        # Off RDS: no rds_iam, a clear reason and nothing changed.
        before = len(PG.statements())
        path = self.ws.write("ent.yaml", manifest(reader_role=self.reader_role))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("spec.users[2].iamAuth", err)
        self.assertIn("rds_iam does not exist", err)
        self.assertFalse(PG.database_exists("ent"))
        self.assertEqual(len(PG.statements()), before, "a statement ran")
        if PG.major < 14:
            # The role appears in 14: named in the reason, nothing changed.
            path = self.ws.write("ent.yaml", manifest(reader_role="pg_read_all_data",
                                                      iam=False))
            code, _, err = self.ws.run("reconcile", path)
            self.assertEqual(code, 1, err)
            self.assertIn("spec.users[1].memberOf[0]", err)
        # An extension the instance allows and the server does not have.
        path = self.ws.write("ent.yaml", manifest(reader_role=self.reader_role, iam=False,
                                                  extension="no_such_ext"))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("spec.database.extensions[0].name: extension no_such_ext is not "
                      "available", err)
        # One the instance does not allow: refused before any connection.
        path = self.ws.write("ent.yaml", manifest(reader_role=self.reader_role, iam=False,
                                                  extension="hstore"))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("extension hstore is not in the instance's allowedExtensions", err)
        self.assertFalse(PG.database_exists("ent"))
        self.assertEqual(len(PG.statements()), before, "a statement ran")

        # RDS stand-in; from 16 the admin needs ADMIN on the roles it grants,
        # without SET or INHERIT, so it is no usable member of them.
        PG.superuser_sql("create role rds_iam nologin")
        if PG.major >= 16:
            PG.superuser_sql("grant rds_iam, %s to %s with admin true, inherit false, "
                             "set false" % (self.reader_role, PG.admin))
        self.run_twice(manifest(reader_role=self.reader_role))
        PG.superuser_sql("create schema other; create table other.t (id int); "
                         "insert into other.t values (1); "
                         "set role ent_owner; create table reporting.r (id int); "
                         "create table public.p (id int)", "ent")

        # The user limited to reporting sees no other schema's tables.
        self.assertTrue(self.can("ent_rep", "select * from reporting.r"))
        self.assertFalse(self.can("ent_rep", "select * from public.p"))
        self.assertFalse(self.can("ent_rep", "select * from other.t"))
        self.assertTrue(self.can("ent_rep", "create temp table tt (id int)"))
        self.assertFalse(self.can("ent_reader", "create temp table tt (id int)"))
        self.assertTrue(self.can("ent_rep", "create table reporting.mine (id int)"))
        self.assertFalse(self.can("ent_reader", "create table reporting.x (id int)"))
        self.assertTrue(self.can("ent_rep", "truncate reporting.r"))
        self.assertFalse(self.can("ent_reader", "truncate reporting.r"))
        self.assertEqual(self.out("ent_rep", "show statement_timeout"), ["30s"])
        self.assertEqual(self.out("ent_rep", "show search_path"), ["reporting, public"])
        self.assertEqual(PG.superuser_sql(
            "select rolvaliduntil at time zone 'UTC' from pg_roles where rolname = 'ent_rep'"),
            ["2099-06-30 00:00:00"])
        # The predefined role reads what it has no grant on.
        if PG.major >= 14:
            self.assertTrue(self.can("ent_reader", "select * from other.t"))
        self.assertFalse(self.can("ent_rep", "select * from other.t"))
        # The IAM user is in rds_iam; the admin in no role that holds it.
        self.assertEqual(PG.superuser_sql(
            "select pg_has_role('ent_iam', 'rds_iam', 'MEMBER')"), ["t"])
        self.assertEqual(PG.admin_memberships(), [])
        self.assertEqual(PG.superuser_sql(
            "select count(*) from pg_roles r where pg_has_role('%s', r.oid, 'USAGE') "
            "and pg_has_role(r.oid, 'rds_iam', 'USAGE')" % PG.admin), ["0"])
        self.assertEqual(PG.superuser_sql(
            "select e.extname, pg_get_userbyid(e.extowner) from pg_extension e "
            "where e.extname = 'pgcrypto'", "ent"), ["pgcrypto|ent_owner"])

        # Taken out of the spec: revoked or reset, nothing dropped.
        self.run_twice(manifest(rich=False))
        self.assertFalse(self.can("ent_rep", "create temp table tt (id int)"))
        self.assertFalse(self.can("ent_rep", "create table reporting.again (id int)"))
        self.assertFalse(self.can("ent_rep", "truncate reporting.r"))
        self.assertTrue(self.can("ent_rep", "select * from public.p"))
        self.assertEqual(self.out("ent_rep", "show statement_timeout"), ["0"])
        self.assertEqual(PG.superuser_sql(
            "select rolvaliduntil from pg_roles where rolname = 'ent_rep'"), ["infinity"])
        self.assertFalse(self.can("ent_reader", "select * from other.t"))
        self.assertEqual(PG.superuser_sql(
            "select pg_has_role('ent_iam', 'rds_iam', 'MEMBER')"), ["f"])
        self.assertEqual(PG.superuser_sql(
            "select count(*) from pg_extension where extname = 'pgcrypto'", "ent"), ["1"])
        self.assertEqual(PG.superuser_sql(
            "select count(*) from pg_tables where schemaname = 'reporting'", "ent"), ["2"])
        self.assertEqual(PG.admin_memberships(), [])


if __name__ == "__main__":
    unittest.main()
