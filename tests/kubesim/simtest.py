"""Test helpers: start a kubesim in a temporary state directory and talk to
it with kubectl, raw HTTPS and kubesimctl."""

import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.join(HERE, "kubesim")
KUBESIMCTL = os.path.join(HERE, "kubesimctl")
TESTDATA = os.path.join(HERE, "testdata")
KUBECTL = os.environ.get("KUBECTL", "kubectl")


class Sim:
    """One kubesim process."""

    def __init__(self, state_dir=None, extra=()):
        self.owns_dir = state_dir is None
        self.dir = state_dir or tempfile.mkdtemp(prefix="kubesim-test-")
        self.cache = tempfile.mkdtemp(prefix="kubesim-cache-")
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self, port=None):
        args = [KUBESIM, "--state-dir", self.dir] + self.extra
        if port:
            args += ["--port", str(port)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "stderr"), "a"),
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("kubesim ready https://127.0.0.1:"):
            raise RuntimeError("kubesim did not start: %r" % line)
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(os.path.join(self.dir, "admin-token")) as f:
            self.token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.proc = None
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.cache, ignore_errors=True)
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def fresh_cache(self):
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache = tempfile.mkdtemp(prefix="kubesim-cache-")

    def kubectl(self, *args, check=True, input=None, timeout=60):
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache] + list(args),
                           capture_output=True, text=True, input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout,
                                                                   p.stderr))
        return p

    def conn(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def http(self, method, path, body=None, token="admin", ctype=None, headers=None, timeout=30):
        """One request; returns (status, parsed JSON or text, headers)."""
        c = self.conn(timeout)
        h = dict(headers or {})
        if token == "admin":
            token = self.token
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = ctype or "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            out = json.loads(raw)
        except ValueError:
            out = raw.decode(errors="replace")
        return r.status, out, r.headers

    def watch(self, path, token="admin", timeout=10, accept=None):
        """Open a watch; returns (connection, response) for read_events."""
        c = self.conn(timeout)
        h = {"Authorization": "Bearer " + (self.token if token == "admin" else token)}
        if accept:
            h["Accept"] = accept
        c.request("GET", path, headers=h)
        return c, c.getresponse()

    def ctl(self, *args, check=True):
        p = subprocess.run([KUBESIMCTL, "--state-dir", self.dir] + list(args), capture_output=True, text=True,
                           timeout=30)
        if check and p.returncode != 0:
            raise AssertionError("kubesimctl %s failed: %s" % (" ".join(args), p.stderr))
        return p.stdout


def read_events(resp, n=None, until=None, max_seconds=5.0):
    """Read watch events (JSON lines) until n were read, until(type, obj)
    is true, the stream ends or max_seconds pass."""
    out = []
    end = time.monotonic() + max_seconds
    while time.monotonic() < end:
        try:
            line = resp.readline()
        except (TimeoutError, OSError):
            break
        if not line:
            break
        ev = json.loads(line)
        out.append(ev)
        if n is not None and len(out) >= n:
            break
        if until is not None and until(ev):
            break
    return out


class Reader:
    """Reads a watch stream in a thread: .events grows, .done is set when
    the stream ends (cleanly or not)."""

    def __init__(self, resp):
        import threading
        self.events = []
        self.done = threading.Event()
        self.error = None
        self.t = threading.Thread(target=self._run, args=(resp,), daemon=True)
        self.t.start()

    def _run(self, resp):
        try:
            for line in iter(resp.readline, b""):
                self.events.append(json.loads(line))
        except Exception as e:  # a cut connection
            self.error = e
        self.done.set()

    def wait_for(self, n, seconds=5.0):
        end = time.monotonic() + seconds
        while len(self.events) < n and time.monotonic() < end and not self.done.is_set():
            time.sleep(0.02)
        return self.events


class SimTestCase(unittest.TestCase):
    """A test class sharing one simulator."""

    sim_args = ()

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(extra=cls.sim_args)

    @classmethod
    def tearDownClass(cls):
        cls.sim.close()

    def apply(self, text, *extra):
        return self.sim.kubectl("apply", "-f", "-", *extra, input=text)

    def ensure_ns(self, ns):
        st, _, _ = self.sim.http("GET", "/api/v1/namespaces/" + ns)
        if st == 404:
            st, body, _ = self.sim.http("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                     "metadata": {"name": ns}})
            self.assertEqual(st, 201, body)

    def widget_crd(self):
        st, _, _ = self.sim.http("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev")
        if st == 404:
            self.sim.kubectl("apply", "-f", os.path.join(TESTDATA, "widget-crd.yaml"))


def widget(name, ns, size=3, **spec):
    s = {"size": size, "db": {"name": "orders", "owner": "orders_owner"}}
    s.update(spec)
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": name, "namespace": ns},
            "spec": s}


WPATH = "/apis/example.dev/v1/namespaces/%s/widgets"
