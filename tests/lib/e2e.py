"""End-to-end harness: the Kubernetes API simulator, the real kubectl and the
operator binary (`appdb-operator run`), over a real PostgreSQL."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

from harness import OPERATOR, ROOT

KUBESIM = os.path.join(ROOT, "tests", "kubesim", "kubesim")
KUBESIMCTL = os.path.join(ROOT, "tests", "kubesim", "kubesimctl")
CRD = os.path.join(ROOT, "crds", "appdatabase.yaml")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout=30, interval=0.2, what="condition"):
    # APPDB_E2E_SLOW stretches every wait (the operator under valgrind).
    timeout *= float(os.environ.get("APPDB_E2E_SLOW") or 1)
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


class KubeSim:
    """A running simulator with its own state dir and kubectl cache."""

    def __init__(self, state_dir=None, port=None):
        self.dir = state_dir or tempfile.mkdtemp(prefix="appdb-kubesim-")
        self.cache = tempfile.mkdtemp(prefix="appdb-kcache-")
        self.port = port
        self.proc = None
        self.start()

    def start(self):
        args = [KUBESIM, "--state-dir", self.dir]
        if self.port:
            args += ["--port", str(self.port)]
        self.log = open(os.path.join(self.dir, "kubesim.log"), "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("kubesim ready "):
            raise RuntimeError("kubesim did not start: %r" % line)
        self.url = line.split()[2]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.cache, ignore_errors=True)

    def kubectl(self, *args, check=True, input=None, timeout=60):
        r = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache]
                           + list(args), capture_output=True, text=True, input=input,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def apply(self, text):
        """kubectl apply of YAML or of JSON documents (joined by '---' or not)."""
        if text.lstrip().startswith("{"):
            text = "\n".join(d for d in text.split("---\n") if d.strip())
        return self.kubectl("apply", "-f", "-", input=text)

    def get(self, kind, name, ns):
        r = self.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def ctl(self, *args):
        r = subprocess.run([KUBESIMCTL, "--state-dir", self.dir] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("kubesimctl %s failed: %s" % (args, r.stderr))
        return r.stdout

    def requests(self):
        return [json.loads(l) for l in self.ctl("requests").splitlines() if l.strip()]


def condition(obj, ctype):
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c.get("type") == ctype:
            return c
    return None


class Operator:
    """`appdb-operator run` with a config written for a PgServer."""

    def __init__(self, pg, kubesim, environment="dev", extra="", workdir=None, name="op"):
        self.pg = pg
        self.kubesim = kubesim
        self.dir = workdir or tempfile.mkdtemp(prefix="appdb-op-")
        self.name = name
        self.cache = os.path.join(self.dir, "cache")
        self.http_port = free_port()
        self.admin_pw = os.path.join(self.dir, "admin-password")
        with open(self.admin_pw, "w") as f:
            f.write(pg.admin_password)
        self.config = os.path.join(self.dir, "config.yaml")
        with open(self.config, "w") as f:
            f.write("environment: %s\ninstances:\n  local:\n    host: 127.0.0.1\n"
                    "    port: %d\n    sslMode: verify-full\n    sslRootCert: %s\n"
                    "    admin: {user: %s, passwordFrom: {file: %s}}\n"
                    "cacheDir: %s\nhttpPort: %d\n%s%s"
                    % (environment, pg.port, pg.ca, pg.admin, self.admin_pw, self.cache,
                       self.http_port, "" if "workers:" in extra else "workers: 2\n", extra))
        self.proc = None
        self.logfile = os.path.join(self.dir, name + ".log")

    def start(self, env=None, kubeconfig=None):
        full = dict(os.environ)
        full.pop("ALLOW_DB_PROVISION", None)
        full.update(env or {})
        self.log = open(self.logfile, "a")
        args = [OPERATOR, "run", "--config", self.config]
        if kubeconfig is not False:
            args += ["--kubeconfig", kubeconfig or self.kubesim.kubeconfig]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=full)
        return self

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def output(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def http(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def audit(self):
        path = os.path.join(self.cache, "audit.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]

    def cleanup(self):
        # APPDB_E2E_GRACEFUL: SIGTERM, so that a wrapper (valgrind) sees the exit.
        self.stop(signal.SIGTERM if os.environ.get("APPDB_E2E_GRACEFUL") else signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
