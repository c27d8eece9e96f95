"""Shared helpers of the packaging tests: paths, tools, YAML as JSON, a runner.

Standard library only. YAML is turned into JSON by kubectl itself
(`kubectl patch --local -o json`, which needs no API server), so the tests
read manifests exactly as kubectl does.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

ROOT = os.environ.get("APPDB_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "tests", "packaging")
CHART = os.path.join(ROOT, "helm", "appdb-operator")
CRD = os.path.join(ROOT, "crds", "appdatabase.yaml")
CORPUS = os.path.join(ROOT, "tests", "corpus")
KUBECTL = os.environ.get("KUBECTL", "kubectl")


class Skip(Exception):
    """A test that cannot run here (a tool or a component is missing)."""


_tmp = None


def tmpdir():
    """One scratch directory for the whole run, removed at exit."""
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="appdb-packaging.")
    return _tmp


def cleanup():
    if _tmp is not None:
        shutil.rmtree(_tmp, ignore_errors=True)


def run(argv, check=True, env=None, timeout=300, input=None):
    """Runs argv; returns the CompletedProcess (text). Raises on failure when check."""
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(argv[:4]), p.returncode, p.stderr.strip()[-2000:]))
    return p


_helm = None


def helm_env():
    env = dict(os.environ)
    base = os.path.join(tmpdir(), "helm-home")
    env.update(HELM_CACHE_HOME=base, HELM_CONFIG_HOME=base, HELM_DATA_HOME=base)
    return env


def helm():
    """The project's helm (hack/install-helm.sh installs it when missing)."""
    global _helm
    if _helm is None:
        p = run([os.path.join(ROOT, "hack", "install-helm.sh")])
        _helm = p.stdout.strip().splitlines()[-1]
    return _helm


def offline_kubeconfig():
    """A kubeconfig pointing at a closed loopback port, and a fresh cache dir."""
    d = tmpdir()
    path = os.path.join(d, "offline.kubeconfig")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("""apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: offline
  user: {token: offline}
contexts:
- name: offline
  context: {cluster: offline, user: offline, namespace: default}
current-context: offline
""")
    return ["--kubeconfig", path, "--cache-dir", os.path.join(d, "kubectl-cache")]


def decode_stream(text):
    """Concatenated JSON values (kubectl prints one per document)."""
    dec = json.JSONDecoder()
    out = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def yaml_file_to_objects(path):
    """The documents of a YAML file (or a directory of them) as dicts, read by kubectl.
    Raises AssertionError with kubectl's message when kubectl refuses the file."""
    argv = ([KUBECTL] + offline_kubeconfig() + ["patch", "--local", "-f", path]
            + (["-R"] if os.path.isdir(path) else []) + ["--type", "merge", "-p", "{}", "-o", "json"])
    p = run(argv, check=False)
    if p.returncode != 0:
        raise AssertionError(p.stderr.strip())
    objs = []
    for o in decode_stream(p.stdout):
        if o.get("kind") == "List":
            objs.extend(o["items"])
        else:
            objs.append(o)
    return objs


def yaml_text_to_objects(text, name="doc.yaml"):
    path = os.path.join(tmpdir(), name)
    with open(path, "w") as f:
        f.write(text)
    return yaml_file_to_objects(path)


def load_crd():
    (crd,) = yaml_file_to_objects(CRD)
    return crd


def corpus_files():
    """(path, headers) of every corpus file; headers maps expect/expect-field/api."""
    out = []
    for sub in ("valid", "invalid"):
        d = os.path.join(CORPUS, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith(".yaml"):
                out.append((os.path.join(d, name), corpus_headers(os.path.join(d, name))))
    return out


def corpus_headers(path):
    headers = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.startswith("# "):
                break
            key, _, value = line[2:].partition(":")
            if key in ("expect", "expect-field", "api"):
                headers[key] = value.strip()
    return headers


def field_named(message, field):
    """True when message names field or a parent of it (spec.users[0] for
    spec.users[0].name): the API server reports list-map duplicates and
    cross-field rules one level up."""
    cands = [field]
    f = field
    while True:
        cut = max(f.rfind("."), f.rfind("["))
        if cut <= 0:
            break
        f = f[:cut]
        cands.append(f)
    return any(c in message for c in cands)


class Runner:
    """Runs test functions and prints `<suite>: N passed, M failed`."""

    def __init__(self, suite):
        self.suite = suite
        self.passed = self.failed = self.skipped = 0

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Skip as e:
            self.skipped += 1
            print("skip %s: %s" % (name, e), flush=True)
        except AssertionError as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
        except Exception:
            self.failed += 1
            print("FAIL %s: %s" % (name, traceback.format_exc().strip()), flush=True)
        else:
            self.passed += 1
            print("ok   %s" % name, flush=True)

    def run_module(self, module):
        for name in sorted(dir(module)):
            if name.startswith("test_") and callable(getattr(module, name)):
                self.run("%s.%s" % (module.__name__, name), getattr(module, name))

    def finish(self):
        line = "%s: %d passed, %d failed" % (self.suite, self.passed, self.failed)
        if self.skipped:
            line += ", %d skipped" % self.skipped
        print(line, flush=True)
        return 1 if self.failed else 0


def main_for(module_name, tests):
    """Lets one test file run on its own: python3 tests/packaging/test_x.py."""
    r = Runner(module_name)
    try:
        for name, fn in tests:
            r.run(name, fn)
    finally:
        cleanup()
    sys.exit(r.finish())


KUBESIM = os.path.join(ROOT, "tests", "kubesim", "kubesim")
KUBESIMCTL = os.path.join(ROOT, "tests", "kubesim", "kubesimctl")


class Kubesim:
    """The API simulator (tests/kubesim), started in a fresh state directory."""

    def __init__(self):
        if not os.access(KUBESIM, os.X_OK):
            raise Skip("tests/kubesim/kubesim is not in this tree")
        self.dir = tempfile.mkdtemp(prefix="appdb-kubesim.")
        self.cache = os.path.join(self.dir, "kubectl-cache")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.proc = subprocess.Popen([KUBESIM, "--state-dir", self.dir], stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.dir, "kubesim.stderr"), "w"), text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("kubesim ready "):
            self.close()
            raise AssertionError("kubesim did not start: %r" % line)
        self.url = line.split()[-1]

    def kubectl(self, *args, check=True, input=None, kubeconfig=None, timeout=120):
        argv = [KUBECTL, "--kubeconfig", kubeconfig or self.kubeconfig, "--cache-dir", self.cache] + list(args)
        return run(argv, check=check, input=input, timeout=timeout)

    def ctl(self, *args):
        return run([sys.executable, KUBESIMCTL, "--state-dir", self.dir] + list(args))

    def close(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def operator_binary():
    """The operator binary when it is built and has `validate`, else None."""
    binary = os.environ.get("APPDB_OPERATOR") or os.path.join(ROOT, "bin", "appdb-operator")
    if not os.access(binary, os.X_OK):
        return None
    p = run([binary, "--help"], check=False)
    if "validate" not in p.stdout + p.stderr:
        return None
    return binary
