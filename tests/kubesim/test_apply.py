"""Server-side apply and managedFields as kube-apiserver v1.36 records them:
one entry per manager and operation in the FieldsV1 format, ownership moved
by updates, 409 conflicts between appliers, force, pruning, and kubectl
apply --server-side."""

import json

from simtest import SimTestCase, widget, WPATH

APPLY = "application/apply-patch+yaml"


def cfg(name, **spec):
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": name, "namespace": "sa"},
            "spec": spec}


def entries(obj):
    return {(e["manager"], e["operation"], e.get("subresource", "")): e for e in obj["metadata"]["managedFields"]}


class ApplyTest(SimTestCase):

    def setUp(self):
        self.widget_crd()
        self.ensure_ns("sa")

    def apply_as(self, manager, body, name, force=None, sub=""):
        q = "?fieldManager=" + manager + ("&force=%s" % force if force is not None else "")
        return self.sim.http("PATCH", WPATH % "sa" + "/" + name + sub + q, body, ctype=APPLY)

    def test_apply_records_managed_fields(self):
        st, obj, _ = self.apply_as("alice", cfg("mf1", size=3, db={"name": "orders", "owner": "o"}, tags=["a"],
                                                users=[{"name": "u1", "kubernetesSecret": {"name": "s"}}]), "mf1")
        self.assertEqual(st, 201, obj)
        [e] = obj["metadata"]["managedFields"]
        self.assertEqual(list(e), ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"])
        self.assertEqual((e["manager"], e["operation"], e["apiVersion"], e["fieldsType"]),
                         ("alice", "Apply", "example.dev/v1", "FieldsV1"))
        self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(e["fieldsV1"], {"f:spec": {
            "f:db": {"f:name": {}, "f:owner": {}}, "f:size": {}, "f:tags": {'v:"a"': {}},
            "f:users": {'k:{"name":"u1"}': {".": {}, "f:kubernetesSecret": {"f:name": {}}, "f:name": {}}}}})
        # served on get and list too
        st, got, _ = self.sim.http("GET", WPATH % "sa" + "/mf1")
        self.assertEqual(got["metadata"]["managedFields"], obj["metadata"]["managedFields"])

    def test_updates_record_update_entries_and_move_ownership(self):
        st, obj, _ = self.sim.http("POST", WPATH % "sa" + "?fieldManager=creator", widget("up1", "sa"))
        self.assertEqual(st, 201, obj)
        e = entries(obj)[("creator", "Update", "")]
        self.assertEqual(e["fieldsV1"], {"f:spec": {".": {}, "f:color": {}, "f:db": {".": {}, "f:name": {},
                                                                                      "f:owner": {}},
                                                    "f:size": {}}})
        st, obj, _ = self.sim.http("PATCH", WPATH % "sa" + "/up1?fieldManager=patcher",
                                   {"metadata": {"labels": {"team": "a"}}, "spec": {"size": 4}},
                                   ctype="application/merge-patch+json")
        es = entries(obj)
        self.assertEqual(es[("patcher", "Update", "")]["fieldsV1"], {
            "f:metadata": {"f:labels": {".": {}, "f:team": {}}}, "f:spec": {"f:size": {}}})
        self.assertNotIn("f:size", es[("creator", "Update", "")]["fieldsV1"]["f:spec"])
        # the status subresource is its own entry; the main resource owns no status
        st, obj, _ = self.sim.http("PATCH", WPATH % "sa" + "/up1/status?fieldManager=patcher",
                                   {"status": {"phase": "Ready"}}, ctype="application/merge-patch+json")
        e = entries(obj)[("patcher", "Update", "status")]
        self.assertEqual((e["subresource"], e["fieldsV1"]), ("status", {"f:status": {".": {}, "f:phase": {}}}))
        # without fieldManager the User-Agent's first part names the manager
        st, obj, _ = self.sim.http("PATCH", WPATH % "sa" + "/up1", {"spec": {"size": 5}},
                                   ctype="application/merge-patch+json", headers={"User-Agent": "agent/1.0 (x)"})
        self.assertIn(("agent", "Update", ""), entries(obj))
        # an update that changes nothing changes no entry
        st, again, _ = self.sim.http("PATCH", WPATH % "sa" + "/up1?fieldManager=idle", {"spec": {"size": 5}},
                                     ctype="application/merge-patch+json")
        self.assertEqual(again["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"])
        self.assertNotIn(("idle", "Update", ""), entries(again))

    def test_second_applier_conflict_is_409(self):
        self.apply_as("alice", cfg("cf1", size=3, db={"name": "orders", "owner": "o"}), "cf1")
        st, out, _ = self.apply_as("bob", cfg("cf1", size=4), "cf1")
        self.assertEqual(st, 409)
        self.assertEqual(out, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": 'Apply failed with 1 conflict: conflict with "alice": .spec.size',
                               "reason": "Conflict", "code": 409, "details": {"causes": [
                                   {"reason": "FieldManagerConflict", "message": 'conflict with "alice"',
                                    "field": ".spec.size"}]}})
        st, out, _ = self.apply_as("bob", cfg("cf1", size=4), "cf1", force="false")
        self.assertEqual(st, 409)
        # the same value is shared ownership, no conflict
        st, out, _ = self.apply_as("bob", cfg("cf1", size=3), "cf1")
        self.assertEqual(st, 200, out)
        es = entries(out)
        self.assertIn("f:size", es[("alice", "Apply", "")]["fieldsV1"]["f:spec"])
        self.assertIn("f:size", es[("bob", "Apply", "")]["fieldsV1"]["f:spec"])
        # force takes the field
        st, out, _ = self.apply_as("bob", cfg("cf1", size=6), "cf1", force="true")
        self.assertEqual((st, out["spec"]["size"]), (200, 6))
        es = entries(out)
        self.assertNotIn("f:size", es[("alice", "Apply", "")]["fieldsV1"]["f:spec"])
        self.assertEqual(es[("bob", "Apply", "")]["fieldsV1"], {"f:spec": {"f:size": {}}})

    def test_conflicts_with_an_updater_and_several_fields(self):
        self.sim.http("POST", WPATH % "sa" + "?fieldManager=creator", widget("cf2", "sa"))
        st, out, _ = self.apply_as("bob", cfg("cf2", size=9, color="blue"), "cf2")
        self.assertEqual(st, 409)
        self.assertEqual(out["message"], 'Apply failed with 2 conflicts: conflicts with "creator" using '
                         'example.dev/v1:\n- .spec.color\n- .spec.size')
        self.assertEqual([c["field"] for c in out["details"]["causes"]], [".spec.color", ".spec.size"])
        self.assertEqual(out["details"]["causes"][0]["message"], 'conflict with "creator" using example.dev/v1')

    def test_apply_drops_fields_the_applier_stopped_applying(self):
        self.apply_as("alice", cfg("pr1", size=3, db={"name": "orders", "owner": "o"}, tags=["a", "b"]), "pr1")
        st, out, _ = self.apply_as("alice", cfg("pr1", size=3, db={"name": "orders", "owner": "o"}, tags=["a"]),
                                   "pr1")
        self.assertEqual(out["spec"]["tags"], ["a"])
        # a field no longer applied is removed (and here defaulted again)
        st, out, _ = self.apply_as("alice", cfg("pr1", size=3, db={"name": "orders", "owner": "o"}, tags=["a"],
                                                color="blue"), "pr1")
        self.assertEqual(out["spec"]["color"], "blue")
        st, out, _ = self.apply_as("alice", cfg("pr1", size=3, db={"name": "orders", "owner": "o"}, tags=["a"]),
                                   "pr1")
        self.assertEqual(out["spec"]["color"], "red")
        # a field someone else also owns stays
        self.apply_as("bob", {"apiVersion": "example.dev/v1", "kind": "Widget", "spec": {"tags": ["a"]}}, "pr1")
        st, out, _ = self.apply_as("alice", cfg("pr1", size=3, db={"name": "orders", "owner": "o"}), "pr1")
        self.assertEqual((st, out["spec"]["tags"]), (200, ["a"]))

    def test_apply_options_are_checked(self):
        st, out, _ = self.sim.http("PATCH", WPATH % "sa" + "/opt", cfg("opt", size=3), ctype=APPLY)
        self.assertEqual((st, out["message"]), (422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                                     'Required value: is required for apply patch'))
        self.assertEqual(out["details"]["group"], "meta.k8s.io")
        st, out, _ = self.sim.http("PATCH", WPATH % "sa" + "/opt?force=true", {"spec": {"size": 3}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((st, out["message"]), (422, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: '
                                                     'may not be specified for non-apply patch'))
        st, out, _ = self.sim.http("POST", WPATH % "sa" + "?fieldManager=" + "m" * 129, widget("opt", "sa"))
        self.assertEqual((st, out["message"]), (422, 'CreateOptions.meta.k8s.io "" is invalid: fieldManager: '
                                                     'Too long: may not be more than 128 bytes'))

    def test_apply_to_status_and_before_first_apply(self):
        st, obj, _ = self.sim.http("POST", WPATH % "sa" + "?fieldManager=creator", widget("st1", "sa"))
        # drop the managed fields: the next apply gives what exists to "before-first-apply"
        obj["metadata"]["managedFields"] = [{}]
        st, obj, _ = self.sim.http("PUT", WPATH % "sa" + "/st1", obj)
        self.assertNotIn("managedFields", obj["metadata"])
        st, out, _ = self.apply_as("ctl", cfg("st1", size=4), "st1")
        self.assertEqual((st, out["message"]), (409, 'Apply failed with 1 conflict: conflict with '
                                                     '"before-first-apply" using example.dev/v1: .spec.size'))
        st, obj, _ = self.apply_as("ctl", cfg("st1", size=3), "st1")
        es = entries(obj)
        self.assertIn("f:size", es[("before-first-apply", "Update", "")]["fieldsV1"]["f:spec"])
        self.assertEqual(es[("ctl", "Apply", "")]["fieldsV1"], {"f:spec": {"f:size": {}}})
        # an apply to /status owns status fields only, as its own entry
        st, obj, _ = self.apply_as("ctl", {"apiVersion": "example.dev/v1", "kind": "Widget",
                                           "spec": {"size": 9}, "status": {"phase": "Ready"}}, "st1", sub="/status")
        self.assertEqual((st, obj["status"], obj["spec"]["size"]), (200, {"phase": "Ready"}, 3), obj)
        e = entries(obj)[("ctl", "Apply", "status")]
        self.assertEqual((e["subresource"], e["fieldsV1"]), ("status", {"f:status": {"f:phase": {}}}))

    def test_kubectl_server_side_apply(self):
        y = ("apiVersion: example.dev/v1\nkind: Widget\nmetadata: {name: k1, namespace: sa}\n"
             "spec: {size: 3, db: {name: orders, owner: o}}\n")
        p = self.sim.kubectl("apply", "--server-side", "-f", "-", input=y)
        self.assertIn("widget.example.dev/k1 serverside-applied", p.stdout)
        obj = json.loads(self.sim.kubectl("get", "widget", "k1", "-n", "sa", "-o", "json",
                                          "--show-managed-fields").stdout)
        self.assertEqual([(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]],
                         [("kubectl", "Apply")])
        p = self.sim.kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                             input=y.replace("size: 3", "size: 4"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('Apply failed with 1 conflict: conflict with "kubectl": .spec.size', p.stderr)
        p = self.sim.kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
                             input=y.replace("size: 3", "size: 4"))
        obj = json.loads(self.sim.kubectl("get", "widget", "k1", "-n", "sa", "-o", "json",
                                          "--show-managed-fields").stdout)
        self.assertEqual(obj["spec"]["size"], 4)
        self.assertEqual({e["manager"] for e in obj["metadata"]["managedFields"]}, {"kubectl", "other"})

    def test_kubectl_client_side_then_server_side_apply(self):
        y = ("apiVersion: example.dev/v1\nkind: Widget\nmetadata: {name: k2, namespace: sa}\n"
             "spec: {size: 3, db: {name: orders, owner: o}}\n")
        self.sim.kubectl("apply", "-f", "-", input=y)
        obj = json.loads(self.sim.kubectl("get", "widget", "k2", "-n", "sa", "-o", "json",
                                          "--show-managed-fields").stdout)
        self.assertEqual([(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]],
                         [("kubectl-client-side-apply", "Update")])
        # fields still as last applied client-side are taken over without a conflict
        p = self.sim.kubectl("apply", "--server-side", "-f", "-", input=y.replace("size: 3", "size: 5"))
        self.assertIn("serverside-applied", p.stdout)
        obj = json.loads(self.sim.kubectl("get", "widget", "k2", "-n", "sa", "-o", "json").stdout)
        self.assertEqual(obj["spec"]["size"], 5)
        last = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
        self.assertEqual(last["spec"]["size"], 5)

    def test_built_in_kinds_keyed_lists_and_maps(self):
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}}, "template": {
                   "metadata": {"labels": {"app": "d"}},
                   "spec": {"containers": [{"name": "c", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]}}}}
        path = "/apis/apps/v1/namespaces/sa/deployments/d1?fieldManager=ops"
        st, obj, _ = self.sim.http("PATCH", path, dep, ctype=APPLY)
        self.assertEqual(st, 201, obj)
        self.assertEqual(obj["metadata"]["managedFields"][0]["fieldsV1"], {"f:spec": {
            "f:replicas": {}, "f:selector": {"f:matchLabels": {"f:app": {}}},
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
                'k:{"name":"c"}': {".": {}, "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                                   "f:image": {}, "f:name": {}}}}}}})
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a": "1"}}
        st, obj, _ = self.sim.http("POST", "/api/v1/namespaces/sa/configmaps?fieldManager=mk", cm)
        self.assertEqual(obj["metadata"]["managedFields"][0]["fieldsV1"], {"f:data": {".": {}, "f:a": {}}})
