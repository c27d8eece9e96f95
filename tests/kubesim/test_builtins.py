"""A rendered Helm-chart-like set of built-in kinds applies cleanly, is
listed, re-applies unchanged and deletes."""

import json
import os

from simtest import SimTestCase, TESTDATA


class ChartTest(SimTestCase):

    def test_chart_applies_lists_and_deletes(self):
        self.sim.kubectl("create", "namespace", "chart")
        self.sim.kubectl("apply", "-f", os.path.join(TESTDATA, "servicemonitor-crd.yaml"))
        chart = os.path.join(TESTDATA, "chart.yaml")
        out = self.sim.kubectl("apply", "-f", chart).stdout
        self.assertEqual(out.count(" created"), 13, out)
        out = self.sim.kubectl("apply", "-f", chart).stdout
        # kubectl always sends the PDB selector (patchStrategy=replace), so a
        # real server also reports that one as configured
        self.assertEqual(out.count(" unchanged"), 12, out)
        self.assertIn("poddisruptionbudget.policy/appdb-operator configured", out)
        out = self.sim.kubectl("apply", "-f", chart, "--dry-run=server").stdout
        self.assertEqual(out.count("(server dry run)"), 13, out)
        out = self.sim.kubectl("get", "deploy,svc,sa,cm,pvc,pdb,role,rolebinding,servicemonitor", "-n", "chart",
                               "-o", "name").stdout.split()
        for name in ("deployment.apps/appdb-operator", "service/appdb-operator-metrics",
                     "serviceaccount/appdb-operator", "configmap/appdb-operator",
                     "persistentvolumeclaim/appdb-operator-cache", "poddisruptionbudget.policy/appdb-operator",
                     "role.rbac.authorization.k8s.io/appdb-operator-leader",
                     "rolebinding.rbac.authorization.k8s.io/appdb-operator-leader",
                     "servicemonitor.monitoring.coreos.com/appdb-operator"):
            self.assertIn(name, out)
        out = self.sim.kubectl("get", "validatingadmissionpolicies,validatingadmissionpolicybindings",
                               "-o", "name").stdout.split()
        self.assertEqual(len(out), 2)
        dep = json.loads(self.sim.kubectl("get", "deploy", "appdb-operator", "-n", "chart", "-o", "json").stdout)
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertEqual(dep["metadata"]["generation"], 1)
        changed = open(chart).read().replace("replicas: 2", "replicas: 3")
        out = self.sim.kubectl("apply", "-f", "-", input=changed).stdout
        self.assertIn("deployment.apps/appdb-operator configured", out)
        dep = json.loads(self.sim.kubectl("get", "deploy", "appdb-operator", "-n", "chart", "-o", "json").stdout)
        self.assertEqual((dep["spec"]["replicas"], dep["metadata"]["generation"]), (3, 2))
        out = self.sim.kubectl("delete", "-f", chart).stdout
        self.assertEqual(out.count(" deleted"), 13, out)
        out = self.sim.kubectl("get", "all", "-n", "chart", "-o", "name").stdout
        self.assertEqual(out.strip(), "")
