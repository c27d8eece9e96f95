"""Outages and API faults: the disk cache keeps reconciling while the API is
down (also across a restart), buffered status and Events arrive when it
returns; 410, 409, 429 and 5xx are handled; SIGTERM mid-reconcile; two
replicas with leader election; a rotated service-account token."""
import base64
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, appdb, secret, docs  # noqa: E402
from e2e import CRD, KubeSim, Operator, condition, wait_until  # noqa: E402
from test_controller import namespace, ready, resource  # noqa: E402


def events_of(sim, ns):
    r = sim.kubectl("get", "events", "-n", ns, "-o", "json")
    return json.loads(r.stdout)["items"]


class Fixture(unittest.TestCase):
    extra = "resyncSeconds: 30\n"

    def setUp(self):
        self.pg = PgServer()
        self.sim = KubeSim()
        self.sim.kubectl("apply", "-f", CRD)
        self.ops = []

    def operator(self, name="op", extra=None, env=None, **kw):
        op = Operator(self.pg, self.sim, "dev", extra if extra is not None else self.extra,
                      name=name, **kw)
        self.ops.append(op)
        return op.start(env)

    def tearDown(self):
        failed = any(e for _, e in getattr(self._outcome, "errors", []) if e) or \
            not getattr(self._outcome, "success", True)
        for op in self.ops:
            if failed:
                sys.stderr.write("---- %s log ----\n%s\n" % (op.name, op.output()[-3000:]))
            op.cleanup()
        self.sim.cleanup()
        self.pg.stop()


class TestOutage(Fixture):
    def test_api_and_database_down(self):
        op = self.operator()
        self.sim.apply(resource("first", "team-o"))
        wait_until(ready(self.sim, "first", "team-o"), 60, what="first Ready")
        # PostgreSQL goes away; a new resource arrives and cannot be provisioned.
        self.pg.pause()
        self.sim.apply(resource("second", "team-o"))

        def unreachable():
            o = self.sim.get("appdb", "second", "team-o")
            c = condition(o, "Ready")
            return o if c and c["reason"] == "DatabaseUnreachable" else None
        obj = wait_until(unreachable, 60, what="DatabaseUnreachable")
        self.assertEqual(condition(obj, "Reconciling")["status"], "True")
        # The API goes away too; then PostgreSQL comes back.
        self.sim.ctl("down")
        time.sleep(1)
        self.pg.resume()
        wait_until(lambda: self.pg.database_exists("second"), 90,
                   what="provisioned from the cache while the API is down")
        # The API comes back: the status becomes Ready and the kept Event arrives.
        self.sim.ctl("up")
        wait_until(ready(self.sim, "second", "team-o"), 60, what="Ready after the API returns")
        wait_until(lambda: any(e["reason"] == "Provisioned" and
                               e["involvedObject"]["name"] == "second"
                               for e in events_of(self.sim, "team-o")), 60,
                   what="the buffered Provisioned Event")
        self.assertIn("unreachable", op.output())

    def test_restart_while_api_down(self):
        op = self.operator()
        self.sim.apply(resource("keep", "team-r"))
        wait_until(ready(self.sim, "keep", "team-r"), 60, what="keep Ready")
        self.pg.pause()
        # Kubernetes Secrets are kept in memory only: after a restart with the API
        # down, a resource whose users read them waits; one without users proceeds.
        self.sim.apply(resource("later", "team-r", users=0))
        self.sim.apply(resource("waits", "team-r", users=1))
        for name in ("later", "waits"):
            wait_until(lambda: os.path.exists(
                os.path.join(op.cache, "appdb.team-r_%s.json" % name)), 30,
                what="%s in the cache" % name)
        self.sim.ctl("down")
        self.assertEqual(op.stop(signal.SIGTERM), 0)
        self.pg.resume()
        op.start()
        wait_until(lambda: self.pg.database_exists("later"), 90,
                   what="provisioned from the disk cache after a restart")
        code, _ = op.http("/healthz")
        self.assertEqual(code, 200, "liveness holds while the API is down")
        self.assertEqual(op.http("/readyz")[0], 200, "ready from the disk cache")
        wait_until(lambda: "has not been read yet" in op.output(), 30,
                   what="a log line saying why 'waits' waits")
        self.assertFalse(self.pg.database_exists("waits"))
        self.sim.ctl("up")
        wait_until(ready(self.sim, "later", "team-r"), 60, what="Ready after the API returns")
        wait_until(ready(self.sim, "waits", "team-r"), 90, what="waits Ready after the API returns")


