"""Structural schema validation, defaults, pruning and CEL rules of custom
resources, and the CEL evaluator itself."""

import os
import subprocess
import unittest

import simcel
from simtest import SimTestCase, widget, WPATH, HERE


def cel(expr, **env):
    return simcel.evaluate(simcel.compile_rule(expr), env)


class CelTest(unittest.TestCase):

    def test_literals_and_operators(self):
        self.assertEqual(cel("1 + 2 * 3"), 7)
        self.assertEqual(cel("7 / 2"), 3)
        self.assertEqual(cel("-7 / 2"), -3)
        self.assertEqual(cel("7 % 3"), 1)
        self.assertEqual(cel("'a' + \"b\""), "ab")
        self.assertEqual(cel("r'\\d'"), "\\d")
        self.assertTrue(cel("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 != 2"))
        self.assertEqual(cel("true ? 1 : 2"), 1)
        self.assertEqual(cel("[1, 2] + [3]"), [1, 2, 3])
        self.assertEqual(cel("{'a': 1}['a']"), 1)
        self.assertTrue(cel("1 == 1.0"))
        self.assertTrue(cel("2u == 2u"))

    def test_in_and_has_and_size(self):
        s = {"a": {"b": 1}, "l": ["x", "y"]}
        self.assertTrue(cel("'x' in self.l", self=s))
        self.assertFalse(cel("!('x' in self.l)", self=s))
        self.assertTrue(cel("has(self.a.b)", self=s))
        self.assertFalse(cel("has(self.a.c)", self=s))
        self.assertEqual(cel("size(self.l) + self.l.size() + size('abc')", self=s), 7)
        self.assertTrue(cel("'a' in self", self=s))

    def test_error_absorption_in_logic(self):
        s = {"a": 1}
        self.assertTrue(cel("self.missing == 1 || true", self=s))
        self.assertFalse(cel("false && self.missing == 1", self=s))
        with self.assertRaises(simcel.CelError):
            cel("self.missing == 1", self=s)

    def test_macros(self):
        users = [{"name": "a"}, {"name": "b"}, {"name": "a"}]
        self.assertFalse(cel("self.all(u, u.name != 'a')", self=users))
        self.assertTrue(cel("self.exists(u, u.name == 'b')", self=users))
        self.assertTrue(cel("self.exists_one(u, u.name == 'b')", self=users))
        self.assertFalse(cel("self.exists_one(u, u.name == 'a')", self=users))
        self.assertEqual(cel("self.map(u, u.name)", self=users), ["a", "b", "a"])
        self.assertEqual(cel("self.map(u, u.name == 'a', u.name + '!')", self=users), ["a!", "a!"])
        self.assertEqual(cel("self.filter(u, u.name == 'a').size()", self=users), 2)
        self.assertFalse(cel("self.all(u, self.filter(v, v.name == u.name).size() == 1)", self=users))
        self.assertTrue(cel("{'k': 1}.all(k, k == 'k')"))

    def test_string_functions(self):
        self.assertTrue(cel("self.startsWith('pg_')", self="pg_x"))
        self.assertTrue(cel("self.endsWith('_x')", self="pg_x"))
        self.assertTrue(cel("self.contains('g_')", self="pg_x"))
        self.assertTrue(cel("self.matches('^[a-z_][a-z0-9_]*$')", self="pg_x"))
        self.assertFalse(cel("self.matches('^[0-9]+$')", self="pg_x"))
        self.assertEqual(cel("self.lowerAscii()", self="AbC"), "abc")
        self.assertEqual(cel("self.split(',')", self="a,b"), ["a", "b"])
        self.assertEqual(cel("['a', 'b'].join('-')"), "a-b")

    def test_old_self(self):
        ast = simcel.compile_rule("self == oldSelf")
        self.assertTrue(simcel.uses_old_self(ast))
        self.assertFalse(simcel.evaluate(ast, {"self": 1, "oldSelf": 2}))

    def test_unsupported_is_reported_at_compile(self):
        for expr in ("self.?a", "duration('1s') > duration('0s')", "b'abc'", "self.a[?0]"):
            with self.assertRaises(simcel.CelUnsupported, msg=expr):
                simcel.compile_rule(expr)


