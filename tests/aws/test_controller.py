"""The controller (`appdb-operator run`) with passwords in the fake Secrets
Manager: kubectl against the API simulator, a real PostgreSQL, one AWS
client shared by the workers. A new secret version reaches the database on
resync, a missing secret stalls with SecretMissing and recovers, IRSA
credentials are refreshed in the background while the controller runs, and
no secret or credential reaches the log, the status or kubectl."""
import json
import os
import shutil
import sys
import tempfile
import time

from lib import Fake, assert_no_leak, check, clean_env

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import PgServer  # noqa: E402
from e2e import CRD, KubeSim, Operator, condition, wait_until  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/appdb-operator"
NS = "team-ctl"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.fake = Fake()
    c.tmp = tempfile.mkdtemp(prefix="appdb-aws-ctl-")
    c.pg = PgServer()
    c.sim = KubeSim()
    c.sim.kubectl("apply", "-f", CRD)
    c.sim.apply(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
    # IRSA credentials valid 15 min + 5 s: the refresh thread renews them
    # about 5 s after the first use, while the controller runs.
    c.fake.ctl("irsa", role_arn=ROLE, token="controller-irsa-token", duration=905)
    tok = os.path.join(c.tmp, "irsa-token")
    with open(tok, "w") as f:
        f.write("controller-irsa-token")
    extra = ("resyncSeconds: 2\naws:\n  region: us-east-1\n  endpoint: %s\n"
             "  secretCacheSeconds: 1\n" % c.fake.url)
    c.op = Operator(c.pg, c.sim, "dev", extra)
    env = clean_env(AWS_ROLE_ARN=ROLE, AWS_WEB_IDENTITY_TOKEN_FILE=tok,
                    AWS_ENDPOINT_URL_STS=c.fake.url + "/")
    env.pop("ALLOW_DB_PROVISION", None)
    c.op.start(env)
    c.passwords = []
    return c


def teardown(c):
    c.op.cleanup()
    c.sim.cleanup()
    c.pg.stop()
    c.fake.stop()
    shutil.rmtree(c.tmp, ignore_errors=True)


def apply(c, name, sid, key=None):
    sm = {"secretId": sid}
    if key:
        sm["key"] = key
    c.sim.apply(json.dumps({
        "apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"instance": "local", "database": {"name": name, "owner": name + "_owner"},
                 "users": [{"name": name + "_app", "access": "readwrite",
                            "passwordFrom": {"secretsManager": sm}}]}}))


def status(c, name):
    obj = c.sim.get("appdb", name, NS) or {}
    return obj, condition(obj, "Ready") or {}


def no_leak(c, *extra):
    texts = [c.op.output(), json.dumps(c.sim.get("appdb", "ctla", NS) or {}),
             c.sim.kubectl("describe", "appdb", "-n", NS).stdout] + list(extra)
    assert_no_leak(texts, c.fake.ctl("credentials")["values"] + c.passwords)


def test_1_provision_and_rotate(c):
    c.passwords += ["ctla-pw-1", "ctla-pw-2"]
    v1 = c.fake.ctl("put_secret", id="ctl/ctla", string=json.dumps({"password": "ctla-pw-1"}))["version"]
    apply(c, "ctla", "ctl/ctla", "password")
    wait_until(lambda: status(c, "ctla")[1].get("status") == "True", 60, what="ctla Ready")
    obj, _ = status(c, "ctla")
    check(obj["status"]["users"][0].get("passwordVersion") == v1, "passwordVersion is the VersionId")
    check(c.pg.can_login("ctla_app", "ctla-pw-1", "ctla"), "logs in")
    # A new version: on the next resync past the cache time the password changes.
    v2 = c.fake.ctl("put_secret", id="ctl/ctla", string=json.dumps({"password": "ctla-pw-2"}))["version"]
    wait_until(lambda: (status(c, "ctla")[0].get("status", {}).get("users") or [{}])[0]
               .get("passwordVersion") == v2, 60, what="new passwordVersion in status")
    check(c.pg.can_login("ctla_app", "ctla-pw-2", "ctla"), "new password logs in")
    check(not c.pg.can_login("ctla_app", "ctla-pw-1", "ctla"), "old password refused")
    no_leak(c)


def test_2_missing_then_created(c):
    c.passwords += ["ctlb-pw-1"]
    apply(c, "ctlb", "ctl/ctlb")
    wait_until(lambda: status(c, "ctlb")[1].get("reason") == "SecretMissing", 60,
               what="ctlb SecretMissing")
    _, ready = status(c, "ctlb")
    check("ResourceNotFoundException" in ready.get("message", ""), ready)
    obj, _ = status(c, "ctlb")
    check(condition(obj, "Stalled").get("status") == "True", "Stalled")
    check(not c.pg.database_exists("ctlb"), "nothing executed")
    c.fake.ctl("put_secret", id="ctl/ctlb", string="ctlb-pw-1")
    wait_until(lambda: status(c, "ctlb")[1].get("status") == "True", 60, what="ctlb Ready")
    check(c.pg.can_login("ctlb_app", "ctlb-pw-1", "ctlb"), "logs in")
    no_leak(c)


def test_3_irsa_refreshed_in_background(c):
    wait_until(lambda: c.fake.counts()["sts_ok"] >= 2, 30, what="a background refresh")
    check("credential refresh failed" not in c.op.output(), "no failed refresh")
    # Still reading secrets with the new credentials.
    c.passwords += ["ctla-pw-3"]
    v3 = c.fake.ctl("put_secret", id="ctl/ctla", string=json.dumps({"password": "ctla-pw-3"}))["version"]
    wait_until(lambda: (status(c, "ctla")[0].get("status", {}).get("users") or [{}])[0]
               .get("passwordVersion") == v3, 60, what="passwordVersion after the refresh")
    check(c.pg.can_login("ctla_app", "ctla-pw-3", "ctla"), "logs in")
    errors = c.fake.ctl("stats")["errors"]
    check(not errors.get("ExpiredTokenException") and not errors.get("InvalidSignatureException"),
          "no refused request: %s" % errors)
    no_leak(c)
