"""ValidatingAdmissionPolicy enforcement: the project's approval policy
driven with kubectl and impersonation, and the generic features."""

import os

from simtest import SimTestCase, TESTDATA, HERE, widget, WPATH

POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: small-widgets}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [example.dev]
      apiVersions: ["*"]
      operations: [CREATE, UPDATE]
      resources: [widgets]
  matchConditions:
  - name: not-exempt
    expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"
  variables:
  - name: size
    expression: object.spec.size
  validations:
  - expression: variables.size <= 5
    messageExpression: "'size ' + string(variables.size) + ' is too big for ' + request.userInfo.username"
  - expression: "request.operation != 'UPDATE' || object.spec.size >= oldObject.spec.size"
    message: widgets never shrink
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: small-widgets}
spec:
  policyName: small-widgets
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {policy: "on"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: warn-color}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [example.dev]
      apiVersions: ["*"]
      operations: [CREATE]
      resources: [widgets]
  validations:
  - expression: "object.spec.color != 'blue'"
    message: blue is discouraged
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: warn-color}
spec:
  policyName: warn-color
  validationActions: [Warn]
"""


class AdmissionTest(SimTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim.kubectl("apply", "-f", os.path.join(TESTDATA, "widget-crd.yaml"))
        cls.sim.kubectl("create", "namespace", "adm")
        cls.sim.kubectl("label", "namespace", "adm", "policy=on")
        cls.sim.kubectl("create", "namespace", "free")
        cls.sim.kubectl("apply", "-f", "-", input=POLICY)

    def test_deny_with_message_expression_and_reason(self):
        st, body, _ = self.sim.http("POST", WPATH % "adm", widget("big", "adm", size=7))
        self.assertEqual((st, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["message"], 'widgets.example.dev "big" is forbidden: ValidatingAdmissionPolicy '
                         "'small-widgets' with binding 'small-widgets' denied request: size 7 is too big for "
                         "kubernetes-admin")
        st, body, _ = self.sim.http("POST", WPATH % "adm", widget("ok", "adm", size=4))
        self.assertEqual(st, 201, body)
        st, body, _ = self.sim.http("PATCH", WPATH % "adm" + "/ok", {"spec": {"size": 3}},
                                    ctype="application/merge-patch+json")
        self.assertEqual((st, body["reason"]), (403, "Forbidden"))
        self.assertIn("widgets never shrink", body["message"])
        st, _, _ = self.sim.http("PATCH", WPATH % "adm" + "/ok", {"spec": {"size": 5}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(st, 200)

    def test_selectors_and_match_conditions(self):
        st, _, _ = self.sim.http("POST", WPATH % "free", widget("big", "free", size=7))
        self.assertEqual(st, 201)  # namespace not selected by the binding
        w = widget("exempt", "adm", size=9)
        w["metadata"]["labels"] = {"exempt": "yes"}
        st, _, _ = self.sim.http("POST", WPATH % "adm", w)
        self.assertEqual(st, 201)  # matchCondition false

    def test_warn_action(self):
        st, body, h = self.sim.http("POST", WPATH % "free", widget("blue", "free", color="blue"))
        self.assertEqual(st, 201, body)
        self.assertIn("blue is discouraged", " ".join(h.get_all("Warning") or []))
        p = self.sim.kubectl("apply", "-f", "-", input="""
apiVersion: example.dev/v1
kind: Widget
metadata: {name: blue2, namespace: free}
spec: {size: 1, color: blue, db: {name: a, owner: b}}
""")
        self.assertIn("blue is discouraged", p.stderr)

    def test_project_approval_policy(self):
        root = os.environ.get("APPDB_ROOT", os.path.join(HERE, "..", ".."))
        policy = os.path.join(root, "manifests", "admission-policy.yaml")
        crd = os.path.join(root, "crds", "appdatabase.yaml")
        if not (os.path.exists(policy) and os.path.exists(crd)):
            self.skipTest("manifests/admission-policy.yaml or crds/appdatabase.yaml not in this tree")
        self.sim.kubectl("apply", "-f", crd)
        self.sim.kubectl("apply", "-f", policy)
        self.sim.kubectl("create", "namespace", "team-orders")
        self.sim.kubectl("apply", "-f", "-", input="""
apiVersion: db.platform.dev/v1alpha1
kind: AppDatabase
metadata: {name: orders, namespace: team-orders}
spec:
  instance: orders-rds
  database: {name: orders, owner: orders_owner}
""")
        self.sim.kubectl("create", "clusterrolebinding", "approvers", "--clusterrole=cluster-admin",
                         "--group=appdb-approvers")
        k = ["annotate", "appdb", "orders", "-n", "team-orders", "--overwrite"]
        approve = ["db.platform.dev/approved-generation=1", "db.platform.dev/approved-by=jane"]
        p = self.sim.kubectl(*(k + approve), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("only members of the group appdb-approvers", p.stderr)
        p = self.sim.kubectl(*(k + approve + ["--as=bob", "--as-group=appdb-approvers"]), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("approved-by must be the approver's own user name", p.stderr)
        self.sim.kubectl(*(k + approve + ["--as=jane", "--as-group=appdb-approvers"]))
        out = self.sim.kubectl("get", "appdb", "orders", "-n", "team-orders",
                               "-o", "jsonpath={.metadata.annotations.db\\.platform\\.dev/approved-by}").stdout
        self.assertEqual(out, "jane")
        # other changes by anyone stay allowed
        self.sim.kubectl("annotate", "appdb", "orders", "-n", "team-orders", "db.platform.dev/build-id=ci-1")
