"""The input boundary through the CLI against a real PostgreSQL: what an
AppDatabase author or a Secret writer puts in a manifest is refused with the
field or the source named and nothing executed, or means what kubectl makes
of it; resource text never forges a line on stderr; the instance serves only
the namespaces it allows; the crash failpoint is not in the product binary.
See docs/security.md ("Input boundary").
"""
import json
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import OPERATOR, PgServer, Workspace, appdb, docs, secret  # noqa: E402

PG = None


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


def role_exists(name):
    return PG.superuser_sql("select count(*) from pg_roles where rolname = '%s'" % name) == ["1"]


class InputCase(unittest.TestCase):
    def setUp(self):
        self.ws = Workspace(PG)

    def tearDown(self):
        self.ws.cleanup()

    def assertRefusedBeforeSql(self, reason, *words, command="reconcile", roles=()):
        """Runs command; it exits 1 with reason and words on stderr and runs no statement."""
        before = len(PG.statements())
        code, out, err = self.ws.run(command)
        self.assertEqual(code, 1, err)
        self.assertIn(reason, err)
        for w in words:
            self.assertIn(w, err)
        self.assertEqual(PG.statements()[before:], [], "a statement ran")
        for r in roles:
            self.assertFalse(role_exists(r), "role %s was created" % r)
        return out, err


class TestPasswords(InputCase):
    def test_nul_in_string_data_password_is_refused(self):
        self.ws.write("n.yaml", docs(
            secret("nul-db", {"password": "before\u0000after"}),
            appdb("nulpw", users=[("nulpw_app", "readwrite", "nul-db", "password")])))
        self.assertRefusedBeforeSql("SecretMissing", "kubernetesSecret nul-db key password",
                                    "NUL byte", roles=("nulpw_owner", "nulpw_app"))

    def test_nul_in_data_password_is_refused(self):
        doc = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "nul-data", "namespace": "team-a"},
               "data": {"password": "YmVmb3JlAGFmdGVy"}}  # "before\0after"
        self.ws.write("n.yaml", docs(
            json.dumps(doc) + "\n",
            appdb("nuldata", users=[("nuldata_app", "readonly", "nul-data", "password")])))
        self.assertRefusedBeforeSql("SecretMissing", "NUL byte", roles=("nuldata_app",))

    def test_empty_password_is_refused(self):
        self.ws.write("e.yaml", docs(
            secret("empty-db", {"password": ""}),
            appdb("emptypw", users=[("emptypw_app", "readwrite", "empty-db", "password")])))
        self.assertRefusedBeforeSql("SecretMissing", "kubernetesSecret empty-db key password",
                                    "the password is empty",
                                    roles=("emptypw_owner", "emptypw_app"))

    def test_secret_naming_another_user_is_refused(self):
        self.ws.write("u.yaml", docs(
            secret("named-db", {"username": "named_ro", "password": "named-pw-1"}),
            appdb("named", users=[("named_app", "readwrite", "named-db", "password")])))
        out, err = self.assertRefusedBeforeSql(
            "SecretMissing", 'the secret names user "named_ro", not "named_app"',
            roles=("named_owner", "named_app"))
        self.assertNotIn("named-pw-1", out + err)
        # The Secret that names the user it serves is used.
        self.ws.write("u.yaml", docs(
            secret("named-db", {"username": "named_app", "password": "named-pw-1"}),
            appdb("named", users=[("named_app", "readwrite", "named-db", "password")])))
        code, _, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        self.assertTrue(PG.can_login("named_app", "named-pw-1", "named"))

    def test_admin_secret_naming_another_user_is_refused(self):
        self.ws.write_config("dev")
        with open(self.ws.config) as f:
            text = f.read()
        with open(self.ws.config, "w") as f:
            f.write(text.replace("passwordFrom: {file: %s}" % self.ws.admin_pw_file,
                                 "passwordFrom: {kubernetesSecret: {namespace: team-a, "
                                 "name: admin-db, key: password}}"))
        self.ws.write("a.yaml", docs(
            secret("admin-db", {"username": "someone_else", "password": PG.admin_password}),
            secret("adm-db", {"p": "adm-pw-1"}),
            appdb("admsec", users=[("admsec_app", "readonly", "adm-db", "p")])))
        out, err = self.assertRefusedBeforeSql(
            "SecretMissing", "admin password",
            'the secret names user "someone_else", not "%s"' % PG.admin, roles=("admsec_owner",))
        self.assertNotIn(PG.admin_password, out + err)

    def test_two_secrets_of_one_name_are_refused(self):
        self.ws.write("a.yaml", docs(
            secret("twice-db", {"p": "twice-pw-1"}),
            appdb("twice", users=[("twice_app", "readonly", "twice-db", "p")])))
        self.ws.write("b.yaml", "# the same Secret again\n" + secret("twice-db", {"p": "twice-pw-2"}))
        before = len(PG.statements())
        for command in ("reconcile", "plan", "validate"):
            code, out, err = self.ws.run(command)
            self.assertEqual(code, 1, err)
            self.assertRegex(err, r"Secret team-a/twice-db is defined twice, at \S*a\.yaml:1 "
                                  r"and at \S*b\.yaml:2")
            self.assertNotIn("twice-pw", out + err)
        self.assertEqual(PG.statements()[before:], [])
        self.assertFalse(role_exists("twice_owner"))


