"""Secrets name their user (DESIGN 11.1), through the CLI with the fake
Secrets Manager and a real PostgreSQL: a SecretString whose "username" is
another role is SecretMissing naming both, for a user and for the admin,
and no password is set; a NUL byte in a SecretString is refused, never cut
short, and not retried as if AWS were down."""
import json
import os
import shutil
import sys
import tempfile

from lib import Fake, assert_no_leak, check, clean_env

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import PgServer, Workspace  # noqa: E402

AKID = "AKIDUSERNAMETEST1"
SKEY = "username-static-secret-key-0123456789"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.fake = Fake()
    c.pg = PgServer()
    c.tmp = tempfile.mkdtemp(prefix="appdb-aws-user-")
    return c


def teardown(c):
    c.fake.stop()
    c.pg.stop()
    shutil.rmtree(c.tmp, ignore_errors=True)


def aws_config(c):
    return "aws:\n  region: us-east-1\n  endpoint: %s\n  secretCacheSeconds: 0\n" % c.fake.url


def workspace(c):
    c.fake.ctl("reset")
    c.fake.ctl("add_key", access_key=AKID, secret_key=SKEY)
    ws = Workspace(c.pg, extra=aws_config(c))
    return ws, clean_env(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SKEY)


def manifest(name, user, sid, key):
    sm = {"secretId": sid}
    if key:
        sm["key"] = key
    doc = {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
           "metadata": {"name": name, "namespace": "team-aws"},
           "spec": {"instance": "local", "database": {"name": name, "owner": name + "_owner"},
                    "users": [{"name": user, "access": "readwrite",
                               "passwordFrom": {"secretsManager": sm}}]}}
    return json.dumps(doc, indent=2) + "\n"


def refused(c, ws, env, words, secrets):
    """Runs reconcile: exit 1, SecretMissing and words on stderr, nothing executed."""
    before = len(c.pg.statements())
    code, out, err = ws.run("reconcile", env=env)
    assert_no_leak([out, err], list(secrets) + [SKEY])
    check(code == 1, "exit 1, got %d: %s" % (code, err))
    check("SecretMissing" in err, err)
    for w in words:
        check(w in err, "%r not in %s" % (w, err))
    check(c.pg.statements()[before:] == [], "a statement ran: %s" % c.pg.statements()[before:])
    return err


def role_exists(c, name):
    return c.pg.superuser_sql("select count(*) from pg_roles where rolname = '%s'" % name) == ["1"]


def test_user_secret_of_another_user_is_refused(c):
    ws, env = workspace(c)
    try:
        c.fake.ctl("put_secret", id="rds/usr/app",
                   string=json.dumps({"username": "usr_ro", "password": "usr-pw-1"}))
        for key in ("password", None):
            ws.write("u.yaml", manifest("usr", "usr_app", "rds/usr/app", key))
            refused(c, ws, env, ['the secret names user "usr_ro", not "usr_app"',
                                 "secretsManager rds/usr/app"], ["usr-pw-1"])
            check(not role_exists(c, "usr_app") and not role_exists(c, "usr_owner"),
                  "no role was created")
        # The secret that names this user is used.
        c.fake.ctl("put_secret", id="rds/usr/app",
                   string=json.dumps({"username": "usr_app", "password": "usr-pw-2"}))
        ws.write("u.yaml", manifest("usr", "usr_app", "rds/usr/app", "password"))
        code, out, err = ws.run("reconcile", env=env)
        check(code == 0, err)
        check(c.pg.can_login("usr_app", "usr-pw-2", "usr"), "logs in with the named secret")
    finally:
        ws.cleanup()


def test_admin_secret_of_another_user_is_refused(c):
    ws, env = workspace(c)
    try:
        c.fake.ctl("put_secret", id="rds/local/master",
                   string=json.dumps({"username": "postgres", "password": c.pg.admin_password}))
        with open(ws.config) as f:
            text = f.read()
        with open(ws.config, "w") as f:
            f.write(text.replace("passwordFrom: {file: %s}" % ws.admin_pw_file,
                                 "passwordFrom: {secretsManager: {secretId: rds/local/master, "
                                 "key: password}}"))
        c.fake.ctl("put_secret", id="u/adm", string="adm-pw-1")
        ws.write("a.yaml", manifest("admu", "admu_app", "u/adm", None))
        refused(c, ws, env, ["admin password",
                             'the secret names user "postgres", not "%s"' % c.pg.admin],
                [c.pg.admin_password, "adm-pw-1"])
    finally:
        ws.cleanup()


def test_nul_in_secret_string_is_refused_not_retried(c):
    ws, env = workspace(c)
    try:
        c.fake.ctl("put_secret", id="n/field", string=json.dumps({"password": "ab\u0000cd"}))
        ws.write("n.yaml", manifest("nulf", "nulf_app", "n/field", "password"))
        refused(c, ws, env, ["key password of the secret holds a NUL byte"], [])
        c.fake.ctl("put_secret", id="n/whole", string="ab\u0000cd")
        ws.write("n.yaml", manifest("nulf", "nulf_app", "n/whole", None))
        before = c.fake.counts()["sm_ok"]
        refused(c, ws, env, ["the SecretString holds a NUL byte"], [])
        check(c.fake.counts()["sm_ok"] - before == 1, "read once, not retried")
        check(not role_exists(c, "nulf_app"), "no role")
    finally:
        ws.cleanup()