class SchemaTest(SimTestCase):

    def setUp(self):
        self.widget_crd()
        self.ensure_ns("sc")

    def post(self, w, query=""):
        return self.sim.http("POST", WPATH % "sc" + query, w)

    def causes(self, body):
        return {c["field"]: c["message"] for c in body["details"]["causes"]}

    def test_types_pattern_lengths_items(self):
        w = widget("t1", "sc", size="three", tags=["a", "b", "c", "d"])
        w["spec"]["db"]["name"] = "Bad-Name"
        st, body, _ = self.post(w)
        self.assertEqual(st, 422)
        c = self.causes(body)
        self.assertEqual(c["spec.size"], 'Invalid value: "string": spec.size in body must be of type integer: '
                                         '"string"')
        self.assertEqual(c["spec.db.name"], "Invalid value: \"Bad-Name\": spec.db.name in body should match "
                                            "'^[a-z_][a-z0-9_]{0,62}$'")
        self.assertEqual(c["spec.tags"], "Too many: 4: must have at most 3 items")
        w = widget("t2", "sc")
        w["spec"]["db"]["name"] = "a" * 64
        st, body, _ = self.post(w)
        msgs = [c["message"] for c in body["details"]["causes"] if c["field"] == "spec.db.name"]
        self.assertIn("Too long: may not be more than 63 bytes", msgs)

    def test_required_and_set_and_map_uniqueness(self):
        w = widget("t3", "sc", tags=["a", "a"], users=[{"name": "u", "kubernetesSecret": {"name": "s"}},
                                                       {"name": "u", "kubernetesSecret": {"name": "s"}}])
        del w["spec"]["size"]
        st, body, _ = self.post(w)
        c = self.causes(body)
        self.assertEqual(c["spec.size"], "Required value")
        self.assertEqual(c["spec.tags[1]"], 'Duplicate value: "a"')
        self.assertEqual(c["spec.users[1]"], 'Duplicate value: {"name":"u"}')

    def test_defaults_and_pruning(self):
        w = widget("t4", "sc")
        w["spec"]["extra"] = {"x": 1}
        w["spec"]["db"]["junk"] = 1
        st, body, h = self.post(w)
        self.assertEqual(st, 201, body)
        self.assertEqual(body["spec"]["color"], "red")
        self.assertNotIn("extra", body["spec"])
        self.assertNotIn("junk", body["spec"]["db"])
        warnings = h.get_all("Warning")
        self.assertIn('299 - "unknown field \\"spec.db.junk\\""', warnings)
        st, body, _ = self.post(dict(w, metadata={"name": "t5"}), "?fieldValidation=Strict")
        self.assertEqual(st, 400)
        self.assertEqual(body["reason"], "BadRequest")
        self.assertIn('strict decoding error: unknown field "spec.db.junk", unknown field "spec.extra"',
                      body["message"])
        st, body, _ = self.post(dict(w, metadata={"name": "t6"}), "?fieldValidation=Ignore")
        self.assertEqual(st, 201)

    def test_nullable(self):
        w = widget("n1", "sc", note=None, color=None, tags=None)
        st, body, _ = self.post(w)
        self.assertEqual(st, 201, body)
        self.assertIsNone(body["spec"]["note"])  # nullable: kept
        self.assertEqual(body["spec"]["color"], "red")  # null dropped, then defaulted
        self.assertNotIn("tags", body["spec"])
        w = widget("n2", "sc", tags=[None])
        st, body, _ = self.post(w)
        self.assertEqual(st, 422)
        self.assertIn("must be of type string", self.causes(body)["spec.tags[0]"])

    def test_validation_ratcheting(self):
        crd = open(os.path.join(HERE, "testdata", "widget-crd.yaml")).read()
        crd = crd.replace("widgets", "ratchets").replace("widget", "ratchet").replace("Widget", "Ratchet") \
            .replace("wdg", "rtc").replace("[example]", "[]")
        self.sim.kubectl("apply", "-f", "-", input=crd)
        path = "/apis/example.dev/v1/namespaces/sc/ratchets"
        w = dict(widget("r1", "sc", size=8), kind="Ratchet")
        st, body, _ = self.sim.http("POST", path, w)
        self.assertEqual(st, 201, body)
        self.sim.kubectl("apply", "-f", "-", input=crd.replace("maximum: 10", "maximum: 5"))
        st, body, _ = self.sim.http("PATCH", path + "/r1", {"metadata": {"labels": {"a": "b"}}},
                                    ctype="application/merge-patch+json")
        self.assertEqual(st, 200, body)  # the invalid size did not change
        st, body, _ = self.sim.http("PATCH", path + "/r1", {"spec": {"size": 7}},
                                    ctype="application/merge-patch+json")
        self.assertEqual(st, 422)
        self.assertIn("less than or equal to 5", body["message"])
        st, body, _ = self.sim.http("POST", path, dict(widget("r2", "sc", size=8), kind="Ratchet"))
        self.assertEqual(st, 422)

    def test_cel_rules(self):
        w = widget("c1", "sc")
        w["spec"]["db"]["name"] = "postgres"
        st, body, _ = self.post(w)
        self.assertEqual(st, 422)
        self.assertEqual(self.causes(body)["spec.db.name"], 'Invalid value: "postgres": reserved database name')
        w["spec"]["db"]["name"] = "pg_x"
        st, body, _ = self.post(w)
        self.assertEqual(self.causes(body)["spec.db.name"],
                         "Invalid value: \"pg_x\": failed rule: !self.startsWith('pg_')")
        w = widget("c2", "sc", users=[{"name": "orders_owner", "kubernetesSecret": {"name": "s"}}])
        st, body, _ = self.post(w)
        self.assertEqual(self.causes(body)["spec"], 'Invalid value: user names must differ from the owner')
        w = widget("c3", "sc", users=[{"name": "a", "kubernetesSecret": {"name": "s"},
                                       "secretsManager": {"secretId": "x"}}])
        st, body, _ = self.post(w)
        self.assertEqual(self.causes(body)["spec.users[0]"], 'Invalid value: exactly one password source')
        w = widget("c4", "sc", users=[{"name": "a", "secretsManager": {"secretId": "x"}}])
        st, body, _ = self.post(w)
        self.assertEqual(st, 201, body)

    def test_cel_transition_rule(self):
        w = widget("c5", "sc", immutableField="one")
        st, body, _ = self.post(w)
        self.assertEqual(st, 201, body)
        st, body, _ = self.sim.http("PATCH", WPATH % "sc" + "/c5", {"spec": {"immutableField": "two"}},
                                    ctype="application/merge-patch+json")
        self.assertEqual(st, 422)
        self.assertIn("immutableField is immutable", body["message"])
        st, body, _ = self.sim.http("PATCH", WPATH % "sc" + "/c5", {"spec": {"size": 4}},
                                    ctype="application/merge-patch+json")
        self.assertEqual(st, 200)

    def test_crd_validation(self):
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "wrong.example.dev"},
               "spec": {"group": "example.dev", "scope": "Namespaced",
                        "names": {"plural": "things", "kind": "Thing"},
                        "versions": [{"name": "v1", "served": True, "storage": True}]}}
        st, body, _ = self.sim.http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        self.assertEqual(st, 422)
        fields = [c["field"] for c in body["details"]["causes"]]
        self.assertIn("metadata.name", fields)
        self.assertIn("spec.versions[0].schema.openAPIV3Schema", fields)

    def test_appdatabase_crd_if_present(self):
        path = os.path.join(os.environ.get("APPDB_ROOT", os.path.join(HERE, "..", "..")), "crds",
                            "appdatabase.yaml")
        if not os.path.exists(path):
            self.skipTest("crds/appdatabase.yaml not in this tree yet")
        self.sim.kubectl("apply", "-f", path)
        self.ensure_ns("team-orders")
        good = """
apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata: {name: orders, namespace: team-orders}
spec:
  instance: orders-rds
  database: {name: orders, owner: orders_owner}
  users:
  - name: orders_app
    access: readwrite
    passwordFrom:
      secretsManager: {secretId: prod/orders/app, key: password}
  - name: orders_ro
    access: readonly
    passwordFrom:
      kubernetesSecret: {name: orders-ro-db, key: password}
"""
        self.sim.kubectl("apply", "-f", "-", input=good)
        out = self.sim.kubectl("get", "appdb", "-n", "team-orders").stdout
        for col in ("INSTANCE", "DATABASE", "READY", "REASON", "AGE"):
            self.assertIn(col, out)
        bad = [good.replace("name: orders,", "name: postgres,"),
               good.replace("name: orders_ro", "name: orders_app"),
               good.replace("name: orders_ro", "name: orders_owner"),
               good.replace("kubernetesSecret: {name: orders-ro-db, key: password}",
                            "kubernetesSecret: {name: orders-ro-db, key: password}\n"
                            "      secretsManager: {secretId: x}"),
               good.replace("name: orders_app", "name: pg_app")]
        for i, text in enumerate(bad):
            p = self.sim.kubectl("apply", "--dry-run=server", "-f", "-", input=text, check=False)
            self.assertNotEqual(p.returncode, 0, "case %d accepted" % i)
            self.assertIn("is invalid", p.stderr, "case %d" % i)


class LintTest(unittest.TestCase):

    def test_python_modules_compile(self):
        files = [os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(".py")] + \
            [os.path.join(HERE, "kubesim"), os.path.join(HERE, "kubesimctl")]
        p = subprocess.run(["python3", "-m", "py_compile"] + files, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
