"""Adoption (spec.adopt, `appdb-operator import`) and pausing, on a real server.

An instance made by hand the way the PRD describes it: roles with passwords
made with psql by the admin (the RDS master user), a database with data, and
grants given by hand. `import` writes the AppDatabases, `reconcile` of its
output adopts everything, keeps the data and the existing passwords working
until a passwordFrom says otherwise, and a second run changes nothing. Then
what adoption refuses: without adopt, a role marked for another resource, a
database owned by another role, a role that reaches another team's database,
and prod without approval. A paused manifest makes no connection at all.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, Workspace, appdb, secret, docs  # noqa: E402

PG = None


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


def admin_sql(sql, db="postgres"):
    """Runs sql as the admin (how roles are made by hand on RDS); fails the test on error."""
    ok, out, err = PG.user_sql(PG.admin, PG.admin_password, sql, db)
    assert ok, "%s: %s" % (sql, err)
    return out


def hand_made(db, owner, users):
    """A database made by hand: roles by the admin, the database, a table with data and
    grants by its owner. users: (name, password, privileges on the table)."""
    stmts = ["create role %s nologin" % owner]
    for name, pw, _ in users:
        stmts.append("create role %s login password '%s'" % (name, pw))
    admin_sql("; ".join(stmts))
    PG.superuser_sql("create database %s owner %s" % (db, owner))
    grants = ["set role %s" % owner,
              "create table public.items (id serial primary key, v text)",
              "insert into public.items (v) values ('kept-1'), ('kept-2')"]
    for name, _, privs in users:
        grants.append("grant %s on public.items to %s" % (privs, name))
        grants.append("grant %s on sequence public.items_id_seq to %s" % (
            "usage, select, update" if "insert" in privs else "select", name))
    PG.superuser_sql("; ".join(grants), db)


def comment_of(role):
    return PG.superuser_sql("select coalesce(shobj_description(oid, 'pg_authid'), '-') "
                            "from pg_roles where rolname = '%s'" % role)[0]


def adopt_manifest(name, db, owner, users, ns="team-a", annotations=None):
    """An AppDatabase with adopt: true. users: (name, access, passwordFrom or None)."""
    doc = json.loads(appdb(name, ns=ns, db=db, owner=owner, annotations=annotations))
    doc["spec"]["adopt"] = True
    for uname, access, pf in users:
        u = {"name": uname, "access": access}
        if pf is not None:
            u["passwordFrom"] = pf
        doc["spec"]["users"].append(u)
    return json.dumps(doc, indent=2) + "\n"


class AdoptCase(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def run_op(self, command, *paths, env=None):
        return self.ws.run(command, *paths, env=env)

    def test_import_then_reconcile_adopts_everything(self):
        hand_made("shop", "shop_owner", [("shop_app", "app-pw-1", "select, insert, update, delete"),
                                         ("shop_ro", "ro-pw-1", "select"),
                                         ("shop_odd", "odd-pw-1", "select, insert")])
        admin_sql("alter role shop_ro connection limit 5")
        code, out, err = self._import()
        self.assertEqual(code, 0, err)
        self.assertIn("adopt: true", out)
        self.assertNotIn("passwordFrom", out)
        self.assertIn('name: "shop"', out)
        docs_ = [d for d in out.split("---\n") if "kind: AppDatabase" in d and '"shop"' in d]
        self.assertEqual(len(docs_), 1, out)
        shop = docs_[0]
        self.assertIn('- name: "shop_app"\n      access: readwrite\n', shop)
        self.assertIn('- name: "shop_ro"\n      access: readonly\n      connectionLimit: 5\n', shop)
        # INSERT without UPDATE/DELETE fits no level: the nearest, and what differs.
        self.assertIn("readwrite is the nearest level; its grants differ: "
                      "UPDATE on 0 of 1 tables; DELETE on 0 of 1 tables", shop)
        self.assertIn('- name: "shop_odd"\n      access: readwrite\n', shop)
        path = self.ws.write("import.yaml", out)
        code, _, err = self.run_op("validate", path)
        self.assertEqual(code, 0, err)

        code, _, err = self.run_op("plan", path)
        self.assertEqual(code, 3, err)
        for a in ("adopt role shop_owner", "adopt role shop_app", "adopt role shop_ro",
                  "adopt database shop"):
            self.assertIn("would " + a + "\n", err)
        self.assertEqual(comment_of("shop_app"), "-")  # plan changed nothing

        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertIn("did adopt role shop_app", err)
        self.assertNotIn("set password", err)
        self.assertEqual(PG.superuser_sql("select v from public.items order by id", "shop"),
                         ["kept-1", "kept-2"])
        # The passwords made by hand still work, and the grants are the levels'.
        ok, _, e = PG.user_sql("shop_app", "app-pw-1",
                               "insert into public.items (v) values ('new')", "shop")
        self.assertTrue(ok, e)
        ok, _, e = PG.user_sql("shop_ro", "ro-pw-1", "select count(*) from public.items", "shop")
        self.assertTrue(ok, e)
        ok, _, _ = PG.user_sql("shop_ro", "ro-pw-1", "delete from public.items", "shop")
        self.assertFalse(ok)
        marker = json.loads(comment_of("shop_app"))
        self.assertEqual(marker["resource"], "default/shop")
        self.assertNotIn("passwordVersion", marker)
        self.assertEqual(PG.admin_memberships(), [])

        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertIn("Unchanged", err)
        self.assertNotIn("did ", err)

        # Importing again lists nothing for shop: it is managed now.
        code, out, err = self._import()
        self.assertEqual(code, 0, err)
        self.assertIn("database shop is managed already", out)

        # A passwordFrom added later takes over.
        doc = [d for d in open(path).read().split("---\n") if '"shop"' in d][0]
        doc = doc.replace('- name: "shop_app"\n      access: readwrite\n',
                          '- name: "shop_app"\n      access: readwrite\n'
                          '      passwordFrom: {kubernetesSecret: {name: shop-db, key: app}}\n')
        path2 = self.ws.write("import.yaml", docs(secret("shop-db", {"app": "app-pw-2"},
                                                         ns="default"), doc))
        code, _, err = self.run_op("reconcile", path2)
        self.assertEqual(code, 0, err)
        self.assertIn("did set password for shop_app", err)
        self.assertFalse(PG.can_login("shop_app", "app-pw-1", "shop"))
        self.assertTrue(PG.can_login("shop_app", "app-pw-2", "shop"))
        self.assertTrue(PG.can_login("shop_ro", "ro-pw-1", "shop"))

    def _import(self):
        import subprocess
        from harness import OPERATOR
        r = subprocess.run([OPERATOR, "import", "--config", self.ws.config, "--instance", "local"],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def test_refusals(self):
        hand_made("legacy", "legacy_owner", [("legacy_app", "legacy-pw", "select")])
        hand_made("billing", "billing_owner", [("billing_app", "billing-pw", "select")])
        ks = {"kubernetesSecret": {"name": "pw", "key": "p"}}
        pw = secret("pw", {"p": "new-pw"})

        # Without adopt: refused as before, and nothing is touched.
        path = self.ws.write("a.yaml", docs(pw, appdb(
            "legacy", db="legacy", owner="legacy_owner", users=[("legacy_app", "readonly",
                                                                  "pw", "p")])))
        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("RoleNotManaged", err)

        # A role marked for another resource is never adopted, adopt or not.
        path = self.ws.write("b.yaml", docs(pw, appdb("alpha", users=[("alpha_app", "readonly",
                                                                        "pw", "p")])))
        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 0, err)
        path = self.ws.write("b.yaml", docs(secret("pw", {"p": "x"}, ns="team-b"), adopt_manifest(
            "grab", "grab", "grab_owner", [("alpha_app", "readonly", ks)], ns="team-b")))
        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("RoleClaimedByOther", err)
        self.assertTrue(PG.can_login("alpha_app", "new-pw", "alpha"))

        # Nor a database marked for another resource, whoever owns it now.
        PG.superuser_sql("comment on role alpha_owner is null")
        path = self.ws.write("b2.yaml", adopt_manifest("grab3", "alpha", "alpha_owner", [],
                                                       ns="team-b"))
        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("database alpha belongs to another AppDatabase", err)
        self.assertEqual(comment_of("alpha_owner"), "-")

        # A database owned by another role: OwnerMismatch, adopt or not.
        path = self.ws.write("c.yaml", adopt_manifest("legacy", "legacy", "other_owner", []))
        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("OwnerMismatch", err)

        # Another team's hand-made roles, named in a tenant's spec: each reaches a
        # database that is not this resource's, so neither is adopted.
        for users, owner, who in (([("billing_app", "readonly", None)], "grab2_owner",
                                   "billing_app"),
                                  ([], "billing_owner", "billing_owner")):
            path = self.ws.write("d.yaml", adopt_manifest("grab2", "grab2", owner, users,
                                                          ns="team-b"))
            code, _, err = self.run_op("reconcile", path)
            self.assertEqual(code, 1, err)
            self.assertIn("RoleNotManaged", err)
            self.assertIn("role %s is not adopted: role %s owns or is granted something in "
                          "database(s) billing" % (who, who), err)
        self.assertEqual(comment_of("billing_app"), "-")
        self.assertFalse(PG.database_exists("grab2"))
        self.assertTrue(PG.can_login("billing_app", "billing-pw", "billing"))

        # A user without passwordFrom needs a role to keep the password of.
        path = self.ws.write("e.yaml", adopt_manifest("fresh", "fresh", "fresh_owner",
                                                      [("fresh_app", "readonly", None)]))
        code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("SecretMissing", err)
        self.assertFalse(PG.database_exists("fresh"))

    def test_prod_without_approval_shows_the_adoption_pending(self):
        hand_made("ledger", "ledger_owner", [("ledger_app", "ledger-pw", "select")])
        self.ws.write_config("prod")
        path = self.ws.write("l.yaml", adopt_manifest("ledger", "ledger", "ledger_owner",
                                                      [("ledger_app", "readonly", None)]))
        code, _, err = self.run_op("reconcile", path, env={"ALLOW_DB_PROVISION": "true"})
        self.assertEqual(code, 1, err)
        self.assertIn("AwaitingApproval", err)
        self.assertIn("would adopt role ledger_app", err)
        self.assertIn("would adopt database ledger", err)
        self.assertEqual(comment_of("ledger_app"), "-")
        self.assertEqual(comment_of("ledger_owner"), "-")
        self.assertEqual(PG.superuser_sql("select coalesce(shobj_description(oid, "
                                          "'pg_database'), '-') from pg_database "
                                          "where datname = 'ledger'"), ["-"])

    def test_role_made_by_a_superuser(self):
        """From 16 the admin needs ADMIN OPTION on a role to alter it: refused with the fix."""
        PG.superuser_sql("create role su_owner nologin; create role su_app login password 'su-pw'")
        path = self.ws.write("s.yaml", adopt_manifest("su", "su", "su_owner",
                                                      [("su_app", "readonly", None)]))
        code, _, err = self.run_op("reconcile", path)
        if PG.major >= 16:
            self.assertEqual(code, 1, err)
            self.assertIn("GRANT su_owner TO %s WITH ADMIN OPTION, INHERIT FALSE, SET FALSE"
                          % PG.admin, err)
            PG.superuser_sql("grant su_owner to %s with admin option, inherit false, set false; "
                             "grant su_app to %s with admin option, inherit false, set false"
                             % (PG.admin, PG.admin))
            code, _, err = self.run_op("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertTrue(PG.can_login("su_app", "su-pw", "su"))
        self.assertEqual(PG.admin_memberships(), [])

    def test_paused_manifest_makes_no_connection(self):
        # The instance's port points nowhere: a run that connected would fail.
        self.ws.pg = PG
        text = open(self.ws.config).read().replace("port: %d" % PG.port, "port: 1")
        with open(self.ws.config, "w") as f:
            f.write(text)
        path = self.ws.write("p.yaml", docs(secret("pw", {"p": "x"}), appdb(
            "paused", users=[("paused_app", "readonly", "pw", "p")],
            annotations={"db.platform.dev/paused": "true"})))
        for command in ("reconcile", "plan"):
            code, out, err = self.run_op(command, path)
            self.assertEqual(code, 0, err)
            self.assertIn("Unchanged (Paused)", err)
            self.assertNotIn("DatabaseUnreachable", err + out)
        self.assertEqual([a for a in self.ws.audit_lines() if a["resource"] == "team-a/paused"],
                         [])


if __name__ == "__main__":
    unittest.main()
