"""The real kubectl against kubesim: every command of issue point 3."""

import json
import os
import subprocess
import time

from simtest import SimTestCase, TESTDATA, KUBECTL

W1 = """
apiVersion: example.dev/v1
kind: Widget
metadata:
  name: w1
  namespace: kc
  labels: {app: demo}
spec:
  size: 3
  db: {name: orders, owner: orders_owner}
"""


class KubectlTest(SimTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim.kubectl("apply", "-f", os.path.join(TESTDATA, "widget-crd.yaml"))
        cls.sim.kubectl("create", "namespace", "kc")

    def test_apply_creates_then_updates_and_is_idempotent(self):
        out = self.apply(W1.replace("w1", "wa")).stdout
        self.assertIn("widget.example.dev/wa created", out)
        out = self.apply(W1.replace("w1", "wa")).stdout
        self.assertIn("widget.example.dev/wa unchanged", out)
        out = self.apply(W1.replace("w1", "wa").replace("size: 3", "size: 4")).stdout
        self.assertIn("widget.example.dev/wa configured", out)
        obj = json.loads(self.sim.kubectl("get", "widget", "wa", "-n", "kc", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["size"], 4)
        self.assertEqual(obj["metadata"]["generation"], 2)
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration", obj["metadata"]["annotations"])

    def test_get_table_has_printer_columns(self):
        self.apply(W1.replace("w1", "wt"))
        out = self.sim.kubectl("get", "widgets", "-n", "kc").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "SIZE", "OWNER", "READY", "AGE"])
        row = [line for line in out if line.startswith("wt ")][0].split()
        self.assertEqual(row[:3], ["wt", "3", "orders_owner"])
        out = self.sim.kubectl("get", "wdg", "-A").stdout.splitlines()
        self.assertEqual(out[0].split()[:2], ["NAMESPACE", "NAME"])
        out = self.sim.kubectl("get", "example", "-n", "kc", "-o", "name").stdout
        self.assertIn("widget.example.dev/wt", out)

    def test_get_json_and_yaml(self):
        self.apply(W1.replace("w1", "wj"))
        obj = json.loads(self.sim.kubectl("get", "widget", "wj", "-n", "kc", "-o", "json").stdout)
        self.assertEqual(obj["kind"], "Widget")
        self.assertEqual(obj["spec"]["color"], "red")  # schema default
        y = self.sim.kubectl("get", "widget", "wj", "-n", "kc", "-o", "yaml").stdout
        self.assertIn("kind: Widget", y)
        self.assertIn("uid:", y)
        lst = json.loads(self.sim.kubectl("get", "widgets", "-n", "kc", "-o", "json").stdout)
        self.assertIn("wj", [i["metadata"]["name"] for i in lst["items"]])

    def test_patch_status_and_wait_for_condition(self):
        self.apply(W1.replace("w1", "ws"))
        waiter = subprocess.Popen([KUBECTL, "--kubeconfig", self.sim.kubeconfig, "--cache-dir", self.sim.cache,
                                   "wait", "--for=condition=Ready", "widget/ws", "-n", "kc", "--timeout=20s"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        self.sim.kubectl("patch", "widget", "ws", "-n", "kc", "--subresource=status", "--type=merge", "-p",
                         '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Provisioned"}]}}')
        out, err = waiter.communicate(timeout=30)
        self.assertEqual(waiter.returncode, 0, err)
        self.assertIn("condition met", out)
        row = self.sim.kubectl("get", "widget", "ws", "-n", "kc", "--no-headers").stdout.split()
        self.assertEqual(row[3], "True")
        obj = json.loads(self.sim.kubectl("get", "widget", "ws", "-n", "kc", "-o", "json").stdout)
        self.assertEqual(obj["metadata"]["generation"], 1)

    def test_wait_times_out_when_not_ready(self):
        self.apply(W1.replace("w1", "wn"))
        p = self.sim.kubectl("wait", "--for=condition=Ready", "widget/wn", "-n", "kc", "--timeout=1s", check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_describe_shows_events(self):
        self.apply(W1.replace("w1", "wd"))
        uid = self.sim.kubectl("get", "widget", "wd", "-n", "kc", "-o", "jsonpath={.metadata.uid}").stdout
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "wd.", "namespace": "kc"},
              "involvedObject": {"apiVersion": "example.dev/v1", "kind": "Widget", "name": "wd",
                                 "namespace": "kc", "uid": uid},
              "reason": "Provisioned", "message": "database orders ready", "type": "Normal",
              "source": {"component": "appdb-operator"}, "firstTimestamp": "2026-01-01T00:00:00Z",
              "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1}
        st, body, _ = self.sim.http("POST", "/api/v1/namespaces/kc/events", ev)
        self.assertEqual(st, 201, body)
        other = dict(ev, involvedObject=dict(ev["involvedObject"], uid="other"), message="not mine")
        self.sim.http("POST", "/api/v1/namespaces/kc/events", other)
        out = self.sim.kubectl("describe", "widget", "wd", "-n", "kc").stdout
        self.assertIn("Provisioned", out)
        self.assertIn("database orders ready", out)
        self.assertIn("appdb-operator", out)
        self.assertNotIn("not mine", out)
        out = self.sim.kubectl("get", "events", "-n", "kc").stdout
        self.assertIn("widget/wd", out)

    def test_annotate_and_label(self):
        self.apply(W1.replace("w1", "wan"))
        self.sim.kubectl("annotate", "widget", "wan", "-n", "kc", "example.dev/approved-by=jane")
        self.sim.kubectl("label", "widget", "wan", "-n", "kc", "tier=gold")
        obj = json.loads(self.sim.kubectl("get", "widget", "wan", "-n", "kc", "-o", "json").stdout)
        self.assertEqual(obj["metadata"]["annotations"]["example.dev/approved-by"], "jane")
        self.assertEqual(obj["metadata"]["labels"]["tier"], "gold")
        self.assertEqual(obj["metadata"]["generation"], 1)
        out = self.sim.kubectl("get", "widgets", "-n", "kc", "-l", "tier=gold", "-o", "name").stdout.split()
        self.assertEqual(out, ["widget.example.dev/wan"])

    def test_apply_dry_run_server_changes_nothing(self):
        out = self.apply(W1.replace("w1", "wdry"), "--dry-run=server").stdout
        self.assertIn("created (server dry run)", out)
        p = self.sim.kubectl("get", "widget", "wdry", "-n", "kc", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NotFound", p.stderr)
        p = self.sim.kubectl("apply", "-f", "-", "--dry-run=server", check=False,
                             input=W1.replace("w1", "wdry").replace("size: 3", "size: 99"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("spec.size", p.stderr)

    def test_apply_invalid_is_rejected_with_field(self):
        p = self.sim.kubectl("apply", "-f", "-", input=W1.replace("w1", "wbad").replace("size: 3", "size: 99"),
                             check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("spec.size", p.stderr)
        self.assertIn("less than or equal to 10", p.stderr)
        p = self.sim.kubectl("apply", "-f", "-", input=W1.replace("w1", "wbad").replace("size: 3",
                                                                                        "size: 3\n  bogus: 1"),
                             check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('unknown field "spec.bogus"', p.stderr)

    def test_apply_server_side(self):
        p = self.apply(W1.replace("w1", "wss"), "--server-side")
        self.assertIn("serverside-applied", p.stdout)
        p = self.apply(W1.replace("w1", "wss").replace("size: 3", "size: 5"), "--server-side")
        obj = json.loads(self.sim.kubectl("get", "widget", "wss", "-n", "kc", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["size"], 5)

    def test_delete_and_get_watch(self):
        self.apply(W1.replace("w1", "wdel"))
        w = subprocess.Popen([KUBECTL, "--kubeconfig", self.sim.kubeconfig, "--cache-dir", self.sim.cache,
                              "get", "widgets", "-n", "kc", "-w", "--output-watch-events", "--request-timeout=6s"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.sim.kubectl("label", "widget", "wdel", "-n", "kc", "x=y")
        out = self.sim.kubectl("delete", "widget", "wdel", "-n", "kc").stdout
        self.assertIn('widget.example.dev "wdel" deleted', out)
        p = self.sim.kubectl("get", "widget", "wdel", "-n", "kc", check=False)
        self.assertIn("NotFound", p.stderr)
        time.sleep(0.5)
        w.terminate()
        out, _ = w.communicate(timeout=10)
        lines = [line.split()[:2] for line in out.splitlines()]
        self.assertIn(["MODIFIED", "wdel"], lines)
        self.assertIn(["DELETED", "wdel"], lines)

    def test_builtin_kinds_with_create_and_apply(self):
        self.sim.kubectl("create", "secret", "generic", "pw", "-n", "kc", "--from-literal=password=s3cret")
        self.sim.kubectl("create", "configmap", "cfg", "-n", "kc", "--from-literal=a=b")
        self.sim.kubectl("create", "serviceaccount", "bot", "-n", "kc")
        out = self.sim.kubectl("get", "secret", "pw", "-n", "kc").stdout.split("\n")[1].split()
        self.assertEqual(out[:3], ["pw", "Opaque", "1"])
        out = self.sim.kubectl("get", "secret", "pw", "-n", "kc", "-o", "jsonpath={.data.password}").stdout
        self.assertEqual(out, "czNjcmV0")
        # strategic merge patch by kubectl apply on a built-in kind
        dep = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: op, namespace: kc}
spec:
  replicas: 1
  selector: {matchLabels: {app: op}}
  template:
    metadata: {labels: {app: op}}
    spec:
      containers:
      - name: op
        image: op:1
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
"""
        self.apply(dep)
        self.apply(dep.replace("op:1", "op:2").replace(', {name: B, value: "2"}', ""))
        obj = json.loads(self.sim.kubectl("get", "deploy", "op", "-n", "kc", "-o", "json").stdout)
        c = obj["spec"]["template"]["spec"]["containers"]
        self.assertEqual(c[0]["image"], "op:2")
        self.assertEqual([e["name"] for e in c[0]["env"]], ["A"])
        self.assertEqual(obj["metadata"]["generation"], 2)
        out = self.sim.kubectl("get", "deploy", "-n", "kc").stdout
        self.assertIn("UP-TO-DATE", out)

    def test_describe_builtin_and_namespace_delete(self):
        self.sim.kubectl("create", "namespace", "gone")
        self.sim.kubectl("create", "configmap", "c", "-n", "gone", "--from-literal=a=b")
        out = self.sim.kubectl("describe", "configmap", "c", "-n", "gone").stdout
        self.assertIn("Name:", out)
        self.assertIn("c", out)
        self.sim.kubectl("delete", "namespace", "gone", timeout=30)
        p = self.sim.kubectl("get", "namespace", "gone", check=False)
        self.assertIn("NotFound", p.stderr)
        p = self.sim.kubectl("get", "configmap", "c", "-n", "gone", check=False)
        self.assertIn("NotFound", p.stderr)

    def test_auth_can_i_with_impersonation(self):
        self.sim.kubectl("create", "serviceaccount", "reader", "-n", "kc")
        self.sim.kubectl("create", "role", "read-widgets", "-n", "kc", "--verb=get,list,watch",
                         "--resource=widgets.example.dev")
        self.sim.kubectl("create", "rolebinding", "reader", "-n", "kc", "--role=read-widgets",
                         "--serviceaccount=kc:reader")
        who = "--as=system:serviceaccount:kc:reader"
        self.assertEqual(self.sim.kubectl("auth", "can-i", "list", "widgets.example.dev", "-n", "kc",
                                          who).stdout.strip(), "yes")
        p = self.sim.kubectl("auth", "can-i", "delete", "widgets.example.dev", "-n", "kc", who, check=False)
        self.assertEqual(p.stdout.strip(), "no")
        p = self.sim.kubectl("get", "secrets", "-n", "kc", who, check=False)
        self.assertIn("Forbidden", p.stderr)
        self.assertIn('cannot list resource "secrets" in API group "" in the namespace "kc"', p.stderr)

    def test_crd_delete_removes_resource(self):
        crd = open(os.path.join(TESTDATA, "widget-crd.yaml")).read()
        crd = crd.replace("widgets", "gadgets").replace("widget", "gadget").replace("Widget", "Gadget") \
            .replace("wdg", "gdg").replace("[example]", "[]")
        self.apply(crd)
        self.apply(W1.replace("Widget", "Gadget").replace("w1", "g1"))
        self.assertIn("g1", self.sim.kubectl("get", "gadgets", "-n", "kc").stdout)
        self.sim.kubectl("delete", "crd", "gadgets.example.dev")
        self.sim.fresh_cache()
        p = self.sim.kubectl("get", "gadgets", "-n", "kc", check=False)
        self.assertNotEqual(p.returncode, 0)
        st, _, _ = self.sim.http("GET", "/apis/example.dev/v1/namespaces/kc/gadgets")
        self.assertEqual(st, 404)
