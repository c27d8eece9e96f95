"""The provisioning engine against a real PostgreSQL, through the CLI.

Every test builds its own resource names, so one server serves the module.
"""
import json
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import FAILPOINT_OPERATOR, PgServer, Workspace, appdb, secret, docs  # noqa: E402

PG = None


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


class EngineCase(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def ddl(self):
        return len(PG.statements())

    def assertNoSecret(self, value, *texts):
        for t in texts:
            self.assertNotIn(value, t)


class TestProvision(EngineCase):
    def test_new_resource_all_access_levels(self):
        pw = {"app": "app-pw-Q1w2e3", "ro": "ro-pw-A9s8d7", "mig": "mig-pw-Z5x6c7",
              "other": "other-pw-P0o9"}
        self.ws.write("shop.yaml", docs(
            secret("shop-db", {"app": pw["app"], "ro": pw["ro"], "mig": pw["mig"]}),
            appdb("shop", users=[("shop_app", "readwrite", "shop-db", "app", 20),
                                 ("shop_ro", "readonly", "shop-db", "ro"),
                                 ("shop_mig", "owner", "shop-db", "mig")],
                  schemas=["public", "sales"])))
        self.ws.write("other.yaml", docs(
            secret("other-db", {"p": pw["other"]}, ns="team-b"),
            appdb("other", ns="team-b", users=[("other_app", "readwrite", "other-db", "p")])))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        self.assertIn("team-a/shop: Changed", err)

        for user, key in (("shop_app", "app"), ("shop_ro", "ro"), ("shop_mig", "mig")):
            self.assertTrue(PG.can_login(user, pw[key], "shop"), user)
        # A table created later by the owner-access user: covered by default privileges.
        for schema in ("public", "sales"):
            ok, _, e = PG.user_sql("shop_mig", pw["mig"],
                                   "create table %s.t (id serial primary key, v text)" % schema,
                                   "shop")
            self.assertTrue(ok, e)
            ok, _, e = PG.user_sql("shop_app", pw["app"],
                                   "insert into %s.t (v) values ('x'); update %s.t set v = 'y'; "
                                   "select count(*) from %s.t" % (schema, schema, schema), "shop")
            self.assertTrue(ok, e)
            ok, out_ro, e = PG.user_sql("shop_ro", pw["ro"], "select count(*) from %s.t" % schema,
                                        "shop")
            self.assertTrue(ok, e)
            self.assertEqual(out_ro.strip(), "1")
            ok, _, e = PG.user_sql("shop_ro", pw["ro"],
                                   "insert into %s.t (v) values ('no')" % schema, "shop")
            self.assertFalse(ok)
            self.assertIn("permission denied", e)
        # A table the owner role itself creates later is covered too.
        PG.superuser_sql("set role shop_owner; create table public.owned (id int)", "shop")
        ok, _, e = PG.user_sql("shop_app", pw["app"], "insert into public.owned values (1)", "shop")
        self.assertTrue(ok, e)
        # A role of another resource cannot connect.
        self.assertTrue(PG.can_login("other_app", pw["other"], "other"))
        ok, _, e = PG.user_sql("other_app", pw["other"], "select 1", "shop")
        self.assertFalse(ok)
        self.assertIn("permission denied for database", e)
        # The admin holds no membership in any application role afterwards.
        self.assertEqual(PG.admin_memberships(), [])
        # Connection limit, marker, application_name.
        self.assertEqual(PG.superuser_sql(
            "select rolconnlimit from pg_roles where rolname = 'shop_app'"), ["20"])
        marker = json.loads(PG.superuser_sql(
            "select shobj_description(oid, 'pg_authid') from pg_roles where rolname = 'shop_owner'")[0])
        self.assertEqual(marker, {"managedBy": "appdb-operator", "resource": "team-a/shop",
                                  "uid": ""})
        run_ids = {r["runId"] for r in self.ws.audit_lines()}
        self.assertTrue(any("app=appdb-operator/%s" % rid in PG.log_text() for rid in run_ids))
        # Audit: one record for the database and one per user, per resource.
        shop = [r for r in self.ws.audit_lines() if r["resource"] == "team-a/shop"]
        self.assertEqual(sorted((r["user"] or "") for r in shop),
                         ["", "shop_app", "shop_mig", "shop_ro"])
        for r in shop:
            for key in ("ts", "runId", "buildId", "environment", "instance", "resource", "uid",
                        "generation", "database", "user", "actions", "result", "reason",
                        "approvedBy"):
                self.assertIn(key, r)
            self.assertEqual(r["result"], "Changed")
        # No password anywhere.
        for p in pw.values():
            self.assertNoSecret(p, out, err, PG.log_text(),
                                open(os.path.join(self.ws.cache, "audit.jsonl")).read())

    def test_second_run_changes_nothing(self):
        self.ws.write("idem.yaml", docs(
            secret("idem-db", {"a": "idem-pw-1", "b": "idem-pw-2"}),
            appdb("idem", users=[("idem_app", "readwrite", "idem-db", "a"),
                                 ("idem_mig", "owner", "idem-db", "b")],
                  schemas=["public", "extra"])))
        code, _, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        PG.user_sql("idem_mig", "idem-pw-2", "create table extra.t (id serial)", "idem")
        before = self.ddl()
        audit_before = len(self.ws.audit_lines())
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        self.assertIn("team-a/idem: Unchanged", err)
        self.assertEqual(self.ddl(), before, "a second run executed DDL")
        self.assertEqual(out, "", "an unchanged run writes no audit record")
        self.assertEqual(len(self.ws.audit_lines()), audit_before)
        code, out, err = self.ws.run("plan")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["actions"], [])

    def test_plan_changes_nothing_and_exits_3(self):
        self.ws.write("pl.yaml", docs(secret("pl-db", {"a": "pl-pw-1"}),
                                      appdb("pl", users=[("pl_app", "readonly", "pl-db", "a")])))
        before = self.ddl()
        code, out, err = self.ws.run("plan")
        self.assertEqual(code, 3, err)
        rec = json.loads(out)
        self.assertEqual(rec["event"], "plan")
        self.assertIn("create database pl owner pl_owner", rec["actions"])
        self.assertEqual(self.ddl(), before)
        self.assertEqual(PG.superuser_sql("select count(*) from pg_database where datname = 'pl'"),
                         ["0"])
        self.assertNotIn("pl-pw-1", out + err)

    def test_changed_password_changes_only_that_role(self):
        self.ws.write("pw.yaml", docs(secret("pw-db", {"a": "first-A-111", "b": "first-B-222"}),
                                      appdb("pwch", users=[("pw_a", "readwrite", "pw-db", "a"),
                                                           ("pw_b", "readonly", "pw-db", "b")])))
        self.assertEqual(self.ws.run("reconcile")[0], 0)
        n = len(PG.statements())
        self.ws.write("pw.yaml", docs(secret("pw-db", {"a": "second-A-333", "b": "first-B-222"}),
                                      appdb("pwch", users=[("pw_a", "readwrite", "pw-db", "a"),
                                                           ("pw_b", "readonly", "pw-db", "b")])))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        new = PG.statements()[n:]
        self.assertEqual(len(new), 1, new)
        self.assertIn('ALTER ROLE "pw_a" PASSWORD', new[0])
        self.assertTrue(PG.can_login("pw_a", "second-A-333"))
        self.assertFalse(PG.can_login("pw_a", "first-A-111"))
        self.assertTrue(PG.can_login("pw_b", "first-B-222"))
        self.assertNoSecret("second-A-333", out, err, PG.log_text())
        self.assertNoSecret("first-A-111", out, err, PG.log_text())
        recs = [r for r in self.ws.audit_lines() if r["resource"] == "team-a/pwch"][-3:]
        self.assertEqual([r["actions"] for r in recs if r["user"] == "pw_a"],
                         [["set password for pw_a"]])

    def test_access_downgrade_revokes_write(self):
        self.ws.write("dg.yaml", docs(secret("dg-db", {"a": "dg-pw-1", "m": "dg-pw-2"}),
                                      appdb("dg", users=[("dg_app", "readwrite", "dg-db", "a"),
                                                         ("dg_mig", "owner", "dg-db", "m")])))
        self.assertEqual(self.ws.run("reconcile")[0], 0)
        ok, _, e = PG.user_sql("dg_mig", "dg-pw-2", "create table t (id int)", "dg")
        self.assertTrue(ok, e)
        self.ws.write("dg.yaml", docs(secret("dg-db", {"a": "dg-pw-1", "m": "dg-pw-2"}),
                                      appdb("dg", users=[("dg_app", "readonly", "dg-db", "a"),
                                                         ("dg_mig", "owner", "dg-db", "m")])))
        code, _, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        ok, _, e = PG.user_sql("dg_app", "dg-pw-1", "insert into t values (1)", "dg")
        self.assertFalse(ok)
        ok, _, e = PG.user_sql("dg_app", "dg-pw-1", "select * from t", "dg")
        self.assertTrue(ok, e)
        ok, _, e = PG.user_sql("dg_mig", "dg-pw-2", "create table t2 (id int)", "dg")
        self.assertTrue(ok, e)
        ok, _, e = PG.user_sql("dg_app", "dg-pw-1", "insert into t2 values (1)", "dg")
        self.assertFalse(ok, "default privileges still grant INSERT after the downgrade")
        before = self.ddl()
        self.assertEqual(self.ws.run("reconcile")[0], 0)
        self.assertEqual(self.ddl(), before)


