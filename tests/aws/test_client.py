"""The AWS client (through awsprobe) against the fake AWS endpoint:
Secrets Manager reads and every error shape, the credential chain (static
keys, IRSA, Pod Identity), refresh and expiry, RDS IAM tokens, and that no
secret or credential reaches any output."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from lib import Fake, assert_no_leak, check, clean_env, probe, secret_file, PROBE

AKID = "AKIDSTATICTEST01"
SKEY = "static-secret-key-value-0123456789"
ROLE = "arn:aws:iam::123456789012:role/appdb-operator"


class Ctx:
    pass


def setup():
    c = Ctx()
    c.fake = Fake()
    c.tmp = tempfile.mkdtemp(prefix="appdb-aws-")
    c.outputs = []
    return c


def teardown(c):
    c.fake.stop()
    shutil.rmtree(c.tmp, ignore_errors=True)


def fresh(c, **env):
    """Resets the fake, registers the static key, and returns an environment using it."""
    c.fake.ctl("reset")
    c.fake.ctl("add_key", access_key=AKID, secret_key=SKEY)
    return clean_env(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SKEY, **env)


def sm(c, env, *args, cache=None, expect=None):
    argv = ["--region", "us-east-1", "--endpoint", c.fake.url]
    if cache is not None:
        argv += ["--cache", str(cache)]
    argv += ["sm"] + list(args)
    if expect is not None:
        argv += ["--expect-file", secret_file(expect, c.tmp)]
    rc, out, err = probe(argv, env)
    leak_values = c.fake.ctl("credentials")["values"] + [SKEY]
    assert_no_leak([out, err], leak_values)
    return rc, out, err


def test_plain_secret_string(c):
    env = fresh(c)
    v = c.fake.ctl("put_secret", id="prod/orders/app", string="pw-plain-1")["version"]
    rc, out, _ = sm(c, env, "prod/orders/app", expect="pw-plain-1")
    check(rc == 0 and out.strip() == "ok version=%s match=yes" % v, out)


def test_rds_managed_shape_with_key(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="rds/orders/provisioner",
               string=json.dumps({"username": "appdb_provisioner", "password": "pw-rds-1"}))
    rc, out, _ = sm(c, env, "rds/orders/provisioner", "--key", "password", expect="pw-rds-1")
    check(rc == 0 and "match=yes" in out, out)


def test_missing_key(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s1", string=json.dumps({"password": "pw-xyz-9"}))
    rc, out, _ = sm(c, env, "s1", "--key", "pasword")
    check(rc == 1 and "code=not found" in out and "pasword" in out and "s1" in out, out)


def test_key_on_non_json(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s1", string="just-a-password")
    rc, out, _ = sm(c, env, "s1", "--key", "password")
    check(rc == 1 and "code=invalid" in out and "not a JSON object" in out, out)


def test_not_found(c):
    env = fresh(c)
    rc, out, _ = sm(c, env, "prod/missing")
    check("code=not found" in out and "ResourceNotFoundException" in out and "prod/missing" in out, out)
    check(c.fake.counts()["sm"] == 1, "not found is not retried")


def test_access_denied(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="prod/denied", string="pw-denied-1")
    c.fake.ctl("secret_error", id="prod/denied", code="AccessDeniedException")
    rc, out, _ = sm(c, env, "prod/denied")
    check("code=forbidden" in out and "AccessDeniedException" in out and
          "secretsmanager:GetSecretValue" in out, out)


def test_decryption_failure(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="prod/kms", string="pw-kms-1")
    c.fake.ctl("secret_error", id="prod/kms", code="DecryptionFailure")
    rc, out, _ = sm(c, env, "prod/kms")
    check("code=forbidden" in out and "DecryptionFailure" in out and "kms:Decrypt" in out, out)


def test_secret_binary_refused(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="prod/bin", binary="pw-binary-1")
    rc, out, _ = sm(c, env, "prod/bin")
    check("code=invalid" in out and "SecretBinary" in out, out)


def test_throttled_then_success(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s", string="pw-throttle-1")
    c.fake.ctl("inject", service="sm", n=2, status=400, code="ThrottlingException")
    rc, out, _ = sm(c, env, "s", expect="pw-throttle-1")
    check(rc == 0 and "match=yes" in out, out)
    check(c.fake.counts()["sm"] == 3, "two throttled calls and one success")


def test_throttled_too_long_is_reported(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s", string="pw-throttle-2")
    c.fake.ctl("inject", service="sm", n=5, status=400, code="ThrottlingException", retry_after=1)
    t0 = time.time()
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "code=throttled" in out and "retry_after=1" in out, out)
    check(c.fake.counts()["sm"] == 3, "bounded retry: 3 attempts, got %d" % c.fake.counts()["sm"])
    check(time.time() - t0 < 10, "bounded time")


def test_server_error_then_success(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s", string="pw-500-1")
    c.fake.ctl("inject", service="sm", n=1, status=500)
    rc, out, _ = sm(c, env, "s", expect="pw-500-1")
    check(rc == 0 and "match=yes" in out, out)
    c.fake.ctl("inject", service="sm", n=3, status=503)
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "code=transient" in out and "InternalServiceError" in out, out)


def test_wrong_secret_key(c):
    env = fresh(c)
    env["AWS_SECRET_ACCESS_KEY"] = "deliberately-wrong-secret-key"
    c.fake.ctl("put_secret", id="s", string="pw-sig-1")
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "code=unauthorized" in out and "InvalidSignatureException" in out, out)
    check("check AWS_SECRET_ACCESS_KEY and the system clock" in out, out)
    check("deliberately-wrong-secret-key" not in out, "key in output")
    check(c.fake.counts()["signature_rejected"] == 1, "the fake recomputed and refused the signature")


def test_broken_clock(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s", string="pw-clock-1")
    c.fake.ctl("skew", seconds=3600)
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "Signature expired" in out and "system clock" in out, out)


def test_unknown_access_key(c):
    env = fresh(c)
    env["AWS_ACCESS_KEY_ID"] = "AKIDNOTKNOWN"
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "UnrecognizedClientException" in out and "not known to AWS" in out, out)


def test_wrong_region_scope(c):
    env = fresh(c)
    c.fake.ctl("put_secret", id="s", string="pw-region-1")
    argv = ["--region", "eu-west-1", "--endpoint", c.fake.url, "sm", "s"]
    rc, out, _ = probe(argv, env)
    check(rc == 1 and "valid region" in out, out)


def watch_two_fetches(c, env, cache, change):
    """Fetches twice, 2 s apart, running change() between; returns both output lines."""
    argv = ["--region", "us-east-1", "--endpoint", c.fake.url, "--cache", str(cache), "sm", "s",
            "--repeat", "2", "--sleep", "2"]
    p = subprocess.Popen([PROBE] + argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    first = p.stdout.readline()
    change()
    second = p.stdout.readline()
    p.communicate(timeout=30)
    return first, second


def test_new_version_seen_without_cache(c):
    env = fresh(c)
    v1 = c.fake.ctl("put_secret", id="s", string="pw-v1")["version"]
    got = {}
    first, second = watch_two_fetches(c, env, -1, lambda: got.update(
        v2=c.fake.ctl("put_secret", id="s", string="pw-v2")["version"]))
    check(("version=%s" % v1) in first and ("version=%s" % got["v2"]) in second, first + second)


def test_cache_serves_repeat_reads(c):
    env = fresh(c)
    v1 = c.fake.ctl("put_secret", id="s", string="pw-c1")["version"]
    first, second = watch_two_fetches(c, env, 60, lambda: c.fake.ctl("put_secret", id="s", string="pw-c2"))
    check(("version=%s" % v1) in first and ("version=%s" % v1) in second, first + second)
    check(c.fake.counts()["sm"] == 1, "one call for two reads within the cache time")


def irsa_env(c, token="eyJhbGciOiJSUzI1NiJ9.irsa-test-token.sig", duration=3600):
    c.fake.ctl("reset")
    c.fake.ctl("irsa", role_arn=ROLE, token=token, duration=duration)
    path = os.path.join(c.tmp, "irsa-token")
    with open(path, "w") as f:
        f.write(token + "\n")
    return clean_env(AWS_ROLE_ARN=ROLE, AWS_WEB_IDENTITY_TOKEN_FILE=path,
                     AWS_ENDPOINT_URL_STS=c.fake.url + "/", AWS_ROLE_SESSION_NAME="appdb-test"), path


def test_irsa(c):
    env, _ = irsa_env(c)
    c.fake.ctl("put_secret", id="s", string="pw-irsa-1")
    rc, out, err = sm(c, env, "s", expect="pw-irsa-1")
    check(rc == 0 and "match=yes" in out, out + err)
    check(c.fake.counts()["sts_ok"] == 1, "one AssumeRoleWithWebIdentity")
    check("credentials from IRSA web identity, valid until" in err, err)


def test_irsa_long_token_no_delay(c):
    # EKS tokens are over 1 KiB: the request must not wait for a 100-continue.
    env, _ = irsa_env(c, token="eyJ" + "a" * 1400 + ".sig")
    c.fake.ctl("put_secret", id="s", string="pw-long-1")
    t0 = time.time()
    rc, out, err = sm(c, env, "s", expect="pw-long-1")
    check(rc == 0 and "match=yes" in out, out + err)
    check(time.time() - t0 < 0.9, "took %.2fs" % (time.time() - t0))
    check(c.fake.counts()["sts_expect"] == 0, "an Expect: 100-continue was sent")


def test_irsa_bad_token(c):
    env, path = irsa_env(c)
    with open(path, "w") as f:
        f.write("some-other-token")
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "InvalidIdentityToken" in out and ROLE in out, out)


def test_irsa_token_file_reread(c):
    env, path = irsa_env(c, duration=300)
    c.fake.ctl("put_secret", id="s", string="pw-reread")

    def rotate():
        c.fake.ctl("irsa", role_arn=ROLE, token="rotated-token-2", duration=300)
        with open(path, "w") as f:
            f.write("rotated-token-2")
    argv = ["--region", "us-east-1", "--endpoint", c.fake.url, "--cache", "-1", "sm", "s",
            "--repeat", "2", "--sleep", "2"]
    p = subprocess.Popen([PROBE] + argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    rotate()
    second = p.stdout.readline()
    p.communicate(timeout=30)
    # Under 10 minutes left: each use refreshes, reading the rotated file.
    check(first.startswith("ok") and second.startswith("ok"), first + second)


def test_irsa_expired_token_refreshed(c):
    env, _ = irsa_env(c)
    c.fake.ctl("expire_after_uses", uses=1)
    c.fake.ctl("put_secret", id="s", string="pw-exp-1")
    rc, out, err = sm(c, env, "s", "--repeat", "3", cache=-1, expect="pw-exp-1")
    check(rc == 0 and out.count("match=yes") == 3, out + err)
    n = c.fake.counts()
    check(n["sts_ok"] == 3, "a refresh after each expiry, got %d" % n["sts_ok"])
    check(c.fake.ctl("stats")["errors"].get("ExpiredTokenException") == 2, "two expiries seen")


def test_irsa_background_refresh(c):
    # Credentials valid 15 min + 4 s: the refresh thread renews them ~4 s later.
    env, _ = irsa_env(c, duration=904)
    c.fake.ctl("put_secret", id="s", string="pw-bg-1")
    rc, out, err = sm(c, env, "s", "--repeat", "2", "--sleep", "7", cache=-1, expect="pw-bg-1")
    check(rc == 0 and out.count("match=yes") == 2, out + err)
    check(c.fake.counts()["sts_ok"] == 2, "refreshed once in the background: %s" % c.fake.counts())
    check(err.count("credentials from IRSA") == 2, err)


def test_irsa_sts_throttled_is_reported(c):
    env, _ = irsa_env(c)
    c.fake.ctl("inject", service="sts", n=5, status=400, code="Throttling")
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "Throttling" in out and "code=throttled" in out, out)


def pod_env(c, token="pod-identity-token-abc123"):
    c.fake.ctl("reset")
    c.fake.ctl("pod", token=token)
    path = os.path.join(c.tmp, "pod-token")
    with open(path, "w") as f:
        f.write(token)
    return clean_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=c.fake.url + "/pod-identity/credentials",
                     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=path), path


def test_pod_identity(c):
    env, _ = pod_env(c)
    c.fake.ctl("put_secret", id="s", string="pw-pod-1")
    rc, out, err = sm(c, env, "s", expect="pw-pod-1")
    check(rc == 0 and "match=yes" in out, out + err)
    check(c.fake.counts()["pod_ok"] == 1, "one Pod Identity call")
    check("EKS Pod Identity" in err, err)


def test_pod_identity_bad_token(c):
    env, path = pod_env(c)
    with open(path, "w") as f:
        f.write("wrong-pod-token")
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "container credentials" in out and "401" in out, out)


def test_pod_identity_host_refused(c):
    env, _ = pod_env(c)
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://192.0.2.10/creds"
    rc, out, _ = sm(c, env, "s")
    check(rc == 1 and "192.0.2.10 is not allowed" in out, out)
    check(c.fake.counts()["pod"] == 0, "nothing sent")


def test_endpoint_http_only_on_loopback(c):
    env = fresh(c)
    rc, out, _ = probe(["--region", "us-east-1", "--endpoint", "http://sm.example.com", "sm", "s"], env)
    check(rc == 2 and "aws.endpoint" in out and "loopback" in out, out)


def test_precedence_env_over_irsa(c):
    env, _ = irsa_env(c)
    c.fake.ctl("add_key", access_key=AKID, secret_key=SKEY)
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SKEY)
    c.fake.ctl("put_secret", id="s", string="pw-prec")
    rc, out, _ = sm(c, env, "s", expect="pw-prec")
    check(rc == 0 and c.fake.counts()["sts"] == 0, "environment keys come first")


def rds_token(c, env, user="appdb_provisioner"):
    path = os.path.join(c.tmp, "rds-token")
    rc, out, err = probe(["--region", "us-east-1", "rds", "orders.abc.us-east-1.rds.amazonaws.com",
                          "5432", user, "--out", path], env)
    check(rc == 0, out + err)
    with open(path) as f:
        tok = f.read()
    os.unlink(path)
    assert_no_leak([out, err], [tok, SKEY])
    return tok


def test_rds_token_static(c):
    env = fresh(c)
    tok = rds_token(c, env)
    check(tok.startswith("orders.abc.us-east-1.rds.amazonaws.com:5432/?Action=connect&DBUser=appdb_provisioner&"), tok[:60])
    r = c.fake.ctl("verify_rds_token", token=tok)
    check(r["ok"], r["reason"])
    bad = tok.replace("DBUser=appdb_provisioner", "DBUser=appdb_provisioneR")
    check(not c.fake.ctl("verify_rds_token", token=bad)["ok"], "a changed token verifies")


def test_rds_token_irsa(c):
    env, _ = irsa_env(c)
    tok = rds_token(c, env)
    check("X-Amz-Security-Token=" in tok, "session token in the token")
    r = c.fake.ctl("verify_rds_token", token=tok)
    check(r["ok"], r["reason"])
    t2 = rds_token(c, env)
    check(c.fake.ctl("verify_rds_token", token=t2)["ok"], "second token")


def test_threads_share_one_client_through_expiries(c):
    # Four threads share one client; credentials expire every 10 uses, so
    # refreshes race with readers. Every read must succeed.
    env, _ = irsa_env(c)
    c.fake.ctl("expire_after_uses", uses=10)
    c.fake.ctl("put_secret", id="s", string="pw-threads")
    rc, out, err = probe(["--region", "us-east-1", "--endpoint", c.fake.url, "--cache", "0",
                          "threads", "4", "s", "--repeat", "15"], env, timeout=120)
    check(rc == 0 and out.strip() == "ok 60/60", out + err[-2000:])
    n = c.fake.counts()
    check(n["sts_ok"] >= 2, "credentials were refreshed: %s" % n)
    assert_no_leak([out, err], c.fake.ctl("credentials")["values"])


def test_tls_always_verified(c):
    # An https endpoint whose certificate no trusted CA signed is refused,
    # with a message that says so; nothing is retried or sent in clear.
    cert, key = os.path.join(c.tmp, "self.crt"), os.path.join(c.tmp, "self.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    tls = Fake(tls=(cert, key))
    try:
        env = fresh(c)
        rc, out, _ = probe(["--region", "us-east-1", "--endpoint", tls.url, "sm", "s"], env)
        check(rc == 1 and "code=unauthorized" in out and "could not verify the TLS certificate" in out, out)
        check(tls.counts()["sm"] == 0, "the request never reached the handler")
    finally:
        tls.stop()
