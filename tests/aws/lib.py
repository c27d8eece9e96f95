"""Helpers for the AWS test suite: the fake AWS endpoint, the client driver,
a clean environment, and the check that no secret reaches any output."""
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.environ.get("APPDB_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAKE = os.path.join(ROOT, "tests", "fakeaws", "fakeaws.py")
PROBE = os.environ.get("AWS_PROBE") or os.path.join(ROOT, "build", "aws", "awsprobe")
OPERATOR = os.environ.get("APPDB_OPERATOR") or os.path.join(ROOT, "bin", "appdb-operator")


class Skip(Exception):
    """Raised by a test that cannot run here (the reason says why)."""


class Fake:
    """The fake AWS endpoint as a child process on a loopback port."""

    def __init__(self, tls=None):
        """tls: (certificate file, key file) to serve https instead of http."""
        extra = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
        # The control channel trusts the fake's own certificate, and only it.
        self.ssl_ctx = ssl.create_default_context(cafile=tls[0]) if tls else None
        self.proc = subprocess.Popen([sys.executable, FAKE, "--max-seconds", "900"] + extra,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.stop()
            raise RuntimeError("fake AWS did not start: %r" % line)
        self.port = int(line[1])
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def ctl(self, op, **kw):
        req = urllib.request.Request(self.url + "/_control/" + op, data=json.dumps(kw).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10, context=self.ssl_ctx) as r:
            return json.loads(r.read())

    def counts(self):
        return self.ctl("stats")["counts"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


def clean_env(**extra):
    """The process environment without any AWS_ variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def probe(args, env, timeout=60):
    """Runs awsprobe; returns (exit code, stdout, stderr)."""
    p = subprocess.run([PROBE] + list(args), env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def secret_file(text, d):
    """Writes text to a new file in d readable by the owner only; returns its path."""
    fd, path = tempfile.mkstemp(dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def assert_no_leak(texts, values):
    """Fails when any of values (longer than 3 characters) is in any of texts."""
    blob = "\n".join(texts)
    for v in values:
        if v and len(v) > 3 and v in blob:
            raise AssertionError("a secret value appeared in the output (%d characters long)" % len(v))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