class TestApiFaults(Fixture):
    def test_gone_conflict_throttle_and_errors(self):
        op = self.operator()
        self.sim.apply(resource("one", "team-f"))
        wait_until(ready(self.sim, "one", "team-f"), 60, what="one Ready")
        # 410: the history is compacted and watches cut; a change made meanwhile is not missed.
        self.sim.ctl("pause-events")
        self.sim.apply(resource("two", "team-f"))
        self.sim.ctl("compact")
        self.sim.ctl("cut-watches")
        self.sim.ctl("resume-events")
        wait_until(ready(self.sim, "two", "team-f"), 60, what="two Ready after 410")
        # 409 on the status: retried on a fresh read.
        self.sim.ctl("clear-requests")
        self.sim.ctl("fail-next", 1, "PATCH", "appdatabases/three/status", 409)
        self.sim.apply(resource("three", "team-f"))
        wait_until(ready(self.sim, "three", "team-f"), 60, what="three Ready after 409")
        patches = [r["status"] for r in self.sim.requests()
                   if r["method"] == "PATCH" and r["path"].endswith("/three/status")]
        self.assertEqual(patches[:2], [409, 200])
        # 429 with Retry-After on the watch's list: honoured.
        self.sim.ctl("clear-requests")
        self.sim.ctl("fail-next", 1, "GET", "^/apis/db.platform.dev/v1alpha1/appdatabases\\?", 429, 2)
        self.sim.ctl("cut-watches")

        def lists():
            return [r for r in self.sim.requests() if r["method"] == "GET" and
                    r["path"] == "/apis/db.platform.dev/v1alpha1/appdatabases" and
                    "watch" not in r["query"]]
        wait_until(lambda: len(lists()) >= 2, 30, what="a list after the 429")
        lists = lists()
        self.assertEqual(lists[0]["status"], 429)
        self.assertGreaterEqual(lists[1]["ts"] - lists[0]["ts"], 1.9, "Retry-After not honoured")
        # A burst of 503s: backoff, then it works.
        self.sim.ctl("fail-next", 4, "GET", "^/apis/db.platform.dev/v1alpha1/appdatabases\\?", 503)
        self.sim.ctl("cut-watches")
        self.sim.apply(resource("four", "team-f"))
        wait_until(ready(self.sim, "four", "team-f"), 90, what="four Ready after 503s")


