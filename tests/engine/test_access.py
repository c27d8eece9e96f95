"""Access changes converge; users that leave are disabled, never dropped.

Every change between access levels, with objects owned by each kind of role
(the owner role, an `owner` user, a user that leaves, the changed user
itself), is followed by a run that exits 0 and one that executes nothing;
each user then has exactly its level's rights, checked by logging in.
"""
import itertools
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, Workspace, appdb, secret, docs  # noqa: E402

PG = None
LEVELS = ("readonly", "readwrite", "owner")


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


class AccessCase(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def apply(self, name, users, pws, expect_unchanged_after=True):
        path = self.ws.write(name + ".yaml", docs(
            secret(name + "-db", pws, ns="team-m"),
            appdb(name, ns="team-m", users=users, schemas=["public", "app"])))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        if expect_unchanged_after:
            before = len(PG.statements())
            code, _, err2 = self.ws.run("reconcile", path)
            self.assertEqual(code, 0, err2)
            self.assertIn("Unchanged", err2, err)
            self.assertEqual(len(PG.statements()), before, "the second run changed something")
            code, _, err2 = self.ws.run("plan", path)
            self.assertEqual(code, 0, err2)
        return path, err

    def can(self, user, pw, db, sql):
        ok, _, e = PG.user_sql(user, pw, sql, db)
        return ok

    def assertLevel(self, user, pw, db, level, tables, owner_tables=("t_owner",)):
        """user has exactly level's rights over tables (in schema app).

        An owner user may do all on the owner role's objects (owner_tables)
        and gets readwrite grants on what another owner user made.
        """
        for t in tables:
            full = level == "owner" and t in owner_tables
            with self.subTest(user=user, table=t, level=level):
                self.assertTrue(self.can(user, pw, db, "select count(*) from app.%s" % t))
                write = self.can(user, pw, db, "insert into app.%s values (1)" % t)
                self.assertEqual(write, level in ("readwrite", "owner"))
                self.assertEqual(self.can(user, pw, db, "update app.%s set id = id" % t),
                                 level in ("readwrite", "owner"))
                self.assertEqual(self.can(user, pw, db, "truncate app.%s" % t), full)
                self.assertEqual(
                    self.can(user, pw, db, "alter table app.%s add column if not exists "
                             "z_%s int" % (t, user)), full)
        made = self.can(user, pw, db, "create table app.made_by_%s (id int)" % user)
        self.assertEqual(made, level == "owner")
        if made:
            PG.superuser_sql("drop table app.made_by_%s" % user, db)


class TestAccessChanges(AccessCase):
    def test_every_change_between_levels_converges(self):
        for i, (frm, to) in enumerate(itertools.permutations(LEVELS, 2)):
            with self.subTest(frm=frm, to=to):
                self.one_change("acm%d" % i, frm, to)

    def one_change(self, name, frm, to):
        x, m, left, obs = name + "_x", name + "_m", name + "_l", name + "_o"
        pws = {"x": "px-" + name, "m": "pm-" + name, "l": "pl-" + name, "o": "po-" + name,
               "n": "pn-" + name}
        users = [(x, frm, name + "-db", "x"), (m, "owner", name + "-db", "m"),
                 (left, "owner", name + "-db", "l"), (obs, "readonly", name + "-db", "o")]
        self.apply(name, users, pws)
        # Objects owned by every kind of role of the resource.
        PG.superuser_sql("set role %s_owner; create table app.t_owner (id int); "
                         "create sequence app.s_owner" % name, name)
        self.assertTrue(self.can(m, pws["m"], name, "create table app.t_m (id int)"))
        self.assertTrue(self.can(left, pws["l"], name, "create table app.t_l (id int)"))
        tables = ["t_owner", "t_m", "t_l"]
        if frm == "owner":
            self.assertTrue(self.can(x, pws["x"], name, "create table app.t_x (id int)"))
            tables.append("t_x")
        # The change: x to its new level, the second owner user leaves.
        users2 = [(x, to, name + "-db", "x"), (m, "owner", name + "-db", "m"),
                  (obs, "readonly", name + "-db", "o")]
        self.apply(name, users2, pws)
        self.assertLevel(x, pws["x"], name, to, tables)
        self.assertLevel(obs, pws["o"], name, "readonly", tables)
        self.assertFalse(PG.can_login(left, pws["l"], name), "the user that left can log in")
        self.assertEqual(PG.superuser_sql(
            "select count(*) from pg_tables where schemaname = 'app'", name),
            [str(len(tables))], "an object was dropped")
        # A user added later gets its grants on every object, whoever owns it.
        users3 = users2 + [(name + "_n", "readonly", name + "-db", "n")]
        self.apply(name, users3, pws)
        self.assertLevel(name + "_n", pws["n"], name, "readonly", tables)
        self.assertEqual(PG.admin_memberships(), [])


class TestUsersThatLeave(AccessCase):
    def test_removed_user_is_disabled_then_enabled_again(self):
        pws = {"a": "lv-pw-a", "b": "lv-pw-b"}
        users = [("lv_app", "readwrite", "lv-db", "a"), ("lv_gone", "readwrite", "lv-db", "b")]
        path, _ = self.apply("lv", users, pws)
        PG.superuser_sql("set role lv_owner; create table app.t (id int)", "lv")
        self.assertTrue(self.can("lv_gone", "lv-pw-b", "lv", "insert into app.t values (1)"))
        # Removed from the spec: disabled, marker kept with retiredAt, data kept.
        path, err = self.apply("lv", users[:1], pws)
        self.assertIn("disable role lv_gone (nologin)", err)
        self.assertFalse(PG.can_login("lv_gone", "lv-pw-b", "lv"))
        self.assertEqual(PG.superuser_sql(
            "select rolcanlogin from pg_roles where rolname = 'lv_gone'"), ["f"])
        marker = PG.superuser_sql("select shobj_description(oid, 'pg_authid') from pg_roles "
                                  "where rolname = 'lv_gone'")[0]
        self.assertIn('"retiredAt"', marker)
        self.assertIn('"resource":"team-m/lv"', marker)
        self.assertEqual(PG.superuser_sql(
            "select has_database_privilege('lv_gone', 'lv', 'CONNECT')::text || "
            "has_table_privilege('lv_gone', 'app.t', 'SELECT')::text || "
            "has_schema_privilege('lv_gone', 'app', 'USAGE')::text", "lv"), ["falsefalsefalse"])
        self.assertEqual(PG.superuser_sql("select count(*) from app.t", "lv"), ["1"])
        audit = [r for r in self.ws.audit_lines() if r.get("user") == "lv_gone"]
        self.assertTrue(any("disable role lv_gone (nologin)" in r["actions"] for r in audit))
        # Back in the spec: enabled again, with its grants and its password.
        self.apply("lv", users, pws)
        self.assertTrue(self.can("lv_gone", "lv-pw-b", "lv", "insert into app.t values (2)"))
        marker = PG.superuser_sql("select shobj_description(oid, 'pg_authid') from pg_roles "
                                  "where rolname = 'lv_gone'")[0]
        self.assertNotIn("retiredAt", marker)


if __name__ == "__main__":
    unittest.main()