class TestSpec(InputCase):
    def test_none_as_user_or_owner_is_refused_before_any_sql(self):
        self.ws.write("n.yaml", docs(secret("none-db", {"p": "none-pw"}),
                                     appdb("nonedb", users=[("none", "readonly", "none-db", "p")])))
        self.assertRefusedBeforeSql("InvalidSpec", 'spec.users[0].name: "none" is reserved',
                                    roles=("nonedb_owner",))
        self.ws.write("n.yaml", appdb("nonedb", owner="none"))
        self.assertRefusedBeforeSql("InvalidSpec", 'spec.database.owner: "none" is reserved')
        self.assertFalse(PG.database_exists("nonedb"))

    def test_nul_in_schema_is_refused(self):
        self.ws.write("s.yaml", appdb("nulschema", schemas=["public\u0000evil"]))
        self.assertRefusedBeforeSql("InvalidSpec", "spec.schemas[0]: must not contain NUL",
                                    roles=("nulschema_owner",))

    def test_explicit_yaml_tags_mean_what_kubectl_reads(self):
        text = ("apiVersion: db.platform.dev/v1alpha1\nkind: AppDatabase\n"
                "metadata: {name: tagged, namespace: team-a}\n"
                "spec:\n  instance: local\n  database: {name: tagged, owner: tagged_owner}\n"
                "  users:\n"
                "  - name: !!str yes\n    access: readonly\n    connectionLimit: !!int \"7\"\n"
                "    passwordFrom: {kubernetesSecret: {name: tagged-db, key: p}}\n")
        self.ws.write("t.yaml", docs(secret("tagged-db", {"p": "tagged-pw-1"}), text))
        code, _, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        self.assertTrue(PG.can_login("yes", "tagged-pw-1", "tagged"))
        self.assertEqual(PG.superuser_sql(
            "select rolconnlimit from pg_roles where rolname = 'yes'"), ["7"])
        # !!str 5 is a string: not a connection limit.
        self.ws.write("t.yaml", docs(secret("tagged-db", {"p": "tagged-pw-1"}),
                                     text.replace('!!int "7"', "!!str 5")))
        self.assertRefusedBeforeSql("InvalidSpec",
                                    "spec.users[0].connectionLimit: must be an integer, not string")
        # A tag kubectl would refuse, or one the operator does not know: file:line:col.
        for tag, words in (("!!int 5.0", '"5.0" is not a valid !!int'),
                           ("!custom 5", "the tag !custom is not supported")):
            self.ws.write("t.yaml", docs(secret("tagged-db", {"p": "tagged-pw-1"}),
                                         text.replace('!!int "7"', tag)))
            before = len(PG.statements())
            code, _, err = self.ws.run("reconcile")
            self.assertEqual(code, 1, err)
            self.assertRegex(err, r"t\.yaml:\d+:\d+: spec\.users\[0\]\.connectionLimit: ")
            self.assertIn(words, err)
            self.assertEqual(PG.statements()[before:], [])


class TestOutput(InputCase):
    FORGED = "team-a/payments: Unchanged (Provisioned)"

    def test_control_characters_never_reach_stderr_raw(self):
        doc = json.loads(appdb("forged"))
        doc["metadata"]["name"] = "forged\n" + self.FORGED + "\x1b[2K\r"
        self.ws.write("f.yaml", json.dumps(doc) + "\n")
        doc2 = json.loads(appdb("forged2"))
        doc2["spec"]["evil\n" + self.FORGED] = 1
        self.ws.write("g.yaml", json.dumps(doc2) + "\n")
        for command in ("reconcile", "plan", "validate"):
            for fmt in ("text", "json"):
                before = len(PG.statements())
                if fmt == "text":
                    code, out, err = self.ws.run(command, timeout=60)
                else:
                    code, out, err = self._run_json(command)
                self.assertEqual(code, 1, err)
                self.assertEqual(PG.statements()[before:], [])
                for line in err.splitlines():
                    self.assertFalse(line.startswith(self.FORGED), "%s forged a line: %r" %
                                     (command, err))
                self.assertNotIn("\x1b", err)
                self.assertNotIn("\r", err)
                self.assertIn("metadata.name", err)
                if fmt == "text":
                    self.assertIn("\\x0a" + self.FORGED, err)

    def _run_json(self, command):
        args = [OPERATOR, command, "--config", self.ws.config, "--log-format", "json",
                "-f", self.ws.manifests]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr


