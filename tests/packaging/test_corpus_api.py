"""The CRD on the API simulator agrees with the C validation.

Every corpus file not marked `api: skip` is sent with
`kubectl apply --dry-run=server` to tests/kubesim after crds/appdatabase.yaml
is applied; every corpus file is checked with
`appdb-operator validate --config tests/corpus/config.yaml -f FILE`.
The API must accept exactly the files the C validation accepts, except the
`api: c-only` ones, which the API accepts and the C side refuses; and both
must match the file's header. Without the simulator the whole file is
skipped; without the operator binary only the API side runs.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import lib  # noqa: E402

CONFIG = os.path.join(lib.CORPUS, "config.yaml")


class State:
    sim = None
    binary = None
    setup_error = None


def setup():
    State.binary = lib.operator_binary()
    try:
        State.sim = lib.Kubesim()
    except lib.Skip as e:
        State.setup_error = e
        return
    sim = State.sim
    sim.kubectl("apply", "-f", lib.CRD)
    sim.kubectl("wait", "--for=condition=Established", "--timeout=30s",
                "crd/appdatabases.db.platform.dev", check=False)
    sim.kubectl("create", "namespace", "team-a")


def teardown():
    if State.sim is not None:
        State.sim.close()
        State.sim = None


def need_sim():
    if State.setup_error is not None:
        raise State.setup_error
    assert State.sim is not None, "the simulator did not start"
    return State.sim


def c_validate(path):
    """(accepted, stderr) from the C validation, or None without the binary."""
    if State.binary is None:
        return None
    p = lib.run([State.binary, "validate", "--config", CONFIG, "-f", path], check=False, timeout=60)
    assert p.returncode in (0, 1), "validate exited %d on %s: %s" % (
        p.returncode, os.path.basename(path), p.stderr.strip()[-500:])
    return p.returncode == 0, p.stderr


def check_file(path, h):
    api = h.get("api", "").split(" ", 1)[0]
    expect_valid = h.get("expect") == "valid"
    field = h.get("expect-field")
    c = c_validate(path)
    if c is not None:
        c_ok, c_err = c
        if expect_valid:
            assert c_ok, "C validation refuses a valid file: %s" % c_err.strip()[-500:]
        else:
            assert not c_ok, "C validation accepts an invalid file"
            if field:
                assert field in c_err, "C error does not name %s: %s" % (field, c_err.strip()[-500:])
    if api == "skip":
        if c is None:
            raise lib.Skip("api: skip, and no operator binary")
        return
    sim = need_sim()
    p = sim.kubectl("apply", "--dry-run=server", "-f", path, check=False)
    api_ok = p.returncode == 0
    if expect_valid or api == "c-only":
        assert api_ok, "the API refuses it: %s" % p.stderr.strip()[-800:]
    else:
        assert not api_ok, "the API accepts it (expected an error at %s)" % (field or "the document")
        if field and "is invalid" in p.stderr:
            assert lib.field_named(p.stderr, field), "API error does not name %s: %s" % (field, p.stderr.strip()[-800:])
    if c is not None:
        want = api_ok if api != "c-only" else False
        assert c[0] == want, "API %s, C %s" % ("accepts" if api_ok else "refuses", "accepts" if c[0] else "refuses")


def test_printer_columns_and_names():
    sim = need_sim()
    sim.kubectl("apply", "-f", os.path.join(lib.CORPUS, "valid", "02-design-example.yaml"))
    out = sim.kubectl("get", "appdb", "-n", "team-a").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "INSTANCE", "DATABASE", "READY", "REASON", "AGE"], header
    assert out.splitlines()[1].split()[:3] == ["orders", "local", "orders"], out
    out = sim.kubectl("get", "platform", "-A").stdout
    assert "orders" in out, "category platform: %s" % out
    out = sim.kubectl("get", "appdatabases.db.platform.dev", "-n", "team-a", "-o",
                      "jsonpath={.items[0].spec.schemas}").stdout
    assert out == '["public"]', out


def test_status_subresource_schema():
    sim = need_sim()
    sim.kubectl("apply", "-f", os.path.join(lib.CORPUS, "valid", "01-minimal.yaml"))
    status = ('{"status": {"observedGeneration": 1, "database": "orders", '
              '"conditions": [{"type": "Ready", "status": "True", "reason": "Provisioned", "message": "ok", '
              '"observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}], '
              '"users": [{"name": "orders_app", "access": "readwrite", "passwordVersion": "v1"}], '
              '"lastRun": {"runId": "r1", "buildId": "ci-1", "startedAt": "2026-01-01T00:00:00Z", '
              '"finishedAt": "2026-01-01T00:00:01Z", "result": "Changed", "actions": ["create role x"]}, '
              '"pendingActions": []}}')
    sim.kubectl("patch", "appdb", "orders", "-n", "team-a", "--subresource=status", "--type=merge", "-p", status)
    out = sim.kubectl("get", "appdb", "orders", "-n", "team-a").stdout
    assert out.splitlines()[1].split()[3:5] == ["True", "Provisioned"], out
    bad = '{"status": {"lastRun": {"result": "Exploded"}}}'
    p = sim.kubectl("patch", "appdb", "orders", "-n", "team-a", "--subresource=status", "--type=merge",
                    "-p", bad, check=False)
    assert p.returncode != 0 and "status.lastRun.result" in p.stderr, p.stderr


def tests():
    out = [("corpus-api " + os.path.relpath(p, lib.CORPUS), (lambda p=p, h=h: check_file(p, h)))
           for p, h in lib.corpus_files()]
    return out + [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]


if __name__ == "__main__":
    setup()
    try:
        lib.main_for("corpus_api", tests())
    finally:
        teardown()
