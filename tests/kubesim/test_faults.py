"""Faults on demand, the request log, RBAC with ServiceAccount tokens, and
state that survives a restart."""

import json
import os
import socket
import time

from simtest import Reader, Sim, SimTestCase, read_events, widget, WPATH


class FaultTest(SimTestCase):

    def setUp(self):
        self.widget_crd()
        self.ensure_ns("f")

    def test_down_refuses_connections_and_up_reopens_same_port(self):
        self.sim.ctl("down")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.sim.port), timeout=2).close()
        st = json.loads(self.sim.ctl("status"))
        self.assertFalse(st["up"])
        self.sim.ctl("up")
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/f")
        self.assertEqual(st, 200)
        self.assertEqual(self.sim.kubectl("get", "ns", "f", "-o", "name").stdout.strip(), "namespace/f")

    def test_down_cuts_open_watch(self):
        c, r = self.sim.watch(WPATH % "f" + "?watch=true&timeoutSeconds=30", timeout=20)
        rd = Reader(r)
        time.sleep(0.3)
        self.assertFalse(rd.done.is_set())
        self.sim.ctl("down")
        self.assertTrue(rd.done.wait(4))
        self.sim.ctl("up")
        c.close()

    def test_fail_next_with_status_and_retry_after(self):
        self.sim.ctl("fail-next", "2", "GET", "/namespaces/f/widgets", "503")
        self.assertEqual(self.sim.http("GET", WPATH % "f")[0], 503)
        st, body, _ = self.sim.http("GET", WPATH % "f")
        self.assertEqual((st, body["reason"]), (503, "ServiceUnavailable"))
        self.assertEqual(self.sim.http("GET", WPATH % "f")[0], 200)
        self.sim.ctl("fail-next", "1", "PATCH", "widgets/.*/status", "429", "3")
        self.sim.http("POST", WPATH % "f", widget("fw", "f"))
        self.assertEqual(self.sim.http("GET", WPATH % "f" + "/fw/status")[0], 200)  # method differs
        st, body, h = self.sim.http("PATCH", WPATH % "f" + "/fw/status", {"status": {}},
                                    ctype="application/merge-patch+json")
        self.assertEqual((st, body["reason"], h["Retry-After"]), (429, "TooManyRequests", "3"))
        self.assertEqual(body["details"]["retryAfterSeconds"], 3)
        self.sim.ctl("fail-next", "1", "*", "/api/v1/namespaces/f$", "500")
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/f")
        self.assertEqual((st, body["reason"]), (500, "InternalError"))

    def test_hostile_answers(self):
        self.sim.ctl("hostile-next", "1", "GET", "/namespaces/f/widgets$", "truncated")
        st, body, _ = self.sim.http("GET", WPATH % "f")
        self.assertEqual(st, 200)
        self.assertIsInstance(body, str)  # not JSON: cut in the middle
        with self.assertRaises(ValueError):
            json.loads(body)
        self.sim.ctl("hostile-next", "1", "GET", "/namespaces/f/widgets$", "huge-status")
        st, body, _ = self.sim.http("GET", WPATH % "f", timeout=60)
        self.assertEqual((st, body["kind"], body["reason"]), (500, "Status", "InternalError"))
        self.assertGreaterEqual(len(body["message"]), 10 << 20)
        self.sim.ctl("hostile-next", "1", "GET", "/namespaces/f/widgets$", "wrong-types")
        st, body, _ = self.sim.http("GET", WPATH % "f")
        self.assertEqual((st, body["metadata"], body["items"]), (200, "none", {"a": 1}))
        self.sim.ctl("hostile-next", "1", "GET", "watch=", "unknown-kind")
        c, r = self.sim.watch(WPATH % "f" + "?watch=true&timeoutSeconds=30")
        lines = [l for l in r.read().decode().splitlines() if l.strip()]
        c.close()
        self.assertEqual(json.loads(lines[0])["object"]["kind"], "Gizmo")
        self.assertEqual(json.loads(lines[1])["type"], "EXPLODED")
        self.sim.ctl("hostile-next", "1", "GET", "/namespaces/f/widgets$", "endless-list")
        c = self.sim.conn(10)
        c.request("GET", WPATH % "f", headers={"Authorization": "Bearer " + self.sim.token})
        r = c.getresponse()
        got = 0
        while got < (4 << 20):
            got += len(r.read1(65536))
        c.close()
        self.assertGreaterEqual(got, 4 << 20)
        # the rules are used up: normal answers again
        self.assertEqual(self.sim.http("GET", WPATH % "f")[0], 200)
        with self.assertRaises(AssertionError):
            self.sim.ctl("hostile-next", "1", "GET", ".", "nonsense")

    def test_delay(self):
        self.sim.ctl("delay", "1.2", "GET", "/namespaces/f/widgets")
        t0 = time.monotonic()
        self.sim.http("GET", WPATH % "f")
        self.assertGreaterEqual(time.monotonic() - t0, 1.2)
        t0 = time.monotonic()
        self.sim.http("GET", "/api/v1/namespaces/f")
        self.assertLess(time.monotonic() - t0, 1.0)
        self.sim.ctl("delay", "0", "GET", "/namespaces/f/widgets")
        t0 = time.monotonic()
        self.sim.http("GET", WPATH % "f")
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_cut_watches(self):
        import threading
        c, r = self.sim.watch(WPATH % "f" + "?watch=true&timeoutSeconds=30", timeout=20)
        raw = []
        done = threading.Event()

        def read_raw():  # the chunked framing itself, to see how it ends
            try:
                for data in iter(lambda: r.fp.read1(65536), b""):
                    raw.append(data)
            except OSError as e:
                raw.append(e)
            done.set()
        threading.Thread(target=read_raw, daemon=True).start()
        time.sleep(0.3)
        self.assertFalse(done.is_set())
        out = json.loads(self.sim.ctl("cut-watches"))
        self.assertGreaterEqual(out["cut"], 1)
        self.assertTrue(done.wait(4))
        # aborted: a reset, or at least no terminating zero-length chunk
        self.assertTrue((raw and isinstance(raw[-1], OSError)) or
                        not b"".join(x for x in raw if isinstance(x, bytes)).endswith(b"0\r\n\r\n"), raw)
        c.close()

    def test_closed_watch_is_released(self):
        before = json.loads(self.sim.ctl("status"))["watches"]
        c, r = self.sim.watch(WPATH % "f" + "?watch=true&timeoutSeconds=300", timeout=10)
        time.sleep(0.3)
        self.assertEqual(json.loads(self.sim.ctl("status"))["watches"], before + 1)
        c.close()
        r.close()
        for _ in range(30):
            if json.loads(self.sim.ctl("status"))["watches"] == before:
                break
            time.sleep(0.1)
        self.assertEqual(json.loads(self.sim.ctl("status"))["watches"], before)

    def test_pause_and_resume_events(self):
        import threading
        st, body, _ = self.sim.http("GET", WPATH % "f")
        rv = body["metadata"]["resourceVersion"]
        c, r = self.sim.watch(WPATH % "f" + "?watch=true&timeoutSeconds=6&resourceVersion=" + rv, timeout=10)
        got = []
        t = threading.Thread(target=lambda: got.extend(read_events(r, n=1, max_seconds=8)), daemon=True)
        t.start()
        self.sim.ctl("pause-events")
        self.sim.http("POST", WPATH % "f", widget("paused", "f"))
        time.sleep(1.0)
        self.assertEqual(got, [])
        self.sim.ctl("resume-events")
        t.join(8)
        self.assertEqual(got[0]["object"]["metadata"]["name"], "paused")
        c.close()

    def test_request_log(self):
        self.sim.ctl("clear-requests")
        self.sim.http("GET", WPATH % "f" + "?limit=5")
        self.sim.http("GET", "/api/v1/namespaces/f/secrets/none")
        self.sim.http("GET", "/api/v1/namespaces", token="bad")
        lines = [json.loads(x) for x in self.sim.ctl("requests").splitlines()]
        self.assertEqual(lines[0], {"method": "GET", "path": "/apis/example.dev/v1/namespaces/f/widgets",
                                    "query": "limit=5", "user": "kubernetes-admin", "status": 200,
                                    "ms": lines[0]["ms"], "ts": lines[0]["ts"]})
        self.assertLess(abs(lines[0]["ts"] - time.time()), 60)
        self.assertEqual((lines[1]["status"], lines[2]["status"]), (404, 401))
        self.assertIsNone(lines[2]["user"])
        self.sim.ctl("requests", "--clear")
        self.assertEqual(self.sim.ctl("requests"), "")

    def test_control_needs_admin_token(self):
        with open(os.path.join(self.sim.dir, "control")) as f:
            base = f.read().strip()
        import urllib.request
        import urllib.error
        req = urllib.request.Request(base + "/_sim/down", data=b"{}", method="POST",
                                     headers={"Authorization": "Bearer wrong"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, context=self.sim.ctx, timeout=5)
        self.assertEqual(cm.exception.code, 401)
        st = json.loads(self.sim.ctl("status"))
        self.assertTrue(st["up"])


RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: op, namespace: rb}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: op}
rules:
- apiGroups: [example.dev]
  resources: [widgets]
  verbs: [get, list, watch]