class TestPaths(InputCase):
    def test_missing_path_is_a_usage_error(self):
        for command in ("reconcile", "plan", "validate"):
            code, out, err = self.ws.run(command, "/nonexistent/appdb")
            self.assertEqual(code, 2, err)
            self.assertIn("could not open /nonexistent/appdb", err)

    def test_empty_directory_is_the_same_usage_error_everywhere(self):
        empty = os.path.join(self.ws.dir, "empty")
        os.makedirs(empty)
        only_secret = os.path.join(self.ws.dir, "only-secret")
        os.makedirs(only_secret)
        with open(os.path.join(only_secret, "s.yaml"), "w") as f:
            f.write(secret("lonely-db", {"p": "x"}))
        for path in (empty, only_secret):
            answers = set()
            for command in ("reconcile", "plan", "validate"):
                code, out, err = self.ws.run(command, path)
                self.assertEqual(code, 2, "%s %s: %s" % (command, path, err))
                self.assertIn("no manifests found in %s" % path, err)
                answers.add((code, err.strip()))
            self.assertEqual(len(answers), 1, answers)


class TestInstanceNotAllowed(InputCase):
    def test_other_namespaces_are_refused_without_a_connection(self):
        # A listener that only counts: any connection attempt would show.
        trap = socket.socket()
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        try:
            self.ws.write_config("dev", extra="")
            with open(self.ws.config) as f:
                text = f.read()
            text = text.replace("port: %d" % PG.port, "port: %d\n    allowedNamespaces: "
                                "[team-b, \"team-x*\"]" % trap.getsockname()[1])
            with open(self.ws.config, "w") as f:
                f.write(text)
            self.ws.write("a.yaml", docs(secret("na-db", {"p": "na-pw"}),
                                         appdb("notallowed", users=[("na_app", "readonly",
                                                                     "na-db", "p")])))
            code, out, err = self.ws.run("reconcile")
            self.assertEqual(code, 1, err)
            self.assertIn("InstanceNotAllowed", err)
            self.assertIn("instance local does not serve namespace team-a", err)
            audit = [r for r in self.ws.audit_lines() if r["resource"] == "team-a/notallowed"]
            self.assertTrue(audit and all(r["reason"] == "InstanceNotAllowed" for r in audit))
            with self.assertRaises(BlockingIOError):
                trap.accept()
        finally:
            trap.close()
        # A namespace the glob matches is served.
        self.ws.write_config("dev", extra="")
        with open(self.ws.config) as f:
            text = f.read()
        with open(self.ws.config, "w") as f:
            f.write(text.replace("port: %d" % PG.port, "port: %d\n    allowedNamespaces: "
                                 "[team-b, \"team-x*\"]" % PG.port))
        self.ws.write("a.yaml", docs(secret("xa-db", {"p": "xa-pw"}, ns="team-x1"),
                                     appdb("allowedx", ns="team-x1",
                                           users=[("xa_app", "readonly", "xa-db", "p")])))
        code, out, err = self.ws.run("reconcile")
        self.assertEqual(code, 0, err)
        self.assertTrue(PG.can_login("xa_app", "xa-pw", "allowedx"))


class TestFailpoint(InputCase):
    def test_product_binary_has_no_failpoint(self):
        with open(OPERATOR, "rb") as f:
            self.assertFalse(b"APPDB_FAILPOINT" in f.read(), "%s holds the failpoint" % OPERATOR)
        self.ws.write("k.yaml", docs(secret("fp-db", {"p": "fp-pw"}),
                                     appdb("failpoint", users=[("fp_app", "readonly", "fp-db", "p")])))
        code, _, err = self.ws.run("reconcile", env={"APPDB_FAILPOINT_KILL_AFTER_STATEMENTS": "1"})
        self.assertEqual(code, 0, err)
        self.assertTrue(PG.can_login("fp_app", "fp-pw", "failpoint"))


if __name__ == "__main__":
    unittest.main()
