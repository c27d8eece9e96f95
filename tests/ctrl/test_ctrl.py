"""The controller's Kubernetes modules against the API simulator (kubesim):
list with pagination, get/patch errors per outcome (404, 409, 429 with
Retry-After, 5xx), watch with bookmarks, an informer that relists on 410
and misses nothing, Event aggregation, Secrets, the service-account token
re-read after rotation, and Lease leader election with two processes.
The driver is tests/ctrl/ctrl_driver.c; it never prints a secret."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.environ.get("APPDB_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(ROOT, "tests", "kubesim"))

import simtest  # noqa: E402

BUILD = os.environ.get("APPDB_BUILD", os.path.join(ROOT, "build"))
DRIVER = os.environ.get("APPDB_CTRL_DRIVER", os.path.join(BUILD, "ctrl", "ctrl_driver"))
REPLAY = os.environ.get("APPDB_FUZZ_WATCH_REPLAY", os.path.join(BUILD, "fuzz", "fuzz_watch_line_replay"))
NS = "team-ctrl"
AP = "/apis/db.platform.dev/v1alpha1"


def appdb(name, ns=NS):
    return {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"instance": "local", "database": {"name": name.replace("-", "_"),
                                                       "owner": name.replace("-", "_") + "_owner"}}}


class CtrlTest(simtest.SimTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim.kubectl("apply", "-f", os.path.join(ROOT, "crds", "appdatabase.yaml"))
        for _ in range(50):
            st, _, _ = cls.sim.http("GET", AP + "/appdatabases")
            if st == 200:
                break
            time.sleep(0.1)

    def setUp(self):
        self.ensure_ns(NS)
        self.sim.ctl("clear-faults")

    def create(self, name, ns=NS):
        st, body, _ = self.sim.http("POST", AP + "/namespaces/%s/appdatabases" % ns, appdb(name, ns))
        self.assertEqual(st, 201, body)
        return body

    def delete(self, name, ns=NS):
        st, body, _ = self.sim.http("DELETE", AP + "/namespaces/%s/appdatabases/%s" % (ns, name))
        self.assertEqual(st, 200, body)

    def api_names(self):
        st, body, _ = self.sim.http("GET", AP + "/appdatabases")
        self.assertEqual(st, 200)
        return sorted("%s/%s" % (i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"])

    def drive(self, *args, env=None, timeout=60):
        p = subprocess.run([DRIVER, "--kubeconfig", self.sim.kubeconfig] + list(args), capture_output=True,
                           text=True, timeout=timeout, env=env)
        self.no_sanitizer_report(p.stderr)
        return p.stdout

    def no_sanitizer_report(self, stderr):
        """Under `make asan` the driver is a sanitizer build: any report fails the test."""
        self.assertNotIn("Sanitizer", stderr or "", stderr)
        self.assertNotIn("runtime error:", stderr or "", stderr)

    def start_driver(self, *args, env=None, prefix=None):
        cmd = list(prefix or ["--kubeconfig", self.sim.kubeconfig]) + list(args)
        return subprocess.Popen([DRIVER] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    # ---- list, get, errors -------------------------------------------------------

    def test_list_pagination_all_namespaces(self):
        self.ensure_ns("team-other")
        for i in range(5):
            self.create("lst-%d" % i)
        self.create("lst-x", "team-other")
        out = self.drive("list", "-", "2")
        self.assertIn("list ok", out)
        items = sorted(line.split()[1] for line in out.splitlines() if line.startswith("item "))
        self.assertEqual(items, self.api_names())
        self.assertIn("team-other/lst-x", items)
        out = self.drive("list", "team-other", "1")
        self.assertEqual([line for line in out.splitlines() if line.startswith("item ")], ["item team-other/lst-x"])

    def test_not_found_with_status_message(self):
        out = self.drive("get", NS, "does-not-exist")
        self.assertIn("get error not found", out)
        self.assertIn('"does-not-exist" not found', out)

    def test_conflict_409_then_retry_succeeds(self):
        self.create("conflicted")
        self.sim.ctl("fail-next", "1", "PATCH", "conflicted/status", "409")
        out = self.drive("patch-status", NS, "conflicted", '{"status":{"observedGeneration":1}}')
        self.assertIn("patch-status error conflict", out)
        out = self.drive("patch-status", NS, "conflicted", '{"status":{"observedGeneration":1}}')
        self.assertIn("patch-status ok", out)
        st, body, _ = self.sim.http("GET", AP + "/namespaces/%s/appdatabases/conflicted" % NS)
        self.assertEqual(body["status"]["observedGeneration"], 1)

    def test_throttled_429_retry_after(self):
        self.create("throttled")
        self.sim.ctl("fail-next", "1", "GET", "appdatabases/throttled", "429", "7")
        out = self.drive("get", NS, "throttled")
        self.assertIn("get error throttled retry_after=7", out)
        self.assertIn("get ok", self.drive("get", NS, "throttled"))

    def test_server_errors_are_transient(self):
        self.create("flaky")
        self.sim.ctl("fail-next", "1", "GET", "appdatabases/flaky", "503")
        self.assertIn("get error transient", self.drive("get", NS, "flaky"))
        self.sim.ctl("fail-next", "1", "PATCH", "flaky/status", "422")
        self.assertIn("patch-status error invalid", self.drive("patch-status", NS, "flaky", '{"status":{}}'))

    def test_api_down_is_transient(self):
        self.sim.ctl("down")
        try:
            out = self.drive("get", NS, "anything")
        finally:
            self.sim.ctl("up")
        self.assertIn("get error transient", out)

    def test_bad_token_is_unauthorized(self):
        d = tempfile.mkdtemp(prefix="ctrl-kc-")
        try:
            with open(self.sim.kubeconfig) as f:
                text = f.read()
            with open(os.path.join(self.sim.dir, "admin-token")) as f:
                tok = f.read().strip()
            bad = os.path.join(d, "kubeconfig")
            with open(bad, "w") as f:
                f.write(text.replace(tok, "not-a-valid-token"))
            p = subprocess.run([DRIVER, "--kubeconfig", bad, "get", NS, "x"], capture_output=True, text=True,
                               timeout=30)
            self.no_sanitizer_report(p.stderr)
            self.assertIn("get error unauthorized", p.stdout)
            self.assertNotIn("not-a-valid-token", p.stdout + p.stderr)
        finally:
            shutil.rmtree(d)

    # ---- secrets and events ----------------------------------------------------------

    def test_secret_value(self):
        st, body, _ = self.sim.http("POST", "/api/v1/namespaces/%s/secrets" % NS, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw"},
            "stringData": {"password": "s3cr3t-Value!"}})
        self.assertEqual(st, 201, body)
        env = dict(os.environ, EXPECT_VALUE="s3cr3t-Value!")
        out = self.drive("secret", NS, "pw", "password", env=env)
        self.assertIn("match yes", out)
        self.assertNotIn("s3cr3t", out)
        self.assertIn("secret error not found", self.drive("secret", NS, "pw", "nokey"))
        self.assertIn("secret error not found", self.drive("secret", NS, "nosecret", "password"))

    def test_events_aggregated(self):
        obj = self.create("evented")
        uid = obj["metadata"]["uid"]
        out = self.drive("events", NS, "evented", uid, "Provisioned", "database evented ready", "3")
        self.assertEqual(out.count("emit ok"), 3, out)
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/%s/events?fieldSelector=involvedObject.name=evented"
                                    % NS)
        self.assertEqual(st, 200)
        evs = [e for e in body["items"] if e["reason"] == "Provisioned"]
        self.assertEqual(len(evs), 1, evs)
        ev = evs[0]
        self.assertEqual(ev["count"], 3)
        self.assertEqual(ev["involvedObject"]["uid"], uid)
        self.assertEqual(ev["involvedObject"]["kind"], "AppDatabase")
        self.assertEqual(ev["source"]["component"], "appdb-operator")
        self.assertTrue(ev["message"].endswith("(run run-2)"), ev["message"])
        self.assertGreaterEqual(ev["lastTimestamp"], ev["firstTimestamp"])
        # kubectl describe lists it (it needs involvedObject.uid).
        d = self.sim.kubectl("describe", "appdb", "evented", "-n", NS).stdout
        self.assertIn("Provisioned", d)

    # ---- watch ----------------------------------------------------------------------

    def test_watch_streams_events_and_bookmarks(self):
        self.sim.ctl("bookmark-interval", "0.5")
        try:
            st, body, _ = self.sim.http("GET", AP + "/namespaces/%s/appdatabases" % NS)
            rv = body["metadata"]["resourceVersion"]
            p = self.start_driver("watch", rv, "4")
            time.sleep(0.8)
            self.create("watched")
            self.delete("watched")
            out, err = p.communicate(timeout=20)
        finally:
            self.sim.ctl("bookmark-interval", "10")
        self.no_sanitizer_report(err)
        self.assertIn("event ADDED %s/watched" % NS, out)
        self.assertIn("event DELETED %s/watched" % NS, out)
        self.assertIn("event BOOKMARK", out)
        self.assertIn("watch ok", out)

    def test_watch_from_compacted_rv_is_gone(self):
        st, body, _ = self.sim.http("GET", AP + "/appdatabases")
        rv = body["metadata"]["resourceVersion"]
        self.create("compacted-1")
        self.sim.ctl("compact")
        out = self.drive("watch", rv, "3")
        self.assertIn("watch error gone", out)

    def test_informer_relists_on_410_and_misses_nothing(self):
        p = self.start_driver("informer", "9")
        line = p.stdout.readline()
        self.assertTrue(line.startswith("synced"), line)
        self.create("inf-a")
        time.sleep(0.5)
        # Changes the watch never sees: paused, then history compacted and the watch cut.
        self.sim.ctl("pause-events")
        self.create("inf-b")
        self.create("inf-c")
        self.delete("inf-a")
        self.sim.ctl("compact")
        self.sim.ctl("cut-watches")
        self.sim.ctl("resume-events")
        time.sleep(1.5)
        self.create("inf-d")
        out, err = p.communicate(timeout=30)
        self.no_sanitizer_report(err)
        self.assertIn("gone:", out, out + err)
        final = sorted(line.split()[1] for line in out.splitlines() if line.startswith("final "))
        self.assertEqual(final, self.api_names(), out)
        self.assertIn("%s/inf-d" % NS, final)
        self.assertNotIn("%s/inf-a" % NS, final)
        relists = [line for line in out.splitlines() if line.startswith("relists ")]
        self.assertGreaterEqual(int(relists[0].split()[1]), 1)

    # ---- in-cluster token rotation ---------------------------------------------------

    def test_service_account_token_file_rotation(self):
        self.sim.kubectl("create", "clusterrolebinding", "ctrl-test-sa", "--clusterrole=cluster-admin",
                         "--serviceaccount=%s:appdb-operator" % NS, check=False)
        tok1 = self.sim.ctl("mint-token", NS, "appdb-operator").strip()
        sa = tempfile.mkdtemp(prefix="ctrl-sa-")
        try:
            shutil.copy(os.path.join(self.sim.dir, "ca.crt"), os.path.join(sa, "ca.crt"))
            with open(os.path.join(sa, "namespace"), "w") as f:
                f.write(NS)
            with open(os.path.join(sa, "token"), "w") as f:
                f.write(tok1)
            env = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1",
                       KUBERNETES_SERVICE_PORT=str(self.sim.port), APPDB_SERVICEACCOUNT_DIR=sa)
            p = self.start_driver("poll", "6", "0.2", env=env, prefix=["--in-cluster"])
            time.sleep(1.5)
            tok2 = self.sim.ctl("rotate-token", NS, "appdb-operator").strip()
            time.sleep(1.0)
            # The kubelet's way: a new file renamed over the old one.
            with open(os.path.join(sa, "token.new"), "w") as f:
                f.write(tok2)
            os.rename(os.path.join(sa, "token.new"), os.path.join(sa, "token"))
            out, err = p.communicate(timeout=30)
        finally:
            shutil.rmtree(sa)
        self.no_sanitizer_report(err)
        states = [line.split()[1] for line in out.splitlines() if line.startswith("poll ")]
        self.assertEqual(states[0], "ok", out)
        self.assertEqual(states[-1], "ok", out)
        self.assertIn("error", states, out)
        self.assertIn("poll error unauthorized", out)
        # ok, then unauthorized (old token revoked), then ok again with the new file.
        first_err = states.index("error")
        self.assertIn("ok", states[first_err:])
        self.assertNotIn(tok1, out + err)
        self.assertNotIn(tok2, out + err)

    # ---- exec credential plugin -------------------------------------------------------

    def test_exec_plugin_token_and_refresh_after_401(self):
        """An EKS-style kubeconfig: the token comes from a plugin; after the token is
        revoked the 401 makes the client run the plugin again and the call succeeds."""
        self.sim.kubectl("create", "clusterrolebinding", "ctrl-test-exec", "--clusterrole=cluster-admin",
                         "--serviceaccount=%s:exec-user" % NS, "--serviceaccount=%s:exec-next" % NS,
                         check=False)
        d = tempfile.mkdtemp(prefix="ctrl-exec-")
        try:
            tokfile = os.path.join(d, "current-token")
            with open(tokfile, "w") as f:
                f.write(self.sim.ctl("mint-token", NS, "exec-user").strip())
            plugin = os.path.join(d, "get-token")
            with open(plugin, "w") as f:
                f.write("#!/bin/sh\n"
                        "echo run >> \"$RUNS\"\n"
                        "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 9;; esac\n"
                        "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",'\n"
                        "printf '\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\"}}' \"$(cat %s)\"\n"
                        % tokfile)
            os.chmod(plugin, 0o700)
            with open(os.path.join(self.sim.dir, "ca.crt")) as f:
                import base64
                ca = base64.b64encode(f.read().encode()).decode()
            kc = os.path.join(d, "kubeconfig")
            with open(kc, "w") as f:
                f.write("apiVersion: v1\nkind: Config\ncurrent-context: eks\n"
                        "clusters: [{name: eks, cluster: {server: '%s', certificate-authority-data: %s}}]\n"
                        "contexts: [{name: eks, context: {cluster: eks, user: eks}}]\n"
                        "users:\n- name: eks\n  user:\n    exec:\n"
                        "      apiVersion: client.authentication.k8s.io/v1\n"
                        "      command: ./get-token\n      args: [eks, get-token]\n"
                        "      env: [{name: RUNS, value: '%s'}]\n      interactiveMode: Never\n"
                        % (self.sim.url, ca, os.path.join(d, "runs")))
            def runs():
                try:
                    with open(os.path.join(d, "runs")) as f:
                        return len(f.readlines())
                except FileNotFoundError:
                    return 0
            p = subprocess.Popen([DRIVER, "--kubeconfig", kc, "poll", "4", "0.2"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(1.5)
            runs_before = runs()
            # The credential the plugin will hand out next is in place before the
            # current one is revoked (as a cloud's token service does), so the
            # plugin run that the 401 starts cannot read the revoked one.
            new = self.sim.ctl("mint-token", NS, "exec-next").strip()
            with open(tokfile + ".new", "w") as f:
                f.write(new)
            os.rename(tokfile + ".new", tokfile)
            self.sim.ctl("rotate-token", NS, "exec-user")
            out, err = p.communicate(timeout=30)
            self.no_sanitizer_report(err)
            runs_after = runs()
        finally:
            shutil.rmtree(d)
        states = [line.split()[1] for line in out.splitlines() if line.startswith("poll ")]
        self.assertGreater(len(states), 5, out)
        # Every call succeeded: the revoked token was replaced within the same call.
        self.assertEqual(set(states), {"ok"}, out + err)
        self.assertEqual(runs_before, 1)
        self.assertEqual(runs_after, 2)  # run again once, after the 401
        self.assertNotIn(new, out + err)

    # ---- leader election ---------------------------------------------------------------

    def lease_holder(self, name):
        st, body, _ = self.sim.http("GET", "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (NS, name))
        return body["spec"].get("holderIdentity") if st == 200 else None

    def wait_line(self, p, prefix, timeout):
        end = time.monotonic() + timeout
        lines = []
        while time.monotonic() < end:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(prefix):
                return line, lines
        return None, lines

    def test_two_electors_one_leader_and_takeover(self):
        lease, renew, retry = 3, 2, 0.3
        a = self.start_driver("elect", NS, "ctrl-lease", "replica-a", str(lease), str(renew), str(retry))
        b = None
        try:
            line, _ = self.wait_line(a, "leading", 10)
            self.assertIsNotNone(line, "replica-a never led")
            self.assertEqual(self.lease_holder("ctrl-lease"), "replica-a")
            b = self.start_driver("elect", NS, "ctrl-lease", "replica-b", str(lease), str(renew), str(retry))
            line, _ = self.wait_line(b, "candidate", 5)
            self.assertIsNotNone(line)
            time.sleep(lease + 1)
            self.assertEqual(self.lease_holder("ctrl-lease"), "replica-a")
            # replica-a dies without releasing: replica-b takes over after the lease runs out.
            killed = time.monotonic()
            a.kill()
            a.wait()
            line, lines = self.wait_line(b, "leading", lease + 6)
            self.assertIsNotNone(line, "".join(lines))
            took = float(line.split()[1]) - killed
            self.assertLess(took, lease + 2 * retry + 1.5)
            self.assertGreater(took, lease - 1.5)
            self.assertEqual(self.lease_holder("ctrl-lease"), "replica-b")
            # A clean stop releases the Lease.
            b.send_signal(signal.SIGTERM)
            out, err = b.communicate(timeout=15)
            self.no_sanitizer_report(err)
            self.assertIn("released", out)
            self.assertEqual(self.lease_holder("ctrl-lease"), "")
            st, body, _ = self.sim.http("GET", "/apis/coordination.k8s.io/v1/namespaces/%s/leases/ctrl-lease" % NS)
            self.assertGreaterEqual(body["spec"]["leaseTransitions"], 1)
        finally:
            for p in (a, b):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
                if p is not None:
                    p.stdout.close()
                    p.stderr.close()


class FuzzSeedsTest(unittest.TestCase):
    def test_watch_line_seeds_replay(self):
        seeds = os.path.join(ROOT, "tests", "fuzz", "seeds", "watch_line")
        p = subprocess.run([REPLAY, seeds], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        n = int(p.stdout.split()[0])
        self.assertEqual(n, len(os.listdir(seeds)))


if __name__ == "__main__":
    unittest.main()
