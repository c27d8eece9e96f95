"""Answers checked against a real kube-apiserver v1.36: unconditional
updates, metadata limits, MicroTime fields, malformed resourceVersions and
CEL messages (server-side apply is in test_apply.py)."""

import copy

from simtest import SimTestCase, widget, WPATH

LEASES = "/apis/coordination.k8s.io/v1/namespaces/rs/leases"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev"


def causes(body):
    return [(c["field"], c["message"]) for c in body["details"]["causes"]]


class RealServerTest(SimTestCase):

    def setUp(self):
        self.widget_crd()
        self.ensure_ns("rs")

    def create(self, name, **spec):
        st, body, _ = self.sim.http("POST", WPATH % "rs", widget(name, "rs", **spec))
        self.assertEqual(st, 201, body)
        return body

    def lease(self, name, **spec):
        s = {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}
        s.update(spec)
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}, "spec": s}

    # ---- 1. updates without a resourceVersion ------------------------------------------
    def test_put_without_resource_version_is_422(self):
        w = self.create("nrv")
        for path in (WPATH % "rs" + "/nrv", WPATH % "rs" + "/nrv/status"):
            body = copy.deepcopy(w)
            del body["metadata"]["resourceVersion"]
            body["spec"]["size"] = 4
            body["status"] = {"phase": "x"}
            st, out, _ = self.sim.http("PUT", path, body)
            self.assertEqual((st, out["reason"]), (422, "Invalid"), path)
            self.assertEqual(out["message"], 'widgets.example.dev "nrv" is invalid: metadata.resourceVersion: '
                             'Invalid value: 0: must be specified for an update')
            self.assertEqual(out["details"], {"name": "nrv", "group": "example.dev", "kind": "widgets", "causes": [
                {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be specified for an update",
                 "field": "metadata.resourceVersion"}]})
        # the same object with its resourceVersion is accepted
        st, out, _ = self.sim.http("PUT", WPATH % "rs" + "/nrv", dict(w, spec=dict(w["spec"], size=4)))
        self.assertEqual((st, out["spec"]["size"]), (200, 4))

    def test_unconditional_update_rule_per_kind(self):
        # CRDs and Leases need it too
        st, crd, _ = self.sim.http("GET", CRD)
        del crd["metadata"]["resourceVersion"]
        st, out, _ = self.sim.http("PUT", CRD, crd)
        self.assertEqual((st, out["message"]), (422, 'customresourcedefinitions.apiextensions.k8s.io '
                                                     '"widgets.example.dev" is invalid: metadata.resourceVersion: '
                                                     'Invalid value: 0: must be specified for an update'))
        st, _, _ = self.sim.http("PUT", LEASES + "/uncond", self.lease("uncond"))
        self.assertEqual(st, 201)  # a Lease may be created by PUT, without a resourceVersion
        st, out, _ = self.sim.http("PUT", LEASES + "/uncond", self.lease("uncond", holderIdentity="b"))
        self.assertEqual((st, out["details"]["kind"]), (422, "leases"))
        self.assertIn('leases.coordination.k8s.io "uncond" is invalid: metadata.resourceVersion', out["message"])
        # most built-in kinds allow it
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "uncond"}, "data": {"a": "1"}}
        self.assertEqual(self.sim.http("POST", "/api/v1/namespaces/rs/configmaps", cm)[0], 201)
        st, out, _ = self.sim.http("PUT", "/api/v1/namespaces/rs/configmaps/uncond", dict(cm, data={"a": "2"}))
        self.assertEqual((st, out["data"]), (200, {"a": "2"}))
        # patches and /scale take the current resourceVersion
        self.create("unp")
        st, out, _ = self.sim.http("PATCH", WPATH % "rs" + "/unp", {"spec": {"size": 2}},
                                   ctype="application/merge-patch+json")
        self.assertEqual(st, 200)
        st, out, _ = self.sim.http("PATCH", LEASES + "/uncond", {"spec": {"holderIdentity": "c"}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((st, out["spec"]["holderIdentity"]), (200, "c"))
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "uncond"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}}}
        self.assertEqual(self.sim.http("POST", "/apis/apps/v1/namespaces/rs/deployments", dep)[0], 201)
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "uncond"},
                 "spec": {"replicas": 3}}
        st, out, _ = self.sim.http("PUT", "/apis/apps/v1/namespaces/rs/deployments/uncond/scale", scale)
        self.assertEqual((st, out["spec"]["replicas"]), (200, 3))

    # ---- 3. CEL messages -------------------------------------------------------------------
    def test_cel_message_omits_objects_and_shows_scalars(self):
        w = widget("cel1", "rs", users=[{"name": "orders_owner", "kubernetesSecret": {"name": "s"}}])
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(st, 422)
        self.assertIn(("spec", "Invalid value: user names must differ from the owner"), causes(out))
        self.assertIn('spec: Invalid value: user names must differ from the owner', out["message"])
        w = widget("cel2", "rs")
        w["spec"]["db"]["name"] = "postgres"
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(causes(out), [("spec.db.name", 'Invalid value: "postgres": reserved database name')])

    # ---- 4. metadata limits ------------------------------------------------------------------
    def test_annotations_over_256k_are_422(self):
        w = widget("ann", "rs")
        w["metadata"]["annotations"] = {"a": "x" * (256 * 1024 - 1)}  # key + value = exactly the limit
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(st, 201, out)
        w["metadata"]["annotations"]["b"] = ""
        w["metadata"]["name"] = "ann2"
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual((st, out["reason"]), (422, "Invalid"))
        self.assertEqual(out["message"], 'Widget.example.dev "ann2" is invalid: metadata.annotations: Too long: '
                         'may not be more than 262144 bytes')
        self.assertEqual(out["details"]["causes"], [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                                                     "message": "Too long: may not be more than 262144 bytes"}])
        # on update too, by patch (any kind)
        st, out, _ = self.sim.http("PATCH", WPATH % "rs" + "/ann", {"metadata": {"annotations": {"b": "y"}}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((st, causes(out)[0][0]), (422, "metadata.annotations"))
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "annbig", "annotations": {"k": "v" * (256 * 1024)}}}
        st, out, _ = self.sim.http("POST", "/api/v1/namespaces/rs/configmaps", cm)
        self.assertEqual((st, out["message"]), (422, 'ConfigMap "annbig" is invalid: metadata.annotations: Too '
                                                     'long: may not be more than 262144 bytes'))

    def test_label_name_and_finalizer_rules(self):
        w = widget("lbl", "rs")
        w["metadata"]["labels"] = {"example.com/" + "k" * 64: "v" * 64}
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(st, 422)
        self.assertEqual(causes(out), [
            ("metadata.labels", 'Invalid value: "example.com/%s": name part must be no more than 63 bytes' % ("k" * 64)),
            ("metadata.labels", 'Invalid value: "%s": must be no more than 63 bytes' % ("v" * 64))])
        w["metadata"]["labels"] = {"-bad": "ok", "Example.COM/x": "-v-"}
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(causes(out), [
            ("metadata.labels", "Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' "
             "or '.', and must start and end with an alphanumeric character (e.g. 'MyName' or 'my.name' or "
             "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
            ("metadata.labels", "Invalid value: \"Example.COM/x\": prefix part a lowercase RFC 1123 subdomain must "
             "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
             "character (e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
            ("metadata.labels", "Invalid value: \"-v-\": a valid label must be an empty string or consist of "
             "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
             "'MyValue' or 'my_value' or '12345', regex used for validation is "
             "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")])
        # a name over 253 bytes has both errors, as separate causes
        w = widget("N" * 254, "rs")
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual([c[1][:40] for c in causes(out)], ["Invalid value: \"%s" % ("N" * 24),
                                                            "Invalid value: \"%s" % ("N" * 24)])
        self.assertTrue(causes(out)[0][1].endswith(": must be no more than 253 bytes"))
        self.assertIn("a lowercase RFC 1123 subdomain must consist of", causes(out)[1][1])
        # generateName is cut to 58 characters before the random suffix
        w = widget("", "rs")
        w["metadata"] = {"generateName": "g" * 70}
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(st, 201, out)
        self.assertRegex(out["metadata"]["name"], r"^g{58}[a-z0-9]{5}$")
        # Services are DNS-1035 labels
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}, "spec": {}}
        st, out, _ = self.sim.http("POST", "/api/v1/namespaces/rs/services", svc)
        self.assertEqual(st, 422)
        self.assertIn("a DNS-1035 label must consist of lower case alphanumeric characters", out["message"])
        # finalizers: qualified names; built-in kinds also want a '/' (custom resources get a warning)
        w = widget("fin", "rs")
        w["metadata"]["finalizers"] = ["bad finalizer"]
        st, out, _ = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual((st, causes(out)[0][0]), (422, "metadata.finalizers"))
        w["metadata"]["finalizers"] = ["cleanup"]
        st, out, h = self.sim.http("POST", WPATH % "rs", w)
        self.assertEqual(st, 201)
        self.assertIn('metadata.finalizers: \\"cleanup\\": prefer a domain-qualified finalizer name to avoid '
                      'accidental conflicts with other finalizer writers', h["Warning"])
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fin", "finalizers": ["cleanup"]}}
        st, out, _ = self.sim.http("POST", "/api/v1/namespaces/rs/configmaps", cm)
        self.assertEqual(causes(out), [("metadata.finalizers[0]", 'Invalid value: "cleanup": name is neither a '
                                        'standard finalizer name nor is it fully qualified')])
        # no new finalizer on an object being deleted: Go's %#v of the list
        w = widget("findel", "rs")
        w["metadata"]["finalizers"] = ["example.dev/keep"]
        self.assertEqual(self.sim.http("POST", WPATH % "rs", w)[0], 201)
        self.sim.http("DELETE", WPATH % "rs" + "/findel")
        st, out, _ = self.sim.http("PATCH", WPATH % "rs" + "/findel",
                                   {"metadata": {"finalizers": ["example.dev/keep", "example.dev/more"]}},
                                   ctype="application/merge-patch+json")
        self.assertEqual(causes(out), [("metadata.finalizers", 'Forbidden: no new finalizers can be added if the '
                                        'object is being deleted, found new finalizers []string{"example.dev/more"}')])
        self.sim.http("PATCH", WPATH % "rs" + "/findel", {"metadata": {"finalizers": None}},
                      ctype="application/merge-patch+json")

    def test_request_size_limits(self):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "x" * (3 << 20)}}
        st, out, _ = self.sim.http("POST", "/api/v1/namespaces/rs/configmaps", cm)
        self.assertEqual((st, out["reason"], out["message"]), (413, "RequestEntityTooLarge",
                                                               "Request entity too large: limit is 3145728"))
        self.create("ops")
        ops = [{"op": "test", "path": "/spec/size", "value": 3}] * 10001
        st, out, _ = self.sim.http("PATCH", WPATH % "rs" + "/ops", ops, ctype="application/json-patch+json")
        self.assertEqual((st, out["message"]), (413, "Request entity too large: The allowed maximum operations in "
                                                     "a JSON patch is 10000, got 10001"))

    # ---- 5. MicroTime -----------------------------------------------------------------------
    def test_lease_renew_time_without_fraction_is_400(self):
        st, out, _ = self.sim.http("POST", LEASES, self.lease("mt", renewTime="2026-01-01T00:00:00Z"))
        self.assertEqual((st, out["reason"]), (400, "BadRequest"))
        self.assertEqual(out["message"], 'Lease in version "v1" cannot be handled as a Lease: parsing time '
                         '"2026-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as '
                         '".000000"')
        self.assertNotIn("details", out)

    def test_every_micro_time_field(self):
        for spec in ({"acquireTime": "2026-01-01T00:00:00.123Z"}, {"renewTime": "2026-01-01T00:00:00.1234567Z"},
                     {"renewTime": 5}):
            st, out, _ = self.sim.http("POST", LEASES, self.lease("mt2", **spec))
            self.assertEqual(st, 400, spec)
        self.assertIn("json: cannot unmarshal number into Go value of type string", out["message"])
        st, out, _ = self.sim.http("POST", LEASES, self.lease("mt2", acquireTime="2026-01-01T00:00:00+02:00",
                                                              renewTime="2026-01-01T00:00:00.000001+02:00"))
        self.assertIn(out["message"], ['Lease in version "v1" cannot be handled as a Lease: parsing time '
                                       '"2026-01-01T00:00:00+02:00" as "2006-01-02T15:04:05.000000Z07:00": cannot '
                                       'parse "+02:00" as ".000000"'])
        st, good, _ = self.sim.http("POST", LEASES, self.lease("mt3"))
        self.assertEqual(st, 201)
        # PUT is decoded the same way; a patch that produces a bad time is 422 at "patch"
        st, out, _ = self.sim.http("PUT", LEASES + "/mt3", dict(good, spec=dict(good["spec"], renewTime="now")))
        self.assertEqual((st, out["reason"]), (400, "BadRequest"))
        st, out, _ = self.sim.http("PATCH", LEASES + "/mt3", {"spec": {"renewTime": "2026-01-01T00:00:00Z"}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((st, out["reason"], causes(out)[0][0]), (422, "Invalid", "patch"))
        self.assertTrue(out["message"].startswith(' "" is invalid: patch: Invalid value: "{'), out["message"])
        self.assertTrue(out["message"].endswith('cannot parse "Z" as ".000000"'))
        # events.k8s.io/v1: eventTime and series.lastObservedTime are MicroTimes too; the
        # deprecated timestamps are plain Times
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "mtev"},
              "regarding": {"kind": "Widget", "name": "w", "namespace": "rs"}, "note": "n", "reason": "R",
              "type": "Normal", "action": "Reconcile", "reportingController": "appdb",
              "reportingInstance": "appdb-0", "eventTime": "2026-01-01T00:00:00Z"}
        path = "/apis/events.k8s.io/v1/namespaces/rs/events"
        st, out, _ = self.sim.http("POST", path, ev)
        self.assertEqual((st, out["message"][:54]), (400, 'Event in version "v1" cannot be handled as a Event: pa'))
        ev["eventTime"] = "2026-01-01T00:00:00.000000Z"
        ev["series"] = {"count": 2, "lastObservedTime": "2026-01-01T00:00:01Z"}
        self.assertEqual(self.sim.http("POST", path, ev)[0], 400)
        ev["series"]["lastObservedTime"] = "2026-01-01T00:00:01.000000Z"
        self.assertEqual(self.sim.http("POST", path, ev)[0], 201)
        core = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "mtcore"}, "reason": "R",
                "involvedObject": {"kind": "Widget", "name": "w", "namespace": "rs"},
                "firstTimestamp": "yesterday"}
        st, out, _ = self.sim.http("POST", "/api/v1/namespaces/rs/events", core)
        self.assertEqual((st, out["message"]), (400, 'Event in version "v1" cannot be handled as a Event: parsing '
                                                     'time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse '
                                                     '"yesterday" as "2006"'))
        core["firstTimestamp"] = "2026-01-01T00:00:00.5Z"  # a Time takes a fraction
        self.assertEqual(self.sim.http("POST", "/api/v1/namespaces/rs/events", core)[0], 201)

    def test_events_v1_strict_validation(self):
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "strict"},
              "regarding": {"kind": "Widget", "name": "w", "namespace": "rs"}, "note": "n", "type": "Bad",
              "eventTime": "2026-01-01T00:00:00.000000Z", "series": {"count": 1,
                                                                     "lastObservedTime": "2026-01-01T00:00:00.000000Z"}}
        st, out, _ = self.sim.http("POST", "/apis/events.k8s.io/v1/namespaces/rs/events", ev)
        self.assertEqual(st, 422)
        fields = [c[0] for c in causes(out)]
        for f in ("reportingController", "reportingInstance", "action", "reason", "series.count", "type"):
            self.assertIn(f, fields)

    # ---- 6. malformed resourceVersion -------------------------------------------------------
    def test_watch_malformed_resource_version_is_500(self):
        st, out, _ = self.sim.http("GET", WPATH % "rs" + "?watch=true&resourceVersion=abc")
        self.assertEqual(st, 500)
        self.assertEqual(out, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing '
                               '"abc": invalid syntax', "code": 500})

    def test_malformed_resource_version_on_get_and_list(self):
        self.create("rvget")
        st, out, _ = self.sim.http("GET", WPATH % "rs" + "/rvget?resourceVersion=-1")
        self.assertEqual((st, "reason" in out), (500, False))
        self.assertIn('"-1": strconv.ParseUint', out["message"])
        st, out, _ = self.sim.http("GET", WPATH % "rs" + "?resourceVersion=abc")
        self.assertEqual((st, out["reason"], out["message"]), (400, "BadRequest", 'invalid resource version: '
                                                              'resourceVersion: Invalid value: "abc": strconv.'
                                                              'ParseUint: parsing "abc": invalid syntax'))
        st, out, _ = self.sim.http("GET", WPATH % "rs" + "?limit=1")
        st, out, _ = self.sim.http("GET", WPATH % "rs" + "?limit=1&resourceVersion=1&continue=" +
                                   out["metadata"]["continue"])
        self.assertEqual((st, out["message"]), (400, "specifying resource version is not allowed when using "
                                                     "continue"))
