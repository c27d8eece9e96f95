"""Login failures are classified by SQLSTATE, not by message text.

The server speaks German (lc_messages = de_DE.UTF-8, the locale built with
localedef into the server's own directory): a wrong admin password still
makes the operator read the admin secret again, and a user's password
changed by hand is still found wrong by the login probe and set back.
"""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, Workspace, appdb, secret, docs  # noqa: E402

PG = None


def setUpModule():
    global PG
    PG = PgServer()
    locales = os.path.join(PG.dir, "locales")
    os.makedirs(locales)
    subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8",
                    os.path.join(locales, "de_DE.UTF-8")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.geteuid() == 0:
        shutil.chown(locales, "postgres")
    PG.pause()
    with open(os.path.join(PG.dir, "data", "postgresql.conf"), "a") as f:
        f.write("lc_messages = 'de_DE.UTF-8'\n")
    os.environ["LOCPATH"] = locales  # the restarted server finds the locale there
    try:
        PG.resume()
    finally:
        del os.environ["LOCPATH"]


def tearDownModule():
    PG.stop()


class TestGermanServer(unittest.TestCase):
    def setUp(self):
        # Only Debian's build has translations; the npm builds of the other
        # majors (tests/lib/harness.py, hack/install-postgres.sh) have none.
        if not PG.env.get("PGBINDIR", "/usr/lib/postgresql/").startswith("/usr/lib/postgresql/"):
            self.skipTest("this server build has no translations")
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def test_server_speaks_german(self):
        ok, _, err = PG.user_sql(PG.admin, "wrong", "select 1")
        self.assertFalse(ok)
        self.assertIn("Passwort-Authentifizierung", err)

    def test_wrong_admin_password_rereads_the_secret(self):
        self.ws.write("de.yaml", docs(secret("de-db", {"a": "de-pw"}),
                                      appdb("dea", users=[("dea_app", "readonly", "de-db", "a")])))
        with open(self.ws.admin_pw_file, "w") as f:
            f.write("not-the-password\n")
        from harness import OPERATOR
        r = subprocess.run([OPERATOR, "reconcile", "--log-level", "info", "--config",
                            self.ws.config, "-f", self.ws.manifests],
                           capture_output=True, text=True, timeout=60)
        code, err = r.returncode, r.stderr
        self.assertEqual(code, 1, err)
        self.assertIn("DatabaseUnreachable", err)
        self.assertIn("admin login refused; reading the admin secret again", err)
        self.assertNotIn("not-the-password", err)

    def test_password_changed_by_hand_is_set_back(self):
        path = self.ws.write("dep.yaml", docs(
            secret("dep-db", {"a": "dep-pw-1"}),
            appdb("dep", users=[("dep_app", "readonly", "dep-db", "a")])))
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        PG.superuser_sql("ALTER ROLE dep_app PASSWORD 'changed-by-hand'")
        code, _, err = self.ws.run("reconcile", path)
        self.assertEqual(code, 0, err)
        self.assertIn("set password for dep_app", err)
        self.assertTrue(PG.can_login("dep_app", "dep-pw-1", "dep"))
        # And a right password is recognised as such: nothing to do.
        code, _, err = self.ws.run("reconcile", path)
        self.assertIn("Unchanged", err)


if __name__ == "__main__":
    unittest.main()