class TestGuardrails(EngineCase):
    def statements_of_run(self, out):
        ids = {json.loads(l)["runId"] for l in out.splitlines() if l.strip()}
        return [l for l in PG.statements() if any(i in l for i in ids)]

    def test_owner_mismatch(self):
        PG.superuser_sql("create role someone_else nologin")
        PG.superuser_sql("create database handmade owner someone_else")
        self.ws.write("om.yaml", docs(secret("om-db", {"a": "om-pw"}),
                                      appdb("om", db="handmade",
                                            users=[("om_app", "readonly", "om-db", "a")])))
        before = self.ddl()
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("OwnerMismatch", err)
        self.assertEqual(self.ddl(), before)
        self.assertEqual(json.loads(out.splitlines()[0])["reason"], "OwnerMismatch")

    def test_role_not_managed(self):
        PG.superuser_sql("create role handmade_user login")
        self.ws.write("rnm.yaml", docs(secret("rnm-db", {"a": "rnm-pw"}),
                                       appdb("rnm", users=[("handmade_user", "readonly", "rnm-db", "a")])))
        before = self.ddl()
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("RoleNotManaged", err)
        self.assertEqual(self.ddl(), before)
        self.assertEqual(PG.superuser_sql("select count(*) from pg_database where datname = 'rnm'"),
                         ["0"])

    def test_role_claimed_by_other(self):
        self.ws.write("c1.yaml", docs(secret("c1-db", {"a": "c1-pw"}),
                                      appdb("claim1", users=[("claimed_app", "readonly", "c1-db", "a")])))
        self.assertEqual(self.ws.run("reconcile")[0], 0)
        os.remove(os.path.join(self.ws.manifests, "c1.yaml"))
        self.ws.write("c2.yaml", docs(secret("c2-db", {"a": "c2-pw"}),
                                      appdb("claim2", users=[("claimed_app", "readonly", "c2-db", "a")])))
        before = self.ddl()
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("RoleClaimedByOther", err)
        self.assertEqual(self.ddl(), before)