class TestStopAndLeader(Fixture):
    def test_sigterm_during_a_reconcile(self):
        op = self.operator(extra="resyncSeconds: 30\nleaderElection: {enabled: true, "
                           "leaseDurationSeconds: 4, renewDeadlineSeconds: 3, "
                           "retryPeriodSeconds: 1}\n", env={"POD_NAME": "op-1",
                                                            "POD_NAMESPACE": "default"})
        wait_until(lambda: (self.sim.get("lease", "appdb-operator", "default") or {})
                   .get("spec", {}).get("holderIdentity") == "op-1", 30, what="leadership")
        # Hold the resource's advisory lock so its reconcile waits inside the engine.
        import subprocess
        key = 2166136261
        for ch in b"slow":
            key = ((key ^ ch) * 16777619) & 0xFFFFFFFF
        key = key - (1 << 32) if key >= (1 << 31) else key
        holder = subprocess.Popen(
            ["psql", "-X", "-q", "-h", self.pg.env["PGSOCK"], "-p", str(self.pg.port), "-U",
             "postgres", "-d", "postgres"], stdin=subprocess.PIPE, text=True,
            user="postgres" if os.geteuid() == 0 else None)
        holder.stdin.write("select pg_advisory_lock(%d, %d);\n" % (0x61706462, key))
        holder.stdin.flush()
        time.sleep(1)
        self.sim.apply(resource("slow", "team-s"))
        wait_until(lambda: "slow" in op.output() or
                   any("slow" in r["path"] and r["path"].endswith("/secrets/slow-db")
                       for r in self.sim.requests()), 30, what="the reconcile to start")
        time.sleep(1)
        op.send(signal.SIGTERM)
        time.sleep(1)
        self.assertIsNone(op.proc.poll(), "exited before its reconcile finished")
        holder.stdin.write("select pg_advisory_unlock_all();\n\\q\n")
        holder.stdin.flush()
        holder.wait(10)
        code = op.stop(timeout=60)
        self.assertEqual(code, 0)
        self.assertTrue(self.pg.database_exists("slow"), "the running reconcile finished")
        lease = self.sim.get("lease", "appdb-operator", "default")
        self.assertFalse(lease["spec"].get("holderIdentity"), "the Lease was not released")

    def test_two_replicas_one_leader(self):
        le = ("resyncSeconds: 30\nleaderElection: {enabled: true, leaseDurationSeconds: 4, "
              "renewDeadlineSeconds: 3, retryPeriodSeconds: 1}\n")
        a = self.operator("op-a", extra=le, env={"POD_NAME": "op-a", "POD_NAMESPACE": "default"})
        b = self.operator("op-b", extra=le, env={"POD_NAME": "op-b", "POD_NAMESPACE": "default"})
        holder = wait_until(lambda: (self.sim.get("lease", "appdb-operator", "default") or {})
                            .get("spec", {}).get("holderIdentity"), 30, what="a leader")
        leader, standby = (a, b) if holder == "op-a" else (b, a)
        self.sim.apply(resource("led", "team-l"))
        wait_until(ready(self.sim, "led", "team-l"), 60, what="led Ready")
        self.assertTrue(any(x["resource"] == "team-l/led" for x in leader.audit()))
        self.assertFalse(any(x["resource"] == "team-l/led" for x in standby.audit()),
                         "the standby reconciled while the leader was alive")
        leader.stop(signal.SIGKILL)
        killed = time.monotonic()
        self.sim.apply(resource("after", "team-l"))
        wait_until(ready(self.sim, "after", "team-l"), 60, what="the standby takes over")
        took = time.monotonic() - killed
        print("take-over after SIGKILL of the leader: %.1f s" % took, file=sys.stderr)
        slow = float(os.environ.get("APPDB_E2E_SLOW") or 1)  # under valgrind
        self.assertLess(took, (4 + 3 + 5) * slow,
                        "take-over slower than a lease duration plus a retry")
        self.assertTrue(any(x["resource"] == "team-l/after" for x in standby.audit()))


class TestServiceAccountToken(Fixture):
    def test_rotated_token_file_is_used(self):
        # In-cluster mode: the service-account directory with token, CA and namespace.
        self.sim.apply(docs(
            json.dumps({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "appdb", "namespace": "default"}}),
            json.dumps({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                        "metadata": {"name": "appdb-all"},
                        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            json.dumps({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                        "metadata": {"name": "appdb-all"},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                    "name": "appdb-all"},
                        "subjects": [{"kind": "ServiceAccount", "name": "appdb",
                                      "namespace": "default"}]})))
        sa = os.path.join(self.sim.dir, "sa")
        os.makedirs(sa)
        token = self.sim.ctl("mint-token", "default", "appdb").strip()
        with open(os.path.join(sa, "token"), "w") as f:
            f.write(token)
        with open(os.path.join(sa, "namespace"), "w") as f:
            f.write("default")
        kc = open(self.sim.kubeconfig).read()
        import re
        ca = re.search(r"certificate-authority-data:\s*(\S+)", kc).group(1)
        with open(os.path.join(sa, "ca.crt"), "wb") as f:
            f.write(base64.b64decode(ca))
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(self.sim.port),
               "APPDB_SERVICEACCOUNT_DIR": sa, "KUBECONFIG": "/nonexistent"}
        op = Operator(self.pg, self.sim, "dev", self.extra, name="op-sa")
        self.ops.append(op)
        op.start(env, kubeconfig=False)
        self.sim.apply(resource("tok", "team-t"))
        wait_until(ready(self.sim, "tok", "team-t"), 60, what="Ready with the first token")
        new = self.sim.ctl("rotate-token", "default", "appdb").strip()
        self.assertNotEqual(new, token)
        tmp = os.path.join(sa, "token.new")
        with open(tmp, "w") as f:
            f.write(new)
        os.rename(tmp, os.path.join(sa, "token"))
        self.sim.ctl("clear-requests")
        self.sim.apply(resource("tok2", "team-t"))
        wait_until(ready(self.sim, "tok2", "team-t"), 90, what="Ready with the rotated token")
        users = {r["user"] for r in self.sim.requests() if r["status"] < 300}
        self.assertIn("system:serviceaccount:default:appdb", users)


if __name__ == "__main__":
    unittest.main()