- apiGroups: [example.dev]
  resources: [widgets/status]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: op}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: op}
subjects:
- {kind: ServiceAccount, name: op, namespace: rb}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: one-secret, namespace: rb}
rules:
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [allowed]
  verbs: [get]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: one-secret, namespace: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: one-secret}
subjects:
- {kind: ServiceAccount, name: op, namespace: rb}
"""


class RbacTest(SimTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim.kubectl("create", "namespace", "rb")
        cls.sim.kubectl("create", "namespace", "rb2")
        cls.sim.kubectl("apply", "-f", os.path.join(os.path.dirname(__file__), "testdata", "widget-crd.yaml"))
        cls.sim.kubectl("apply", "-f", "-", input=RBAC)
        for ns in ("rb", "rb2"):
            cls.sim.http("POST", WPATH % ns, widget("w", ns))
            for n in ("allowed", "denied"):
                cls.sim.http("POST", "/api/v1/namespaces/%s/secrets" % ns,
                             {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n}})
        cls.tok = cls.sim.ctl("mint-token", "rb", "op").strip()

    def req(self, method, path, body=None, ctype=None, token=None):
        return self.sim.http(method, path, body, token=token or self.tok, ctype=ctype)

    def test_allowed_cluster_wide_by_cluster_role_binding(self):
        self.assertEqual(self.req("GET", "/apis/example.dev/v1/widgets")[0], 200)
        self.assertEqual(self.req("GET", WPATH % "rb2" + "/w")[0], 200)
        st, _, _ = self.req("PATCH", WPATH % "rb2" + "/w/status", {"status": {"a": 1}},
                            ctype="application/merge-patch+json")
        self.assertEqual(st, 200)
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "w.", "namespace": "rb2"},
              "involvedObject": {"kind": "Widget", "name": "w", "namespace": "rb2"}, "reason": "R", "message": "m"}
        self.assertEqual(self.req("POST", "/api/v1/namespaces/rb2/events", ev)[0], 201)

    def test_denied_verbs_and_subresources(self):
        st, body, _ = self.req("PATCH", WPATH % "rb" + "/w", {"spec": {"size": 2}},
                               ctype="application/merge-patch+json")
        self.assertEqual(st, 403)
        self.assertEqual(body["message"], 'widgets.example.dev "w" is forbidden: User "system:serviceaccount:rb:op" '
                         'cannot patch resource "widgets" in API group "example.dev" in the namespace "rb"')
        self.assertEqual(body["details"], {"name": "w", "group": "example.dev", "kind": "widgets"})
        st, body, _ = self.req("PUT", WPATH % "rb" + "/w/status", {})
        self.assertEqual(st, 403)
        self.assertIn('cannot update resource "widgets/status"', body["message"])
        st, body, _ = self.req("GET", "/api/v1/namespaces")
        self.assertEqual(st, 403)
        self.assertIn("at the cluster scope", body["message"])

    def test_resource_names_and_namespaces(self):
        self.assertEqual(self.req("GET", "/api/v1/namespaces/rb/secrets/allowed")[0], 200)
        self.assertEqual(self.req("GET", "/api/v1/namespaces/rb/secrets/denied")[0], 403)
        self.assertEqual(self.req("GET", "/api/v1/namespaces/rb/secrets")[0], 403)
        self.assertEqual(self.req("GET", "/api/v1/namespaces/rb2/secrets/allowed")[0], 403)
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                 "spec": {"holderIdentity": "me"}}
        self.assertEqual(self.req("POST", "/apis/coordination.k8s.io/v1/namespaces/rb/leases", lease)[0], 201)
        self.assertEqual(self.req("POST", "/apis/coordination.k8s.io/v1/namespaces/rb2/leases", lease)[0], 403)

    def test_discovery_allowed_for_authenticated(self):
        self.assertEqual(self.req("GET", "/apis")[0], 200)
        self.assertEqual(self.req("GET", "/api/v1")[0], 200)

    def test_rotate_token(self):
        tok = self.sim.ctl("mint-token", "rb", "op").strip()
        self.assertEqual(self.req("GET", WPATH % "rb", token=tok)[0], 200)
        new = self.sim.ctl("rotate-token", "rb", "op").strip()
        self.assertEqual(self.req("GET", WPATH % "rb", token=tok)[0], 401)
        self.assertEqual(self.req("GET", WPATH % "rb", token=new)[0], 200)
        type(self).tok = new

    def test_token_request_api(self):
        st, body, _ = self.sim.http("POST", "/api/v1/namespaces/rb/serviceaccounts/op/token",
                                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                     "spec": {"expirationSeconds": 600}})
        self.assertEqual(st, 201, body)
        self.assertEqual(self.req("GET", WPATH % "rb", token=body["status"]["token"])[0], 200)
        st, body, _ = self.sim.http("POST", "/api/v1/namespaces/rb/serviceaccounts/nobody/token", {})
        self.assertEqual(st, 404)

    def test_client_certificate_user_and_groups(self):
        kc = self.sim.ctl("mint-cert", "jane@example.com", "approvers", "team-a").strip()
        self.assertTrue(os.path.exists(kc))
        out = self.sim.kubectl("auth", "whoami", "-o", "json", "--kubeconfig", kc).stdout
        info = json.loads(out)["status"]["userInfo"]
        self.assertEqual(info["username"], "jane@example.com")
        self.assertIn("approvers", info["groups"])
        p = self.sim.kubectl("get", "ns", "--kubeconfig", kc, check=False)
        self.assertIn('User "jane@example.com" cannot list resource "namespaces"', p.stderr)
        self.sim.kubectl("create", "clusterrolebinding", "approvers-view", "--clusterrole=cluster-admin",
                         "--group=approvers")
        self.assertEqual(self.sim.kubectl("get", "ns", "rb", "-o", "name", "--kubeconfig", kc).stdout.strip(),
                         "namespace/rb")

    def test_aggregated_cluster_role(self):
        self.sim.kubectl("apply", "-f", "-", input="""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg-parent}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {example.dev/aggregate-to-parent: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: agg-child
  labels: {example.dev/aggregate-to-parent: "true"}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: agg, namespace: rb2}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-parent}