class TestGates(EngineCase):
    def test_provisioning_disabled_outside_dev(self):
        self.ws.write_config("staging")
        self.ws.write("pd.yaml", docs(secret("pd-db", {"a": "pd-pw"}),
                                      appdb("pd", users=[("pd_app", "readonly", "pd-db", "a")])))
        before = self.ddl()
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("ProvisioningDisabled", err)
        self.assertEqual(self.ddl(), before)
        code, out, err = self.ws.run("reconcile", env={"ALLOW_DB_PROVISION": "true"})
        self.assertEqual(code, 0, err)
        # APPDB_ENVIRONMENT overrides the file.
        self.ws.write_config("dev")
        code, out, err = self.ws.run("plan", env={"APPDB_ENVIRONMENT": "prod"})
        self.assertEqual(code, 1, err)
        self.assertIn("ProvisioningDisabled", err)

    def test_awaiting_approval_in_prod(self):
        self.ws.write_config("prod")
        env = {"ALLOW_DB_PROVISION": "true"}
        text = appdb("ap", users=[("ap_app", "readonly", "ap-db", "a")])
        self.ws.write("ap.yaml", docs(secret("ap-db", {"a": "ap-pw"}), text))
        before = self.ddl()
        code, out, err = self.ws.run("reconcile", env=env)
        self.assertEqual(code, 1)
        self.assertIn("AwaitingApproval", err)
        self.assertIn("would create database ap owner ap_owner", err)
        rec = json.loads(out.splitlines()[0])
        self.assertEqual(rec["reason"], "AwaitingApproval")
        self.assertIn("create database ap owner ap_owner", rec["actions"])
        self.assertEqual(self.ddl(), before)
        # Approval for another generation does not count.
        self.ws.write("ap.yaml", docs(secret("ap-db", {"a": "ap-pw"}), appdb(
            "ap", users=[("ap_app", "readonly", "ap-db", "a")], generation=2,
            annotations={"db.platform.dev/approved-generation": "1",
                         "db.platform.dev/approved-by": "jane@example.com"})))
        code, out, err = self.ws.run("reconcile", env=env)
        self.assertEqual(code, 1)
        self.assertIn("AwaitingApproval", err)
        # A manifest without generation counts as 1.
        self.ws.write("ap.yaml", docs(secret("ap-db", {"a": "ap-pw"}), appdb(
            "ap", users=[("ap_app", "readonly", "ap-db", "a")],
            annotations={"db.platform.dev/approved-generation": "1",
                         "db.platform.dev/approved-by": "jane@example.com"})))
        code, out, err = self.ws.run("reconcile", env=env)
        self.assertEqual(code, 0, err)
        self.assertTrue(all(json.loads(l)["approvedBy"] == "jane@example.com"
                            for l in out.splitlines()))


