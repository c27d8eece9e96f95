"""Raw HTTP against kubesim: authentication, metadata rules, errors,
status subresource, patches, list and watch semantics."""

import json
import time

from simtest import SimTestCase, read_events, widget, WPATH


class HttpTest(SimTestCase):
    sim_args = ("--bookmark-seconds", "0.5")

    def setUp(self):
        self.widget_crd()
        self.ensure_ns("h")

    def create(self, name, **spec):
        st, body, _ = self.sim.http("POST", WPATH % "h", widget(name, "h", **spec))
        self.assertEqual(st, 201, body)
        return body

    # ---- authentication -------------------------------------------------------
    def test_unknown_token_is_401(self):
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces", token="nope")
        self.assertEqual(st, 401)
        self.assertEqual(body["reason"], "Unauthorized")
        self.assertEqual(body["kind"], "Status")

    def test_anonymous_is_403_but_may_read_version(self):
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/h/secrets", token=None)
        self.assertEqual(st, 403)
        self.assertEqual(body["reason"], "Forbidden")
        self.assertIn('User "system:anonymous" cannot list resource "secrets"', body["message"])
        st, body, _ = self.sim.http("GET", "/version", token=None)
        self.assertEqual(st, 200)
        self.assertEqual(body["major"], "1")

    # ---- metadata rules ---------------------------------------------------------
    def test_create_sets_metadata(self):
        a = self.create("m1")
        b = self.create("m2")
        md = a["metadata"]
        self.assertRegex(md["uid"], r"^[0-9a-f-]{36}$")
        self.assertRegex(md["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(md["generation"], 1)
        self.assertGreater(int(b["metadata"]["resourceVersion"]), int(md["resourceVersion"]))
        self.assertNotEqual(md["uid"], b["metadata"]["uid"])

    def test_generate_name(self):
        w = widget("", "h")
        w["metadata"] = {"generateName": "gen-"}
        st, body, _ = self.sim.http("POST", WPATH % "h", w)
        self.assertEqual(st, 201)
        self.assertRegex(body["metadata"]["name"], r"^gen-[a-z0-9]{5}$")

    def test_error_bodies(self):
        self.create("e1")
        st, body, _ = self.sim.http("POST", WPATH % "h", widget("e1", "h"))
        self.assertEqual((st, body["reason"]), (409, "AlreadyExists"))
        self.assertEqual(body["message"], 'widgets.example.dev "e1" already exists')
        self.assertEqual(body["details"], {"name": "e1", "group": "example.dev", "kind": "widgets"})
        st, body, _ = self.sim.http("GET", WPATH % "h" + "/nope")
        self.assertEqual((st, body["reason"]), (404, "NotFound"))
        self.assertEqual(body["message"], 'widgets.example.dev "nope" not found')
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/h/secrets/nope")
        self.assertEqual(body["message"], 'secrets "nope" not found')
        self.assertEqual(body["details"], {"name": "nope", "kind": "secrets"})
        st, body, _ = self.sim.http("POST", WPATH % "nons", widget("x", "nons"))
        self.assertEqual((st, body["message"]), (404, 'namespaces "nons" not found'))
        st, body, _ = self.sim.http("POST", "/api/v1/namespaces/h/configmaps",
                                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["details"]["causes"][0]["field"], "metadata.name")
        st, body, _ = self.sim.http("POST", WPATH % "h", "{not json")
        self.assertEqual((st, body["reason"]), (400, "BadRequest"))

    def test_invalid_has_causes_with_field_paths(self):
        w = widget("inv", "h", size=0, color="pink")
        del w["spec"]["db"]["owner"]
        st, body, _ = self.sim.http("POST", WPATH % "h", w)
        self.assertEqual(st, 422)
        self.assertEqual(body["reason"], "Invalid")
        fields = {c["field"]: c for c in body["details"]["causes"]}
        self.assertEqual(fields["spec.db.owner"]["reason"], "FieldValueRequired")
        self.assertEqual(fields["spec.color"]["reason"], "FieldValueNotSupported")
        self.assertIn('supported values: "red", "green", "blue"', fields["spec.color"]["message"])
        self.assertIn("greater than or equal to 1", fields["spec.size"]["message"])
        self.assertTrue(body["message"].startswith('Widget.example.dev "inv" is invalid: ['))

    def test_optimistic_concurrency(self):
        a = self.create("oc")
        a["spec"]["size"] = 4
        st, b, _ = self.sim.http("PUT", WPATH % "h" + "/oc", a)
        self.assertEqual(st, 200, b)
        a["spec"]["size"] = 5  # still the old resourceVersion
        st, body, _ = self.sim.http("PUT", WPATH % "h" + "/oc", a)
        self.assertEqual((st, body["reason"]), (409, "Conflict"))
        self.assertIn("the object has been modified", body["message"])
        st, body, _ = self.sim.http("PATCH", WPATH % "h" + "/oc",
                                    {"metadata": {"resourceVersion": a["metadata"]["resourceVersion"]}},
                                    ctype="application/merge-patch+json")
        self.assertEqual(st, 409)

    def test_noop_update_keeps_resource_version(self):
        a = self.create("noop")
        st, b, _ = self.sim.http("PUT", WPATH % "h" + "/noop", a)
        self.assertEqual(st, 200)
        self.assertEqual(b["metadata"]["resourceVersion"], a["metadata"]["resourceVersion"])

    def test_status_subresource_and_generation(self):
        a = self.create("st")
        a["status"] = {"phase": "x"}
        a["spec"]["size"] = 4
        st, b, _ = self.sim.http("PUT", WPATH % "h" + "/st", a)
        self.assertNotIn("status", b)  # main endpoint ignores status
        self.assertEqual(b["metadata"]["generation"], 2)
        b["status"] = {"observedGeneration": 2}
        b["spec"]["size"] = 9
        st, c, _ = self.sim.http("PUT", WPATH % "h" + "/st/status", b)
        self.assertEqual(st, 200, c)
        self.assertEqual(c["status"], {"observedGeneration": 2})
        self.assertEqual(c["spec"]["size"], 4)  # /status ignores spec
        self.assertEqual(c["metadata"]["generation"], 2)
        st, d, _ = self.sim.http("PATCH", WPATH % "h" + "/st/status", {"status": {"ready": True}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(d["status"], {"observedGeneration": 2, "ready": True})
        self.assertEqual(d["metadata"]["generation"], 2)
        st, e, _ = self.sim.http("PATCH", WPATH % "h" + "/st", {"metadata": {"labels": {"a": "b"}}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(e["metadata"]["generation"], 2)  # metadata does not move generation
        st, g, _ = self.sim.http("GET", WPATH % "h" + "/st/status")
        self.assertEqual((st, g["status"]["ready"]), (200, True))

    def test_patch_types(self):
        self.create("pt")
        st, b, _ = self.sim.http("PATCH", WPATH % "h" + "/pt", [{"op": "replace", "path": "/spec/size", "value": 7},
                                                               {"op": "add", "path": "/spec/tags", "value": ["a"]}],
                                 ctype="application/json-patch+json")
        self.assertEqual((st, b["spec"]["size"], b["spec"]["tags"]), (200, 7, ["a"]))
        st, b, _ = self.sim.http("PATCH", WPATH % "h" + "/pt", [{"op": "test", "path": "/spec/size", "value": 1}],
                                 ctype="application/json-patch+json")
        self.assertEqual(st, 422)
        st, b, _ = self.sim.http("PATCH", WPATH % "h" + "/pt", {"spec": {"tags": None}},
                                 ctype="application/merge-patch+json")
        self.assertNotIn("tags", b["spec"])
        st, b, _ = self.sim.http("PATCH", WPATH % "h" + "/pt", {"spec": {"size": 2}},
                                 ctype="application/strategic-merge-patch+json")
        self.assertEqual((st, b["reason"]), (415, "UnsupportedMediaType"))
        st, b, _ = self.sim.http("PATCH", WPATH % "h" + "/missing", {"spec": {}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(st, 404)

    def test_strategic_merge_patch_builtin(self):
        cm = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "h"},
              "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"},
                                                             {"name": "b", "image": "b:1"}]}}}}
        st, _, _ = self.sim.http("POST", "/apis/apps/v1/namespaces/h/deployments", cm)
        self.assertEqual(st, 201)
        st, b, _ = self.sim.http("PATCH", "/apis/apps/v1/namespaces/h/deployments/d",
                                 {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}},
                                 ctype="application/strategic-merge-patch+json")
        self.assertEqual(st, 200, b)
        self.assertEqual(b["spec"]["template"]["spec"]["containers"],
                         [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}])
        st, b, _ = self.sim.http("PATCH", "/apis/apps/v1/namespaces/h/deployments/d",
                                 {"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}},
                                 ctype="application/strategic-merge-patch+json")
        self.assertEqual([c["name"] for c in b["spec"]["template"]["spec"]["containers"]], ["b"])

    def test_finalizers_and_deletion_timestamp(self):
        w = widget("fin", "h")
        w["metadata"]["finalizers"] = ["example.dev/cleanup"]
        st, a, _ = self.sim.http("POST", WPATH % "h", w)
        st, b, _ = self.sim.http("DELETE", WPATH % "h" + "/fin")
        self.assertEqual(st, 200)
        self.assertIn("deletionTimestamp", b["metadata"])
        self.assertEqual(b["metadata"]["generation"], 2)
        st, b, _ = self.sim.http("GET", WPATH % "h" + "/fin")
        self.assertEqual(st, 200)
        st, c, _ = self.sim.http("PATCH", WPATH % "h" + "/fin", {"metadata": {"finalizers": ["a", "b"]}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(st, 422)
        st, c, _ = self.sim.http("PATCH", WPATH % "h" + "/fin", {"metadata": {"finalizers": None}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(st, 200, c)
        st, _, _ = self.sim.http("GET", WPATH % "h" + "/fin")
        self.assertEqual(st, 404)

    def test_namespace_deletion_removes_content(self):
        self.ensure_ns("doomed")
        st, _, _ = self.sim.http("POST", WPATH % "doomed", widget("x", "doomed"))
        st, _, _ = self.sim.http("POST", "/api/v1/namespaces/doomed/secrets",
                                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
        self.assertEqual(st, 201)
        st, ns, _ = self.sim.http("DELETE", "/api/v1/namespaces/doomed")
        self.assertEqual((st, ns["status"]["phase"]), (200, "Terminating"))
        st, body, _ = self.sim.http("POST", "/api/v1/namespaces/doomed/secrets",
                                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}})
        self.assertEqual((st, body["reason"]), (403, "Forbidden"))
        self.assertIn("being terminated", body["message"])
        for _ in range(50):
            st, _, _ = self.sim.http("GET", "/api/v1/namespaces/doomed")
            if st == 404:
                break
            time.sleep(0.1)
        self.assertEqual(st, 404)
        st, _, _ = self.sim.http("GET", WPATH % "doomed" + "/x")
        self.assertEqual(st, 404)

    def test_secret_string_data_and_base64(self):
        st, b, _ = self.sim.http("POST", "/api/v1/namespaces/h/secrets",
                                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sd"},
                                  "stringData": {"password": "pw"}})
        self.assertEqual(b["data"], {"password": "cHc="})
        self.assertNotIn("stringData", b)
        self.assertEqual(b["type"], "Opaque")
        st, b, _ = self.sim.http("POST", "/api/v1/namespaces/h/secrets",
                                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sd2"},
                                  "data": {"password": "not base64!"}})
        self.assertEqual(st, 400)

    def test_leases(self):
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "leader", "namespace": "h"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                          "renewTime": "2026-01-01T00:00:00.000000Z"}}
        p = "/apis/coordination.k8s.io/v1/namespaces/h/leases"
        st, _, _ = self.sim.http("GET", p + "/leader")
        self.assertEqual(st, 404)
        st, a, _ = self.sim.http("POST", p, lease)
        self.assertEqual(st, 201)
        a["spec"]["holderIdentity"] = "b"
        st, b, _ = self.sim.http("PUT", p + "/leader", a)
        self.assertEqual((st, b["spec"]["holderIdentity"]), (200, "b"))
        st, c, _ = self.sim.http("PUT", p + "/leader", a)
        self.assertEqual((st, c["reason"]), (409, "Conflict"))

    # ---- list -----------------------------------------------------------------------
    def test_list_pagination_and_selectors(self):
        self.ensure_ns("pg")
        for i in range(7):
            w = widget("p%d" % i, "pg")
            w["metadata"]["labels"] = {"even": "yes" if i % 2 == 0 else "no", "i": str(i)}
            st, _, _ = self.sim.http("POST", WPATH % "pg", w)
            self.assertEqual(st, 201)
        names = []
        cont = ""
        pages = 0
        while True:
            st, body, _ = self.sim.http("GET", WPATH % "pg" + "?limit=3" + ("&continue=" + cont if cont else ""))
            self.assertEqual(st, 200, body)
            pages += 1
            names += [i["metadata"]["name"] for i in body["items"]]
            cont = body["metadata"].get("continue")
            if not cont:
                break
            self.assertIn("remainingItemCount", body["metadata"])
        self.assertEqual(pages, 3)
        self.assertEqual(names, ["p%d" % i for i in range(7)])
        st, body, _ = self.sim.http("GET", WPATH % "pg" + "?labelSelector=even%3Dyes")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["p0", "p2", "p4", "p6"])
        st, body, _ = self.sim.http("GET", WPATH % "pg" + "?labelSelector=i+in+(1,2),even!%3Dyes")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["p1"])
        st, body, _ = self.sim.http("GET", WPATH % "pg" + "?fieldSelector=metadata.name%3Dp3")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["p3"])
        st, body, _ = self.sim.http("GET", WPATH % "pg" + "?fieldSelector=spec.size%3D3")
        self.assertEqual((st, body["reason"]), (400, "BadRequest"))
        st, body, _ = self.sim.http("GET", "/apis/example.dev/v1/widgets?fieldSelector=metadata.namespace%3Dpg")
        self.assertEqual(len(body["items"]), 7)
        self.assertEqual(body["kind"], "WidgetList")
        # later pages show the state of the first page's resourceVersion
        st, body, _ = self.sim.http("GET", WPATH % "pg" + "?limit=3")
        cont = body["metadata"]["continue"]
        self.sim.http("DELETE", WPATH % "pg" + "/p4")
        self.sim.http("PATCH", WPATH % "pg" + "/p5", {"spec": {"size": 9}}, ctype="application/merge-patch+json")
        st, body, _ = self.sim.http("GET", WPATH % "pg" + "?limit=3&continue=" + cont)
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["p3", "p4", "p5"])
        self.assertEqual(body["items"][2]["spec"]["size"], 3)

    def test_event_field_selectors_core_and_events_v1(self):
        for i, kind in enumerate(["Widget", "Widget", "Secret"]):
            ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev%d" % i, "namespace": "h"},
                  "involvedObject": {"kind": kind, "name": "obj%d" % (i % 2), "namespace": "h", "uid": "u%d" % i},
                  "reason": "R", "message": "m%d" % i, "type": "Normal"}
            st, _, _ = self.sim.http("POST", "/api/v1/namespaces/h/events", ev)
            self.assertEqual(st, 201)
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/h/events?fieldSelector=involvedObject.kind%3DWidget,"
                                    "involvedObject.name%3Dobj0,involvedObject.uid%3Du0&limit=500")
        self.assertEqual([e["message"] for e in body["items"]], ["m0"])
        st, body, _ = self.sim.http("GET", "/apis/events.k8s.io/v1/namespaces/h/events/ev1")
        self.assertEqual((st, body["note"], body["regarding"]["name"]), (200, "m1", "obj1"))
        st, body, _ = self.sim.http("PATCH", "/api/v1/namespaces/h/events/ev1", {"count": 2},
                                    ctype="application/strategic-merge-patch+json")
        self.assertEqual((st, body["count"]), (200, 2))
        ep = "/apis/events.k8s.io/v1/namespaces/h/events/ev1"
        # events.k8s.io/v1 updates are strictly validated: what happened is immutable
        st, body, _ = self.sim.http("PATCH", ep, {"note": "changed"}, ctype="application/merge-patch+json")
        self.assertEqual((st, body["details"]["causes"][0]["field"]), (422, "message"))
        self.assertEqual(body["details"]["causes"][0]["message"], 'Invalid value: "changed": field is immutable')
        st, body, _ = self.sim.http("PATCH", ep, {"metadata": {"labels": {"a": "b"}}},
                                    ctype="application/merge-patch+json")
        self.assertEqual((st, body.get("note")), (200, "m1"))
        body["deprecatedCount"] = 3
        st, body, _ = self.sim.http("PUT", ep, body)
        self.assertEqual((st, body["details"]["causes"][0]["field"]), (422, "count"))
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/h/events/ev1")
        self.assertEqual((body["message"], body["count"], body["metadata"]["labels"]), ("m1", 2, {"a": "b"}))
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "new1"},
              "regarding": {"kind": "Widget", "name": "obj9", "namespace": "h"}, "note": "n",
              "reason": "R", "type": "Normal", "action": "Reconcile", "reportingController": "appdb",
              "reportingInstance": "appdb-0", "eventTime": "2026-01-01T00:00:00.000000Z"}
        st, body, _ = self.sim.http("POST", "/apis/events.k8s.io/v1/namespaces/h/events", ev)
        self.assertEqual((st, body["regarding"]["name"]), (201, "obj9"))
        st, body, _ = self.sim.http("GET", "/api/v1/namespaces/h/events?fieldSelector=involvedObject.name%3Dobj9")
        self.assertEqual([e["message"] for e in body["items"]], ["n"])

    def test_list_resource_version_too_old_is_410(self):
        self.create("old1")
        st, body, _ = self.sim.http("GET", WPATH % "h" + "?limit=1")
        cont = body["metadata"].get("continue")
        self.create("old2")
        self.sim.ctl("compact")
        st, body, _ = self.sim.http("GET", WPATH % "h" + "?limit=1&continue=" + cont)
        self.assertEqual((st, body["reason"], body["code"]), (410, "Expired", 410))
        st, body, _ = self.sim.http("GET", WPATH % "h" + "?resourceVersion=1&resourceVersionMatch=Exact")
        self.assertEqual(st, 410)

    # ---- watch ------------------------------------------------------------------------
    def test_watch_from_resource_version(self):
        a = self.create("wa1")
        rv = a["metadata"]["resourceVersion"]
        self.create("wa2")
        c, r = self.sim.watch(WPATH % "h" + "?watch=true&resourceVersion=%s&timeoutSeconds=5" % rv)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        evs = read_events(r, n=1)
        self.assertEqual((evs[0]["type"], evs[0]["object"]["metadata"]["name"]), ("ADDED", "wa2"))
        self.sim.http("PATCH", WPATH % "h" + "/wa1", {"spec": {"size": 5}}, ctype="application/merge-patch+json")
        self.sim.http("DELETE", WPATH % "h" + "/wa2")
        evs = read_events(r, n=2)
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("MODIFIED", "wa1"), ("DELETED", "wa2")])
        c.close()

    def test_watch_without_resource_version_sends_current_state(self):
        self.create("ws1")
        c, r = self.sim.watch(WPATH % "h" + "?watch=true&timeoutSeconds=2")
        evs = read_events(r, max_seconds=4)
        names = [e["object"]["metadata"]["name"] for e in evs if e["type"] == "ADDED"]
        self.assertIn("ws1", names)
        c.close()

    def test_watch_bookmarks_and_timeout(self):
        st, body, _ = self.sim.http("GET", WPATH % "h")
        rv = body["metadata"]["resourceVersion"]
        t0 = time.monotonic()
        c, r = self.sim.watch(WPATH % "h" + "?watch=true&allowWatchBookmarks=true&resourceVersion=%s"
                              "&timeoutSeconds=2" % rv)
        evs = read_events(r, max_seconds=6)
        took = time.monotonic() - t0
        self.assertTrue(1.5 <= took < 5, took)
        bms = [e for e in evs if e["type"] == "BOOKMARK"]
        self.assertGreaterEqual(len(bms), 1)
        self.assertEqual(bms[0]["object"]["kind"], "Widget")
        self.assertGreaterEqual(int(bms[0]["object"]["metadata"]["resourceVersion"]), int(rv))
        c.close()

    def test_watch_label_selector_transitions(self):
        a = self.create("lt")
        rv = a["metadata"]["resourceVersion"]
        c, r = self.sim.watch(WPATH % "h" + "?watch=true&labelSelector=pick%%3Dme&resourceVersion=%s"
                              "&timeoutSeconds=5" % rv)
        self.sim.http("PATCH", WPATH % "h" + "/lt", {"metadata": {"labels": {"pick": "me"}}},
                      ctype="application/merge-patch+json")
        self.sim.http("PATCH", WPATH % "h" + "/lt", {"metadata": {"labels": {"pick": None}}},
                      ctype="application/merge-patch+json")
        evs = read_events(r, n=2)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"])
        c.close()

    def test_watch_too_old_resource_version_gets_410_error_event(self):
        self.create("gone1")
        self.sim.ctl("compact")
        c, r = self.sim.watch(WPATH % "h" + "?watch=true&resourceVersion=2")
        evs = read_events(r, n=1)
        self.assertEqual(evs[0]["type"], "ERROR")
        self.assertEqual(evs[0]["object"]["code"], 410)
        self.assertEqual(evs[0]["object"]["reason"], "Expired")
        self.assertIn("too old resource version", evs[0]["object"]["message"])
        c.close()

    def test_watch_bad_field_selector_is_400(self):
        st, body, _ = self.sim.http("GET", WPATH % "h" + "?watch=true&fieldSelector=spec.x%3D1")
        self.assertEqual((st, body["reason"]), (400, "BadRequest"))

    def test_watch_namespace_scoped_only(self):
        self.ensure_ns("other")
        st, body, _ = self.sim.http("GET", WPATH % "h")
        rv = body["metadata"]["resourceVersion"]
        c, r = self.sim.watch(WPATH % "h" + "?watch=true&resourceVersion=%s&timeoutSeconds=3" % rv)
        self.sim.http("POST", WPATH % "other", widget("elsewhere", "other"))
        self.create("here")
        evs = read_events(r, n=1)
        self.assertEqual(evs[0]["object"]["metadata"]["name"], "here")
        c.close()

    def test_discovery_and_openapi(self):
        st, body, _ = self.sim.http("GET", "/apis/example.dev/v1")
        res = {r["name"]: r for r in body["resources"]}
        self.assertEqual(res["widgets"]["kind"], "Widget")
        self.assertIn("widgets/status", res)
        self.assertEqual(res["widgets"]["shortNames"], ["wdg"])
        acc = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
        st, body, h = self.sim.http("GET", "/apis", headers={"Accept": acc})
        self.assertEqual(body["kind"], "APIGroupDiscoveryList")
        self.assertIn("as=APIGroupDiscoveryList", h["Content-Type"])
        g = [i for i in body["items"] if i["metadata"]["name"] == "example.dev"][0]
        r = [x for x in g["versions"][0]["resources"] if x["resource"] == "widgets"][0]
        self.assertEqual((r["scope"], r["responseKind"]["kind"], r["subresources"][0]["subresource"]),
                         ("Namespaced", "Widget", "status"))
        st, body, _ = self.sim.http("GET", "/api", headers={"Accept": acc})
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], [""])
        st, body, _ = self.sim.http("GET", "/apis")
        self.assertEqual(body["kind"], "APIGroupList")
        st, root, _ = self.sim.http("GET", "/openapi/v3")
        url = root["paths"]["apis/example.dev/v1"]["serverRelativeURL"]
        st, doc, _ = self.sim.http("GET", url)
        self.assertEqual(st, 200)
        patch = doc["paths"]["/apis/example.dev/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])
        st, body, _ = self.sim.http("GET", WPATH % "h", headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        self.assertEqual(body["kind"], "Table")
        self.assertEqual([c["name"] for c in body["columnDefinitions"]], ["Name", "Size", "Owner", "Ready", "Age"])
        json.dumps(body)
