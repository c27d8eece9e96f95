"""A read-only stand-in for an API server, enough for
`kubectl apply --dry-run=client`: discovery for the kinds the chart renders,
404 for every object, and a log of what was asked. kubectl needs a server for
discovery even in client dry-run; this one never stores anything, so any
write request is recorded and fails the test."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# group, version, kind, plural, namespaced
RESOURCES = [
    ("", "v1", "Namespace", "namespaces", False),
    ("", "v1", "ServiceAccount", "serviceaccounts", True),
    ("", "v1", "ConfigMap", "configmaps", True),
    ("", "v1", "Secret", "secrets", True),
    ("", "v1", "Service", "services", True),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ("", "v1", "Event", "events", True),
    ("apps", "v1", "Deployment", "deployments", True),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
     "validatingadmissionpolicybindings", False),
    ("coordination.k8s.io", "v1", "Lease", "leases", True),
    ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", True),
    ("db.platform.dev", "v1alpha1", "AppDatabase", "appdatabases", True),
]
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resource_list(group, version):
    gv = version if not group else "%s/%s" % (group, version)
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": ns, "kind": kind,
                       "verbs": VERBS}
                      for g, v, kind, plural, ns in RESOURCES if g == group and v == version],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        path = self.path.split("?", 1)[0]
        self.server.log.append((self.command, self.path))
        if self.command != "GET":
            self.server.writes.append((self.command, self.path))
            return self._send(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "MethodNotAllowed", "code": 405})
        groups = sorted({(g, v) for g, v, *_ in RESOURCES if g})
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                    "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": "%s/%s" % (g, v), "version": v}],
                 "preferredVersion": {"groupVersion": "%s/%s" % (g, v), "version": v}} for g, v in groups]})
        if path == "/api/v1":
            return self._send(200, _resource_list("", "v1"))
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in groups:
            return self._send(200, _resource_list(parts[1], parts[2]))
        if path == "/version":
            return self._send(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                "message": "not found", "reason": "NotFound", "code": 404})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class DiscoveryStub:
    """Starts on a free loopback port; use as a context manager."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.log = []
        self.server.writes = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    @property
    def log(self):
        return self.server.log

    @property
    def writes(self):
        return self.server.writes

    def kubeconfig(self, path):
        with open(path, "w") as f:
            f.write("""apiVersion: v1
kind: Config
clusters:
- name: stub
  cluster: {server: "%s"}
users:
- name: stub
  user: {token: stub}
contexts:
- name: stub
  context: {cluster: stub, user: stub, namespace: default}
current-context: stub
""" % self.url)
        return path

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
