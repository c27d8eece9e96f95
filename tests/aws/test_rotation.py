"""rotation: alternating (DESIGN 11.3) as AWS rotates, through the CLI with
the fake Secrets Manager and a real PostgreSQL. Each rotation is a
PutSecretValue: a new VersionId becomes AWSCURRENT, naming the other of
<user> and <user>_clone, and the version before it becomes AWSPREVIOUS. An
application reads its credentials with GetSecretValue by VersionStage (a
signed request, as the SDK makes it) and logs in over and over with the
previous version's while the operator moves the current one: across two
rotations not one login fails. Both roles carry the same access, and a
secret naming a third role is SecretMissing."""
import datetime
import json
import os
import sys
import threading
import time
import urllib.request

from lib import Fake, assert_no_leak, check, clean_env

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "fakeaws"))
import sigv4  # noqa: E402
from harness import PgServer, Workspace  # noqa: E402

AKID = "AKIDROTATIONTEST01"
SKEY = "rotation-static-secret-key-0123456789"
SID = "rds/rot/app"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.fake = Fake()
    c.pg = PgServer()
    return c


def teardown(c):
    c.fake.stop()
    c.pg.stop()


def get_secret_value(c, stage):
    """GetSecretValue by VersionStage, signed as the SDK signs it."""
    body = json.dumps({"SecretId": SID, "VersionStage": stage}).encode()
    amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = "127.0.0.1:%d" % c.fake.port
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Host", host), ("X-Amz-Date", amz),
               ("X-Amz-Target", "secretsmanager.GetSecretValue")]
    signed = sorted(h.lower() for h, _ in headers)
    creq = sigv4.canonical_request("POST", "/", [], headers, signed, sigv4.sha256_hex(body))
    sig = sigv4.signature(SKEY, amz, "us-east-1", "secretsmanager", creq)
    auth = ("AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/secretsmanager/aws4_request, "
            "SignedHeaders=%s, Signature=%s" % (AKID, amz[:8], ";".join(signed), sig))
    req = urllib.request.Request(c.fake.url + "/", data=body, method="POST",
                                 headers=dict(headers[:1] + headers[2:], Authorization=auth))
    with urllib.request.urlopen(req, timeout=10) as r:
        out = json.loads(r.read())
    return out["VersionId"], out["VersionStages"], json.loads(out["SecretString"])


def manifest(user_spec):
    return json.dumps({
        "apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
        "metadata": {"name": "rot", "namespace": "team-aws"},
        "spec": {"instance": "local", "database": {"name": "rot", "owner": "rot_owner"},
                 "users": [user_spec]}}, indent=2) + "\n"