class TestSecrets(EngineCase):
    def test_missing_secret_and_key(self):
        cases = [
            ("ms1", docs(appdb("ms1", users=[("ms1_app", "readonly", "nope", "a")]))),
            ("ms2", docs(secret("ms2-db", {"other": "x"}),
                         appdb("ms2", users=[("ms2_app", "readonly", "ms2-db", "a")]))),
            ("ms3", docs(secret("ms3-db", {"a": "x"}, ns="elsewhere"),
                         appdb("ms3", users=[("ms3_app", "readonly", "ms3-db", "a")]))),
        ]
        for name, text in cases:
            with self.subTest(name=name):
                path = self.ws.write(name + ".yaml", text)
                before = self.ddl()
                code, out, err = self.ws.run("reconcile", path)
                self.assertEqual(code, 1, err)
                self.assertIn("SecretMissing", err)
                self.assertEqual(self.ddl(), before)
                self.assertEqual(PG.superuser_sql(
                    "select count(*) from pg_roles where rolname like '%s%%'" % name), ["0"])

    def test_wrong_admin_password_is_unreachable(self):
        with open(self.ws.admin_pw_file, "w") as f:
            f.write("not-the-password")
        self.ws.write("wa.yaml", docs(secret("wa-db", {"a": "wa-pw"}),
                                      appdb("wa", users=[("wa_app", "readonly", "wa-db", "a")])))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("DatabaseUnreachable", err)
        self.assertIn("password authentication failed", err)
        self.assertNotIn("not-the-password", out + err)


class TestTls(EngineCase):
    def test_untrusted_server_certificate_is_refused(self):
        other_ca = os.path.join(self.ws.dir, "other-ca.pem")
        os.system("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=x -keyout /dev/null "
                  "-out %s -days 1 >/dev/null 2>&1" % other_ca)
        self.ws.write_config("dev", ca=other_ca)
        self.ws.write("tls.yaml", docs(secret("tls-db", {"a": "tls-pw"}),
                                       appdb("tls", users=[("tls_app", "readonly", "tls-db", "a")])))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("DatabaseUnreachable", err)
        self.assertIn("certificate verify failed", err)


