"""The tenant boundary, tried as an attacker from one team would.

A tenant's `owner` user plants functions, operators, views and database
settings in its own database (and, before PostgreSQL 15, in the admin
database's public schema, where every role may create); a superuser-made
event trigger runs a function the tenant owns; the tenant holds a lock on its
own table. Then `plan` and `reconcile` run, and each test checks that the
admin gained and ran nothing of the tenant's, that no other tenant's role was
touched, and that the run converged or failed cleanly.
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import FAILPOINT_OPERATOR, OPERATOR, PgServer, Workspace, appdb, secret, docs  # noqa: E402
from tenant_attack import plant_sql  # noqa: E402

PG = None
VERSION = 0


def setUpModule():
    global PG, VERSION
    PG = PgServer()
    VERSION = int(PG.superuser_sql("show server_version_num")[0])


def tearDownModule():
    PG.stop()


class TenantCase(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def provision(self, name, ns, users, pws, schemas=None):
        path = self.ws.write(name + ".yaml", docs(
            secret(name + "-db", pws, ns=ns),
            appdb(name, ns=ns, users=users, schemas=schemas)))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        return path

    def assertQuietRun(self, path):
        """A reconcile of path that is Unchanged and sends the server no statement."""
        before = len(PG.statements())
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertIn("Unchanged", err)
        self.assertEqual(len(PG.statements()), before)

    def user_sql(self, user, pw, db, *stmts):
        for s in stmts:
            ok, _, e = PG.user_sql(user, pw, s, db)
            self.assertTrue(ok, "%s: %s" % (s, e))

    def assertNothingRan(self, db, attacker, victim, victim_pw, victim_db):
        for d in (db, "postgres"):
            if PG.superuser_sql("select to_regclass('public.pwned') is not null", d) == ["t"]:
                self.assertEqual(PG.superuser_sql("select count(*) from public.pwned", d),
                                 ["0"], PG.superuser_sql("select who, what from public.pwned", d))
        self.assertEqual(PG.superuser_sql(
            "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.roleid "
            "join pg_roles u on u.oid = m.member "
            "where r.rolname = 'pg_execute_server_program' and u.rolname = '%s'" % attacker),
            ["0"])
        self.assertTrue(PG.can_login(victim, victim_pw, victim_db))
        self.assertFalse(PG.can_login(victim, "hijacked", victim_db))
        self.assertEqual(PG.admin_memberships(), [])


class TestHijack(TenantCase):
    def test_planted_objects_never_run_as_the_admin(self):
        vic = self.provision("vic", "team-v", [("vic_app", "readwrite", "vic-db", "a")],
                             {"a": "vic-pw-1"})
        att_users = [("att_dev", "owner", "att-db", "d"), ("att_ro", "readonly", "att-db", "r")]
        att = self.provision("att", "team-x", att_users, {"d": "att-pw-d", "r": "att-pw-r"},
                             schemas=["public", "extra"])
        # A table of the tenant's own, so that grants run over its objects.
        self.user_sql("att_dev", "att-pw-d", "att", "CREATE TABLE extra.t (id int)")
        self.user_sql("att_dev", "att-pw-d", "att",
                      "SET ROLE att_owner; " + "; ".join(plant_sql("att_dev", "vic_app", "att")))
        if VERSION < 150000 and PG.superuser_sql(
                "select has_schema_privilege('att_dev', 'public', 'CREATE')") == ["t"]:
            # Before 15 every role may create in the admin database's public.
            ok, _, e = PG.user_sql("att_dev", "att-pw-d",
                                   "; ".join(q for q in plant_sql("att_dev", "vic_app", "postgres")
                                             if not q.startswith("ALTER DATABASE")),
                                   "postgres")
            self.assertTrue(ok, e)
            self.addCleanup(PG.superuser_sql, "DROP OWNED BY att_dev", "postgres")
        before = len(PG.statements())

        code, _, err = self.ws.run("plan", att)
        self.assertIn(code, (0, 3), err)
        self.assertEqual(len(PG.statements()), before, "plan changed something")
        self.assertNothingRan("att", "att_dev", "vic_app", "vic-pw-1", "vic")

        # A spec change that makes the admin work inside the tenant's database.
        self.ws.write("att.yaml", docs(
            secret("att-db", {"d": "att-pw-d", "r": "att-pw-r", "n": "att-pw-n"}, ns="team-x"),
            appdb("att", ns="team-x", schemas=["public", "extra"],
                  users=att_users + [("att_new", "readwrite", "att-db", "n")])))
        code, _, err = self.ws.run("reconcile", att)
        self.assertEqual(code, 0, err)
        self.assertNothingRan("att", "att_dev", "vic_app", "vic-pw-1", "vic")
        # The grants landed despite the hostile settings, and a second run is quiet.
        # (Checked from outside: the tenant's 1 ms statement_timeout holds for its users.)
        self.assertEqual(PG.superuser_sql(
            "select has_table_privilege('att_new', 'extra.t', 'SELECT')", "att"), ["t"])
        self.assertQuietRun(att)
        code, _, err = self.ws.run("plan", att)
        self.assertEqual(code, 0, err)
        self.assertNothingRan("att", "att_dev", "vic_app", "vic-pw-1", "vic")
        self.assertEqual(self.ws.run("reconcile", vic)[0], 0)

    def test_planted_objects_never_run_when_the_spec_names_an_extension(self):
        """The extension path observes inside the tenant's database and creates the
        extension there: with the tenant's planted objects and hostile database
        settings in place, nothing of theirs runs as the admin."""
        vic = self.provision("vicx", "team-v", [("vicx_app", "readwrite", "vicx-db", "a")],
                             {"a": "vicx-pw-1"})
        users = [("attx_dev", "owner", "attx-db", "d")]
        att = self.provision("attx", "team-x", users, {"d": "attx-pw-d"})
        self.user_sql("attx_dev", "attx-pw-d", "attx",
                      "SET ROLE attx_owner; " + "; ".join(plant_sql("attx_dev", "vicx_app",
                                                                    "attx")))
        doc = json.loads(appdb("attx", ns="team-x", users=users))
        doc["spec"]["database"]["extensions"] = [{"name": "pgcrypto", "schema": "public"}]
        self.ws.write("attx.yaml", docs(secret("attx-db", {"d": "attx-pw-d"}, ns="team-x"),
                                        json.dumps(doc) + "\n"))
        before = len(PG.statements())
        code, _, err = self.ws.run("plan", att)
        self.assertEqual(code, 3, err)
        self.assertIn("pgcrypto", err)
        self.assertEqual(len(PG.statements()), before, "plan changed something")
        self.assertNothingRan("attx", "attx_dev", "vicx_app", "vicx-pw-1", "vicx")
        code, _, err = self.ws.run("reconcile", att)
        self.assertEqual(code, 0, err)
        self.assertEqual(PG.superuser_sql(
            "select count(*) from pg_extension where extname = 'pgcrypto'", "attx"), ["1"])
        self.assertNothingRan("attx", "attx_dev", "vicx_app", "vicx-pw-1", "vicx")
        self.assertQuietRun(att)
        self.assertNothingRan("attx", "attx_dev", "vicx_app", "vicx-pw-1", "vicx")
        self.assertEqual(self.ws.run("reconcile", vic)[0], 0)

    def test_import_reads_a_hand_made_database_with_planted_objects(self):
        # import reads inside the databases it does not manage yet: their
        # owner (a hand-made role) has planted shadows and hostile settings.
        vic = self.provision("vic2", "team-v", [("vic2_app", "readwrite", "vic2-db", "a")],
                             {"a": "vic2-pw-1"})
        PG.superuser_sql("CREATE ROLE hand_owner LOGIN PASSWORD 'hand-pw'")
        PG.superuser_sql("CREATE DATABASE hand OWNER hand_owner")
        self.addCleanup(PG.superuser_sql, "DROP ROLE IF EXISTS hand_owner")
        self.addCleanup(PG.superuser_sql, "DROP DATABASE IF EXISTS hand")
        self.user_sql("hand_owner", "hand-pw", "hand",
                      # its role setting names hand_owner (plant_sql names <db>_owner)
                      "; ".join(q for q in plant_sql("hand_owner", "vic2_app", "hand")
                                if "SET role" not in q)
                      + "; ALTER DATABASE hand SET role = 'hand_owner'")
        before = len(PG.statements())
        r = subprocess.run([OPERATOR, "import", "--config", self.ws.config, "--instance", "local"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('name: "hand"', r.stdout)
        self.assertIn('schemas: ["public"]', r.stdout)
        self.assertEqual(len(PG.statements()), before, "import changed something")
        self.assertNothingRan("hand", "hand_owner", "vic2_app", "vic2-pw-1", "vic2")
        self.assertEqual(self.ws.run("reconcile", vic)[0], 0)

    def test_event_trigger_the_tenant_can_change_stops_ddl_there(self):
        path = self.provision("evt", "team-e", [("evt_dev", "owner", "evt-db", "d")],
                              {"d": "evt-pw-d"})
        self.user_sql("evt_dev", "evt-pw-d", "evt",
                      "CREATE TABLE public.pwned (who text, what text)",
                      "GRANT INSERT ON public.pwned TO PUBLIC",
                      "CREATE FUNCTION public.evt_fn() RETURNS event_trigger LANGUAGE plpgsql "
                      "AS $f$ BEGIN INSERT INTO public.pwned VALUES (current_user, 'evt'); "
                      "END $f$")
        # Only a superuser makes event triggers; the function stays the tenant's.
        PG.superuser_sql("CREATE EVENT TRIGGER evt_trap ON ddl_command_start "
                         "EXECUTE FUNCTION public.evt_fn()", "evt")
        self.ws.write("evt.yaml", docs(
            secret("evt-db", {"d": "evt-pw-d", "r": "evt-pw-r"}, ns="team-e"),
            appdb("evt", ns="team-e", users=[("evt_dev", "owner", "evt-db", "d"),
                                            ("evt_ro", "readonly", "evt-db", "r")])))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 1, err)
        self.assertIn("ProvisioningFailed", err)
        self.assertIn("evt_trap", err)
        self.assertEqual(PG.superuser_sql("select count(*) from public.pwned", "evt"), ["0"])
        self.assertEqual(PG.admin_memberships(), [])
        PG.superuser_sql("DROP EVENT TRIGGER evt_trap", "evt")
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertTrue(PG.can_login("evt_ro", "evt-pw-r", "evt"))


class TestStall(TenantCase):
    def test_held_lock_times_out_and_frees_the_run(self):
        with open(self.ws.config, "a") as f:
            f.write("lockTimeoutSeconds: 2\n")
        path = self.provision("stl", "team-s", [("stl_dev", "owner", "stl-db", "d")],
                              {"d": "stl-pw-d"})
        self.user_sql("stl_dev", "stl-pw-d", "stl", "CREATE TABLE public.t (id int)")
        env = dict(os.environ, PGPASSWORD="stl-pw-d")
        holder = subprocess.Popen(
            ["psql", "-X", "-q", "host=127.0.0.1 port=%d user=stl_dev dbname=stl "
             "sslmode=verify-full sslrootcert=%s" % (PG.port, PG.ca),
             "-c", "BEGIN; ALTER TABLE public.t ADD COLUMN held int; SELECT pg_sleep(60)"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            self.ws.write("stl.yaml", docs(
                secret("stl-db", {"d": "stl-pw-d", "r": "stl-pw-r"}, ns="team-s"),
                appdb("stl", ns="team-s", users=[("stl_dev", "owner", "stl-db", "d"),
                                                ("stl_ro", "readonly", "stl-db", "r")])))
            start = time.monotonic()
            code, out, err = self.ws.run("reconcile", path, timeout=60)
            took = time.monotonic() - start
            self.assertEqual(code, 1, err)
            self.assertLess(took, 30, "the run waited for the tenant's lock")
            self.assertIn("ProvisioningFailed", err)
            self.assertIn("SQLSTATE 55P03", err)  # lock_not_available
            self.assertIn("will retry", err)
            self.assertEqual(PG.admin_memberships(), [])
            # The summary and the audit list what ran, not what was planned.
            rec = [r for r in self.ws.audit_lines() if r["user"] == "stl_ro"][-1]
            self.assertEqual(rec["result"], "Failed")
            self.assertNotIn("grant SELECT on all tables in schema public to stl_ro",
                             rec["actions"])
            self.assertIn("create role stl_ro (login)", rec["actions"])
            self.assertNotIn("did grant SELECT on all tables", err)
        finally:
            holder.kill()
            holder.wait()
            PG.superuser_sql("select pg_terminate_backend(pid) from pg_stat_activity "
                             "where usename = 'stl_dev'")
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        ok, _, e = PG.user_sql("stl_ro", "stl-pw-r", "select count(*) from public.t", "stl")
        self.assertTrue(ok, e)


class TestCrashBoundary(TenantCase):
    def kill_run(self, path, after):
        code, _, err = self.ws.run("reconcile", path, binary=FAILPOINT_OPERATOR,
                                   env={"APPDB_FAILPOINT_KILL_AFTER_STATEMENTS": str(after)})
        self.assertEqual(code, -signal.SIGKILL, err)

    def test_membership_left_by_a_killed_run_is_given_back_without_its_spec(self):
        other = self.provision("gbo", "team-g", [("gbo_app", "readonly", "gbo-db", "a")],
                               {"a": "gbo-pw"})
        users = [("gbk_app", "readwrite", "gbk-db", "a"), ("gbk_mig", "owner", "gbk-db", "b")]
        path = self.ws.write("gbk.yaml", docs(secret("gbk-db", {"a": "p1", "b": "p2"},
                                                     ns="team-g"),
                                              appdb("gbk", ns="team-g", users=users)))
        # 1 owner role, 2-3 users, 4-5 the admin's memberships: killed holding them.
        self.kill_run(path, 5)
        self.assertNotEqual(PG.admin_memberships(), [])
        # The resource is gone from the manifests; another resource's run cleans up.
        os.remove(path)
        code, _, err = self.ws.run("reconcile", other)
        self.assertEqual(code, 0, err)
        self.assertEqual(PG.admin_memberships(), [])

    def test_no_moment_another_role_can_connect_to_a_new_database(self):
        self.provision("nbo", "team-n", [("nbo_app", "readonly", "nbo-db", "a")],
                       {"a": "nbo-pw"})
        path = self.ws.write("nbk.yaml", docs(
            secret("nbk-db", {"a": "nbk-pw"}, ns="team-n"),
            appdb("nbk", ns="team-n", users=[("nbk_app", "readonly", "nbk-db", "a")])))
        # Statements: 1 owner, 2 user, 3 the admin's membership, 4 CREATE DATABASE,
        # 5 its marker, 6 admin CONNECT, 7 REVOKE from PUBLIC, 8 user CONNECT,
        # 9 ALLOW_CONNECTIONS. Killed after each of 4 to 8, nobody else gets in.
        for after in (4, 5, 6, 7, 8):
            with self.subTest(after=after):
                self.kill_run(path, after)
                self.assertTrue(PG.database_exists("nbk"))
                self.assertFalse(PG.can_login("nbo_app", "nbo-pw", "nbk"))
                ok, _, e = PG.user_sql("nbo_app", "nbo-pw", "select 1", "nbk")
                self.assertFalse(ok)
                if after < 9:
                    self.assertEqual(PG.superuser_sql(
                        "select datallowconn from pg_database where datname = 'nbk'"), ["f"])
                code, _, err = self.ws.run("reconcile", path)
                self.assertEqual(code, 0, err)
                self.assertFalse(PG.can_login("nbo_app", "nbo-pw", "nbk"))
                self.assertTrue(PG.can_login("nbk_app", "nbk-pw", "nbk"))
                self.assertEqual(PG.admin_memberships(), [])
                self.assertQuietRun(path)
                # Next round starts from nothing again.
                PG.superuser_sql("DROP DATABASE nbk")
                PG.superuser_sql("DROP ROLE nbk_app")
                PG.superuser_sql("DROP ROLE nbk_owner")


class TestPublicSchema(TenantCase):
    def test_public_cannot_create_in_the_resource_schemas(self):
        path = self.provision("pub", "team-p", [("pub_app", "readwrite", "pub-db", "a")],
                              {"a": "pub-pw"}, schemas=["public", "own"])
        self.provision("pbo", "team-p2", [("pbo_dev", "owner", "pbo-db", "d")], {"d": "pbo-pw"})
        # Another tenant's role given CONNECT by hand still cannot create there.
        PG.superuser_sql("GRANT CONNECT ON DATABASE pub TO pbo_dev")
        for schema in ("own",):
            ok, _, e = PG.user_sql("pbo_dev", "pbo-pw", "create table %s.x (i int)" % schema,
                                   "pub")
            self.assertFalse(ok)
        ok, _, e = PG.user_sql("pbo_dev", "pbo-pw", "create table public.x (i int)", "pub")
        owner = PG.superuser_sql(
            "select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'public'", "pub")
        if VERSION >= 150000 or owner == ["appdb_admin"]:
            self.assertFalse(ok, "PUBLIC could create in public")
        else:
            # A superuser owns public: said in the Ready message and the audit.
            self.assertTrue(ok)
            code, _, err = self.ws.run("reconcile", path)
            self.assertIn("PUBLIC can still create objects in schema public", err)
            self.assertIn("REVOKE CREATE ON SCHEMA public FROM PUBLIC", err)
            self.assertIn("template1", err)
            rec = [r for r in self.ws.audit_lines() if r["resource"] == "team-p/pub"][0]
            self.assertTrue(any("template1" in w for w in rec.get("warnings", [])))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertIn("Unchanged", err)

    def test_rds_shape_admin_owns_public_in_template1(self):
        if VERSION >= 150000:
            self.skipTest("from 15 on public belongs to pg_database_owner")
        PG.superuser_sql("ALTER SCHEMA public OWNER TO appdb_admin", "template1")
        try:
            path = self.provision("rdsx", "team-r", [("rdsx_app", "readwrite", "rdsx-db", "a")],
                                  {"a": "rdsx-pw"})
            self.provision("rdo", "team-r2", [("rdo_dev", "owner", "rdo-db", "d")],
                           {"d": "rdo-pw"})
            PG.superuser_sql("GRANT CONNECT ON DATABASE rdsx TO rdo_dev")
            ok, _, e = PG.user_sql("rdo_dev", "rdo-pw", "create table public.x (i int)", "rdsx")
            self.assertFalse(ok, "PUBLIC could create in public")
            code, _, err = self.ws.run("reconcile", path)
            self.assertEqual(code, 0, err)
            self.assertIn("Unchanged", err)
            self.assertNotIn("warning", err)
        finally:
            PG.superuser_sql("ALTER SCHEMA public OWNER TO postgres", "template1")


class TestApprovalShowsPasswords(TenantCase):
    def test_pending_actions_include_password_resets(self):
        self.ws.write_config("prod")
        env = {"ALLOW_DB_PROVISION": "true"}
        approved = {"db.platform.dev/approved-generation": "1",
                    "db.platform.dev/approved-by": "jane@example.com"}
        path = self.ws.write("apw.yaml", docs(
            secret("apw-db", {"a": "apw-pw-1"}, ns="team-a"),
            appdb("apw", ns="team-a", users=[("apw_app", "readonly", "apw-db", "a")],
                  annotations=approved)))
        code, _, err = self.ws.run("reconcile", path, env=env)
        self.assertEqual(code, 0, err)
        # A new password and a spec change waiting for approval.
        self.ws.write("apw.yaml", docs(
            secret("apw-db", {"a": "apw-pw-2"}, ns="team-a"),
            appdb("apw", ns="team-a", users=[("apw_app", "readonly", "apw-db", "a", 5)],
                  annotations=approved, generation=2)))
        code, out, err = self.ws.run("reconcile", path, env=env)
        self.assertEqual(code, 1, err)
        self.assertIn("AwaitingApproval", err)
        self.assertIn("would set password for apw_app", err)
        self.assertTrue(PG.can_login("apw_app", "apw-pw-1", "apw"))
        self.assertNoSecret(out, err)

    def assertNoSecret(self, *texts):
        for t in texts:
            self.assertNotIn("apw-pw-2", t)


if __name__ == "__main__":
    unittest.main()