class LoginLoop(threading.Thread):
    """An application: logs in again and again with the credentials it holds."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg, self.held, self.ok, self.failed, self.stop = pg, None, 0, [], False

    def run(self):
        while not self.stop:
            user, pw = self.held
            if self.pg.can_login(user, pw, "rot"):
                self.ok += 1
            else:
                self.failed.append(user)
            time.sleep(0.02)


def access_of(c, role):
    """What role may do: database, schema and table privileges, default ACLs, memberships."""
    return (c.pg.superuser_sql(
        "select has_database_privilege('%s', 'rot', 'CONNECT'), "
        "has_schema_privilege('%s', 'public', 'USAGE'), "
        "has_table_privilege('%s', 'public.t', 'SELECT,INSERT,UPDATE,DELETE')" % (role, role, role), "rot"),
        c.pg.superuser_sql(
        "select count(*) from pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a "
        "where a.grantee = '%s'::regrole" % role, "rot"),
        c.pg.superuser_sql(
        "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
        "where m.member = '%s'::regrole order by 1" % role))


def test_alternating_rotation_never_fails_a_login(c):
    c.fake.ctl("reset")
    c.fake.ctl("add_key", access_key=AKID, secret_key=SKEY)
    ws = Workspace(c.pg, extra="aws:\n  region: us-east-1\n  endpoint: %s\n  secretCacheSeconds: 0\n"
                   % c.fake.url)
    env = clean_env(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SKEY)
    loop = LoginLoop(c.pg)
    pws = ["rot-pw-1-a8f3", "rot-pw-2-c41d", "rot-pw-3-97be"]
    try:
        c.fake.ctl("put_secret", id=SID, string={"username": "rot_app", "password": pws[0]})
        ws.write("r.yaml", manifest({"name": "rot_app", "access": "readwrite", "rotation": "alternating",
                                     "passwordFrom": {"secretsManager": {"secretId": SID, "key": "password"}}}))
        code, out, err = ws.run("reconcile", env=env)
        check(code == 0, err)
        assert_no_leak([out, err], pws + [SKEY])
        check(c.pg.can_login("rot_app", pws[0], "rot") and c.pg.can_login("rot_app_clone", pws[0], "rot"),
              "both roles start with the current password")
        c.pg.superuser_sql("set role rot_owner; create table public.t (id int)", "rot")
        check(access_of(c, "rot_app") == access_of(c, "rot_app_clone"),
              "identical access: %r / %r" % (access_of(c, "rot_app"), access_of(c, "rot_app_clone")))
        check(access_of(c, "rot_app")[0] == ["t|t|t"], access_of(c, "rot_app"))

        loop.held = ("rot_app", pws[0])
        loop.start()
        for n, (login, pw) in enumerate([("rot_app_clone", pws[1]), ("rot_app", pws[2])], start=1):
            before = get_secret_value(c, "AWSCURRENT")
            c.fake.ctl("put_secret", id=SID, string={"username": login, "password": pw})
            # As AWS labels it: the new version current, the one before previous.
            vid, stages, cur = get_secret_value(c, "AWSCURRENT")
            pvid, pstages, prev = get_secret_value(c, "AWSPREVIOUS")
            check(vid != before[0] and stages == ["AWSCURRENT"] and cur["username"] == login, stages)
            check(pvid == before[0] and pstages == ["AWSPREVIOUS"] and prev == before[2], pstages)
            check(sorted(c.fake.ctl("describe_secret", id=SID)["versions"].values()) ==
                  [["AWSCURRENT"], ["AWSPREVIOUS"]], "two labelled versions")
            loop.held = (prev["username"], prev["password"])  # the application lags one version
            time.sleep(0.3)
            code, out, err = ws.run("reconcile", env=env)
            check(code == 0, err)
            assert_no_leak([out, err], pws + [SKEY])
            check(c.pg.can_login(login, pw, "rot"), "rotation %d: %s has the new password" % (n, login))
            check(c.pg.can_login(prev["username"], prev["password"], "rot"),
                  "rotation %d: the previous credentials still work" % n)
            time.sleep(0.3)
            loop.held = (login, pw)  # the application moves on to the current version
            time.sleep(0.3)
        loop.stop = True
        loop.join(10)
        check(loop.failed == [], "failed logins: %r" % loop.failed)
        check(loop.ok >= 10, "logins made: %d" % loop.ok)
        # The rotation after took the first password away; the second still works.
        check(not c.pg.can_login("rot_app", pws[0], "rot"), "the first password is gone")
        check(c.pg.can_login("rot_app_clone", pws[1], "rot"), "the second password still works")
        code, out, err = ws.run("reconcile", env=env)
        check(code == 0 and "Unchanged" in err, out + err)
        # The clone has its own audit records: its creation, then its password.
        clone = [a for a in ws.audit_lines() if a.get("user") == "rot_app_clone"]
        check(any("create role rot_app_clone (login)" in a["actions"] for a in clone), clone)
        check(any("set password for rot_app_clone" in a["actions"] for a in clone), clone)

        # A version naming neither role is refused and sets nothing.
        c.fake.ctl("put_secret", id=SID, string={"username": "rot_other", "password": "rot-pw-x"})
        code, out, err = ws.run("reconcile", env=env)
        check(code == 1 and "SecretMissing" in err and '"rot_other"' in err and "rot_app_clone" in err, err)
        check(not c.pg.can_login("rot_app", "rot-pw-x", "rot"), "nothing set")
    finally:
        loop.stop = True
        ws.cleanup()