class TestCrash(EngineCase):
    def test_sigkill_during_first_run_converges(self):
        users = [("ck_app", "readwrite", "ck-db", "a"), ("ck_ro", "readonly", "ck-db", "b"),
                 ("ck_mig", "owner", "ck-db", "c")]
        # Statement counts: 1 = after the owner role, 5 = after the roles and the
        # admin's membership, 7 = after CREATE DATABASE, 12 and 20 = during grants.
        for i, kill_after in enumerate((1, 5, 7, 12, 20)):
            with self.subTest(kill_after=kill_after):
                name = "crash%d" % i
                us = [(u.replace("ck", name), a, s.replace("ck", name), k) for u, a, s, k in users]
                path = self.ws.write(name + ".yaml", docs(
                    secret(name + "-db", {"a": "c-pw-a", "b": "c-pw-b", "c": "c-pw-c"}),
                    appdb(name, users=us, schemas=["public", "s2"])))
                audit_before = len(self.ws.audit_lines())
                code, _, err = self.ws.run("reconcile", path, binary=FAILPOINT_OPERATOR,
                                           env={"APPDB_FAILPOINT_KILL_AFTER_STATEMENTS": str(kill_after)})
                self.assertEqual(code, -signal.SIGKILL, err)
                code, _, err = self.ws.run("reconcile", path)
                self.assertEqual(code, 0, err)
                self.assertEqual(PG.admin_memberships(), [])
                # The cut run left its intent; the next run wrote it as the cut run's
                # records (Failed, every action it was about to run), once.
                cut = [a for a in self.ws.audit_lines()[audit_before:]
                       if a["resource"] == "team-a/" + name and a["result"] == "Failed"]
                self.assertEqual(sorted(a["user"] or "" for a in cut),
                                 sorted([""] + [u for u, _, _, _ in us]), cut)
                self.assertEqual(len({a["runId"] for a in cut}), 1)
                self.assertIn("cut before it finished", cut[0]["message"])
                db_actions = [x for a in cut if a["user"] is None for x in a["actions"]]
                self.assertTrue(any(x.startswith("create role %s_owner" % name) for x in db_actions),
                                db_actions)
                self.assertTrue(any(x.startswith("create database %s" % name) for x in db_actions),
                                db_actions)
                self.assertEqual(os.listdir(os.path.join(self.ws.cache, "audit-intent")), [])
                before = self.ddl()
                code, _, err = self.ws.run("reconcile", path)
                self.assertEqual(code, 0, err)
                self.assertIn("Unchanged", err)
                self.assertEqual(self.ddl(), before)
                self.assertTrue(PG.can_login(name + "_app", "c-pw-a", name))


    def test_membership_left_by_another_run_is_recorded(self):
        """A run that gives back a membership another resource's cut run left
        changed the catalog: Changed, and its audit record names the give-back."""
        for n in ("lefta", "leftb"):
            self.ws.write(n + ".yaml", docs(secret(n + "-db", {"a": n + "-pw"}),
                                            appdb(n, users=[(n + "_app", "readwrite", n + "-db", "a")])))
        code, _, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        # leftb's run was cut holding its owner role, as the admin takes it.
        ok, _, e = PG.user_sql(PG.admin, PG.admin_password,
                               'grant "leftb_owner" to "%s"' % PG.admin, "postgres")
        self.assertTrue(ok, e)
        self.assertNotEqual(PG.admin_memberships(), [])
        audit_before = len(self.ws.audit_lines())
        code, _, err = self.ws.run("reconcile", os.path.join(self.ws.manifests, "lefta.yaml"))
        self.assertEqual(code, 0, err)
        self.assertEqual(PG.admin_memberships(), [])
        self.assertIn("team-a/lefta: Changed", err)
        recs = [a for a in self.ws.audit_lines()[audit_before:] if a["user"] is None]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(recs[0]["resource"], "team-a/lefta")
        self.assertEqual(recs[0]["result"], "Changed")
        self.assertEqual(recs[0]["actions"],
                         ["revoke leftb_owner from %s (left by an interrupted run)" % PG.admin])


class TestCli(EngineCase):
    def test_config_error_names_line_and_column(self):
        with open(self.ws.config, "a") as f:
            f.write("workers: many\n")
        self.ws.write("x.yaml", appdb("cfgx"))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 2)
        self.assertRegex(err, r"config\.yaml:\d+:\d+: workers: must be an integer")

    def test_unknown_instance(self):
        self.ws.write("ui.yaml", appdb("ui", instance="nowhere"))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 1)
        self.assertIn("InstanceUnknown", err)

    def test_version(self):
        import subprocess
        from harness import OPERATOR
        r = subprocess.run([OPERATOR, "version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^appdb-operator \d+\.\d+\.\d+")
        r = subprocess.run([OPERATOR, "bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