subjects: [{kind: ServiceAccount, name: op, namespace: rb}]
""")
        self.assertEqual(self.req("GET", "/api/v1/namespaces/rb2/configmaps")[0], 200)
        self.assertEqual(self.req("GET", "/api/v1/namespaces/rb/configmaps")[0], 403)

    def test_watch_authorized(self):
        st, _, _ = self.req("GET", WPATH % "rb" + "?watch=true&timeoutSeconds=1")
        self.assertEqual(st, 200)
        st, body, _ = self.req("GET", "/api/v1/namespaces/rb/secrets?watch=true&timeoutSeconds=1")
        self.assertEqual(st, 403)
        self.assertIn("cannot watch resource", body["message"])


class PersistTest(SimTestCase):

    def test_state_survives_kill_and_restart(self):
        self.widget_crd()
        self.ensure_ns("p")
        tok = self.sim.ctl("mint-token", "p", "sa").strip()
        for i in range(5):
            st, _, _ = self.sim.http("POST", WPATH % "p", widget("p%d" % i, "p"))
            self.assertEqual(st, 201)
        st, body, _ = self.sim.http("GET", WPATH % "p")
        rv = int(body["metadata"]["resourceVersion"])
        self.sim.http("DELETE", WPATH % "p" + "/p4")
        port = self.sim.port
        self.sim.kill()  # SIGKILL: nothing is flushed at exit
        self.sim.start(port=port)
        self.sim.fresh_cache()
        st, body, _ = self.sim.http("GET", WPATH % "p")
        self.assertEqual(st, 200)
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["p0", "p1", "p2", "p3"])
        self.assertGreater(int(body["metadata"]["resourceVersion"]), rv)
        st, w, _ = self.sim.http("POST", WPATH % "p", widget("p9", "p"))
        self.assertGreater(int(w["metadata"]["resourceVersion"]), rv + 1)
        out = self.sim.kubectl("get", "widgets", "-n", "p", "-o", "name").stdout.split()
        self.assertEqual(len(out), 5)
        st, _, _ = self.sim.http("GET", "/api/v1/namespaces", token=tok)
        self.assertEqual(st, 403)  # the token is still known (no RBAC for it)
        # a watch from a resourceVersion before the restart still works
        c, r = self.sim.watch(WPATH % "p" + "?watch=true&timeoutSeconds=2&resourceVersion=%d" % rv)
        evs = read_events(r, max_seconds=3)
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("DELETED", "p4"), ("ADDED", "p9")])
        c.close()
        self.assertEqual(self.sim.stop(), 0)
        self.sim.start()
        st, body, _ = self.sim.http("GET", WPATH % "p" + "/p9")
        self.assertEqual(st, 200)


class StartStopTest(SimTestCase):

    def test_kubeconfig_and_sigterm(self):
        with open(self.sim.kubeconfig) as f:
            kc = f.read()
        self.assertIn("certificate-authority-data:", kc)
        self.assertIn("server: https://127.0.0.1:%d" % self.sim.port, kc)
        self.assertIn("token:", kc)
        s = Sim()
        try:
            self.assertEqual(s.stop(), 0)
        finally:
            s.close()
