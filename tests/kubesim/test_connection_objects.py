"""The calls the operator makes for spec.connection, answered as
kube-apiserver v1.36 answers them: ConfigMaps and Secrets created with
ownerReferences, read, replaced with the resourceVersion read (a stale one
is a 409 Conflict), the 404 and 409 bodies, and the ownerReferences rules."""

from simtest import SimTestCase

CM = "/api/v1/namespaces/conn/configmaps"
SEC = "/api/v1/namespaces/conn/secrets"
OWNER = {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase", "name": "orders",
         "uid": "6f1c2f0e-7d3a-4c55-9a57-0d6b1f3a9e21", "controller": True}


def cm(name, data, owners=(OWNER,), rv=None):
    md = {"name": name, "namespace": "conn", "ownerReferences": list(owners)}
    if rv is not None:
        md["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data}


class ConnectionObjectsTest(SimTestCase):

    def setUp(self):
        self.ensure_ns("conn")

    def test_create_read_replace_with_resource_version(self):
        st, a, _ = self.sim.http("POST", CM, cm("c1", {"host": "h", "extra": "x"}))
        self.assertEqual(st, 201, a)
        self.assertEqual(a["metadata"]["ownerReferences"], [OWNER])
        st, g, _ = self.sim.http("GET", CM + "/c1")
        self.assertEqual((st, g["metadata"]["resourceVersion"]), (200, a["metadata"]["resourceVersion"]))
        # A PUT replaces data: a key left out is gone.
        st, b, _ = self.sim.http("PUT", CM + "/c1", cm("c1", {"host": "h2"}, rv=a["metadata"]["resourceVersion"]))
        self.assertEqual((st, b["data"]), (200, {"host": "h2"}))
        self.assertNotEqual(b["metadata"]["resourceVersion"], a["metadata"]["resourceVersion"])
        # The same object again: nothing changes, not even the resourceVersion.
        st, c, _ = self.sim.http("PUT", CM + "/c1", cm("c1", {"host": "h2"}, rv=b["metadata"]["resourceVersion"]))
        self.assertEqual((st, c["metadata"]["resourceVersion"]), (200, b["metadata"]["resourceVersion"]))
        # A stale resourceVersion: 409 Conflict, as the apiserver words it.
        st, body, _ = self.sim.http("PUT", CM + "/c1", cm("c1", {"host": "h3"}, rv=a["metadata"]["resourceVersion"]))
        self.assertEqual((st, body["kind"], body["status"], body["reason"], body["code"]),
                         (409, "Status", "Failure", "Conflict", 409))
        self.assertEqual(body["message"], 'Operation cannot be fulfilled on configmaps "c1": the object has been '
                                          'modified; please apply your changes to the latest version and try again')
        self.assertEqual(body["details"], {"name": "c1", "kind": "configmaps"})
        # ConfigMaps allow an unconditional update (no resourceVersion).
        st, d, _ = self.sim.http("PUT", CM + "/c1", cm("c1", {"host": "h4"}))
        self.assertEqual((st, d["data"]), (200, {"host": "h4"}))

    def test_not_found_and_already_exists_bodies(self):
        st, body, _ = self.sim.http("GET", CM + "/nope")
        self.assertEqual((st, body["reason"], body["message"], body["details"]),
                         (404, "NotFound", 'configmaps "nope" not found', {"name": "nope", "kind": "configmaps"}))
        # An update never creates a ConfigMap (AllowCreateOnUpdate is false).
        st, body, _ = self.sim.http("PUT", CM + "/nope", cm("nope", {"a": "b"}))
        self.assertEqual((st, body["reason"]), (404, "NotFound"))
        self.sim.http("POST", CM, cm("dup", {}))
        st, body, _ = self.sim.http("POST", CM, cm("dup", {}))
        self.assertEqual((st, body["reason"], body["message"], body["details"]),
                         (409, "AlreadyExists", 'configmaps "dup" already exists', {"name": "dup", "kind": "configmaps"}))

    def test_owner_references_rules(self):
        two = dict(OWNER, name="other", uid="1b0f4c1e-0000-4000-8000-000000000001")
        st, body, _ = self.sim.http("POST", CM, cm("twoc", {}, owners=(OWNER, two)))
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertIn("Only one reference can have Controller set to true", body["message"])
        self.assertEqual(body["details"]["causes"][0]["field"], "metadata.ownerReferences")
        st, body, _ = self.sim.http("POST", CM, cm("nouid", {}, owners=(dict(OWNER, uid=""),)))
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["details"]["causes"][0]["field"], "metadata.ownerReferences.uid")
        # An owner that is not the controller, beside the controller: fine.
        st, body, _ = self.sim.http("POST", CM, cm("both", {}, owners=(OWNER, dict(two, controller=False))))
        self.assertEqual(st, 201, body)

    def test_secret_replace_and_conflict(self):
        sec = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": "s1", "namespace": "conn", "ownerReferences": [OWNER]},
               "data": {"orders_app.password": "cHc="}}
        st, a, _ = self.sim.http("POST", SEC, sec)
        self.assertEqual(st, 201, a)
        sec["metadata"]["resourceVersion"] = a["metadata"]["resourceVersion"]
        sec["data"] = {"orders_app.password": "cHcy"}
        st, b, _ = self.sim.http("PUT", SEC + "/s1", sec)
        self.assertEqual((st, b["data"]), (200, {"orders_app.password": "cHcy"}))
        st, body, _ = self.sim.http("PUT", SEC + "/s1", sec)  # the resourceVersion read before
        self.assertEqual((st, body["reason"]), (409, "Conflict"))
        self.assertEqual(body["message"], 'Operation cannot be fulfilled on secrets "s1": the object has been '
                                          'modified; please apply your changes to the latest version and try again')
        # The type of a Secret cannot change.
        sec["metadata"]["resourceVersion"] = b["metadata"]["resourceVersion"]
        st, body, _ = self.sim.http("PUT", SEC + "/s1", dict(sec, type="kubernetes.io/basic-auth"))
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["details"]["causes"][0]["field"], "type")
        # A data key must be a valid config key.
        st, body, _ = self.sim.http("POST", SEC, dict(sec, metadata={"name": "s2"}, data={"a/b": "cHc="}))
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["details"]["causes"][0]["field"], "data[a/b]")
