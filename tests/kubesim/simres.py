"""kubesim resource registry: the built-in kinds, the kinds CRDs add, their
discovery documents, OpenAPI v3 documents and server-side Table columns."""

import hashlib
import json

from simutil import age, jsonpath


class Res:
    """One served resource in one group version."""

    def __init__(self, group, version, plural, singular, kind, namespaced, short=(), cats=(),
                 status=False, gen=False, skey=None, crd=None, verbs=None, return_object=True,
                 create_on_update=False, storage_version=None, create_only=False):
        self.group = group
        self.version = version
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.short = list(short)
        self.cats = list(cats)
        self.status = status
        self.gen = gen
        self.skey = skey or "%s/%s" % (group, plural)
        self.crd = crd
        self.create_only = create_only
        self.verbs = verbs or (["create"] if create_only else
                               ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
        self.return_object = return_object
        self.create_on_update = create_on_update
        # custom resources, CRDs and Leases refuse an update without a resourceVersion
        self.unconditional_update = crd is None and self.skey not in (
            "apiextensions.k8s.io/customresourcedefinitions", "coordination.k8s.io/leases")
        self.storage_version = storage_version or version
        self.scale = None  # (specReplicasPath, statusReplicasPath, labelSelectorPath) with /scale
        self.schema = None
        self.columns = None
        self.selectable = []

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    def kind_group(self):
        return self.kind + ("." + self.group if self.group else "")


def _b(group, version, plural, singular, kind, namespaced, **kw):
    return Res(group, version, plural, singular, kind, namespaced, **kw)


def builtins():
    """The built-in kinds kubesim serves."""
    out = _builtins()
    for r in out:
        if r.skey in ("apps/deployments", "apps/statefulsets", "apps/replicasets"):
            r.scale = (".spec.replicas", ".status.replicas", None)
    return out


def _builtins():
    return [
        _b("", "v1", "namespaces", "namespace", "Namespace", False, short=["ns"], status=True),
        _b("", "v1", "secrets", "secret", "Secret", True, return_object=False),
        _b("", "v1", "configmaps", "configmap", "ConfigMap", True, short=["cm"], return_object=False),
        _b("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, short=["sa"],
           return_object=False),
        _b("", "v1", "events", "event", "Event", True, short=["ev"], return_object=False),
        _b("", "v1", "services", "service", "Service", True, short=["svc"], cats=["all"], status=True),
        _b("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True,
           short=["pvc"], status=True),
        _b("", "v1", "pods", "pod", "Pod", True, short=["po"], cats=["all"], status=True),
        _b("apps", "v1", "deployments", "deployment", "Deployment", True, short=["deploy"], cats=["all"],
           status=True, gen=True),
        _b("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, short=["sts"], cats=["all"],
           status=True, gen=True),
        _b("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, short=["ds"], cats=["all"],
           status=True, gen=True),
        _b("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, short=["rs"], cats=["all"],
           status=True, gen=True),
        _b("batch", "v1", "jobs", "job", "Job", True, cats=["all"], status=True, gen=True),
        _b("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, create_on_update=True,
           return_object=False),
        _b("events.k8s.io", "v1", "events", "event", "Event", True, short=["ev"], skey="/events",
           return_object=False),
        _b("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
           short=["pdb"], status=True, gen=True),
        _b("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", True,
           short=["netpol"], gen=True),
        _b("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, short=["ing"], status=True,
           gen=True),
        _b("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True, return_object=False),
        _b("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True,
           return_object=False),
        _b("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False,
           return_object=False),
        _b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
           "ClusterRoleBinding", False, return_object=False),
        _b("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
           "CustomResourceDefinition", False, short=["crd", "crds"], status=True, gen=True),
        _b("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
           "validatingadmissionpolicy", "ValidatingAdmissionPolicy", False, status=True, gen=True),
        _b("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
           "validatingadmissionpolicybinding", "ValidatingAdmissionPolicyBinding", False, gen=True),
        _b("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
           "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", False, gen=True),
        _b("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
           "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", False, gen=True),
        _b("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", False, short=["pc"]),
        _b("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
           "SelfSubjectAccessReview", False, create_only=True),
        _b("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview",
           "SelfSubjectRulesReview", False, create_only=True),
        _b("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview",
           "SubjectAccessReview", False, create_only=True),
        _b("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview",
           False, create_only=True),
        _b("authentication.k8s.io", "v1", "tokenreviews", "tokenreview", "TokenReview", False,
           create_only=True),
    ]


def crd_resources(crd):
    """Res objects for every served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        subs = v.get("subresources") or spec.get("subresources") or {}
        r = Res(spec.get("group", ""), v.get("name"), names.get("plural"),
                names.get("singular") or (names.get("kind") or "").lower(), names.get("kind"),
                spec.get("scope", "Namespaced") == "Namespaced", short=names.get("shortNames") or [],
                cats=names.get("categories") or [], status="status" in subs, gen=True, crd=crd,
                storage_version=storage)
        sc = subs.get("scale")
        if isinstance(sc, dict):
            r.scale = (sc.get("specReplicasPath", ".spec.replicas"), sc.get("statusReplicasPath", ".status.replicas"),
                       sc.get("labelSelectorPath"))
        r.schema = (v.get("schema") or {}).get("openAPIV3Schema") or spec.get("validation", {}).get(
            "openAPIV3Schema")
        r.columns = v.get("additionalPrinterColumns")
        if r.columns is None:
            r.columns = spec.get("additionalPrinterColumns")
        r.selectable = [f.get("jsonPath", "").lstrip(".") for f in v.get("selectableFields") or []]
        out.append(r)
    return out


# ---- discovery ----------------------------------------------------------------
def group_versions(resources):
    """{group: [versions in order]} for the served resources."""
    gv = {}
    for r in resources:
        vs = gv.setdefault(r.group, [])
        if r.version not in vs:
            vs.append(r.version)
    for g, vs in gv.items():
        vs.sort(key=_version_key, reverse=True)
    return gv


def _version_key(v):
    import re
    m = re.match(r"v(\d+)(alpha|beta)?(\d*)", v)
    if not m:
        return (0, 0, 0, v)
    stab = {"alpha": 1, "beta": 2, None: 3}[m.group(2)]
    return (stab, int(m.group(1)), int(m.group(3) or 0), v)


def api_resource_list(resources, group, version):
    res = []
    for r in resources:
        if r.group != group or r.version != version:
            continue
        d = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
             "verbs": r.verbs}
        if r.short:
            d["shortNames"] = r.short
        if r.cats:
            d["categories"] = r.cats
        d["storageVersionHash"] = hashlib.sha256(r.skey.encode()).hexdigest()[:12]
        res.append(d)
        if r.status:
            res.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get", "patch", "update"]})
        if r.scale:
            res.append({"name": r.plural + "/scale", "singularName": "", "namespaced": r.namespaced,
                        "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
        if r.skey == "/serviceaccounts":
            res.append({"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
                        "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
                        "verbs": ["create"]})
    gv = "%s/%s" % (group, version) if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}


def aggregated(resources, core):
    """APIGroupDiscoveryList (apidiscovery.k8s.io/v2) for /api or /apis."""
    items = []
    for g, vs in group_versions(resources).items():
        if (g == "") != core:
            continue
        versions = []
        for v in vs:
            res = []
            for r in resources:
                if r.group != g or r.version != v:
                    continue
                d = {"resource": r.plural, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                     "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                     "verbs": r.verbs}
                if r.short:
                    d["shortNames"] = r.short
                if r.cats:
                    d["categories"] = r.cats
                subs = []
                if r.status:
                    subs.append({"subresource": "status", "responseKind": dict(d["responseKind"]),
                                 "verbs": ["get", "patch", "update"]})
                if r.scale:
                    subs.append({"subresource": "scale", "responseKind": {
                        "group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]})
                if r.skey == "/serviceaccounts":
                    subs.append({"subresource": "token", "responseKind": {
                        "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"},
                        "verbs": ["create"]})
                if subs:
                    d["subresources"] = subs
                res.append(d)
            versions.append({"version": v, "resources": res, "freshness": "Current"})
        items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}


def api_group(group, versions):
    vs = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs, "preferredVersion": vs[0]}


# ---- OpenAPI v3 -----------------------------------------------------------------
PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]


def _op(r, action, verb_kind):
    op = {"operationId": "%s%s" % (action, r.kind), "tags": [r.api_version],
          "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
              "$ref": "#/components/schemas/" + schema_name(r)}}}}}}
    if verb_kind == "patch":
        op["parameters"] = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in PARAMS]
        op["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in (
            "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")},
            "required": True}
    elif verb_kind in ("post", "put"):
        op["parameters"] = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in PARAMS[:3]]
        op["requestBody"] = {"content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/" + schema_name(r)}}}, "required": True}
    return op


def schema_name(r):
    g = ".".join(reversed(r.group.split("."))) if r.group else "io.k8s.api.core"
    return "%s.%s.%s" % (g, r.version, r.kind)


def openapi_gv(resources, group, version):
    paths = {}
    schemas = {}
    prefix = "/api/v1" if not group else "/apis/%s/%s" % (group, version)
    for r in resources:
        if r.group != group or r.version != version:
            continue
        base = prefix + ("/namespaces/{namespace}/" if r.namespaced else "/") + r.plural
        if r.create_only:
            paths[base] = {"post": _op(r, "post", "post")}
        else:
            paths[base] = {"get": _op(r, "list", "get"), "post": _op(r, "post", "post"),
                           "delete": _op(r, "deletecollection", "delete")}
            paths[base + "/{name}"] = {"get": _op(r, "get", "get"), "put": _op(r, "put", "put"),
                                       "patch": _op(r, "patch", "patch"), "delete": _op(r, "delete", "delete")}
            if r.status:
                paths[base + "/{name}/status"] = {"get": _op(r, "get", "get"), "put": _op(r, "put", "put"),
                                                  "patch": _op(r, "patch", "patch")}
        sch = json.loads(json.dumps(r.schema)) if r.schema else {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}
        sch["x-kubernetes-group-version-kind"] = [{"group": r.group, "version": r.version, "kind": r.kind}]
        schemas[schema_name(r)] = sch
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.36.3"}, "paths": paths,
            "components": {"schemas": schemas}}


def openapi_root(resources):
    paths = {}
    docs = {}
    for g, vs in group_versions(resources).items():
        for v in vs:
            key = "api/v1" if not g else "apis/%s/%s" % (g, v)
            doc = json.dumps(openapi_gv(resources, g, v), sort_keys=True).encode()
            h = hashlib.sha512(doc).hexdigest().upper()[:128]
            docs[key] = doc
            paths[key] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (key, h)}
    return {"paths": paths}, docs


# ---- server-side Table --------------------------------------------------------
NAME_DESC = "Name must be unique within a namespace."


def _col(name, typ="string", fmt="", prio=0, desc=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc or name, "priority": prio}


def _meta(o):
    return o.get("metadata") or {}


def _age(o):
    return age(_meta(o).get("creationTimestamp"))


def _event_last(o):
    ts = o.get("lastTimestamp") or o.get("eventTime") or o.get("firstTimestamp") or _meta(o).get(
        "creationTimestamp")
    return age(ts)


BUILTIN_TABLES = {
    "/namespaces": ([_col("Name", fmt="name", desc=NAME_DESC), _col("Status"), _col("Age")],
                    lambda o: [_meta(o).get("name"), (o.get("status") or {}).get("phase", "Active"), _age(o)]),
    "/secrets": ([_col("Name", fmt="name", desc=NAME_DESC), _col("Type"), _col("Data", "integer"), _col("Age")],
                 lambda o: [_meta(o).get("name"), o.get("type", "Opaque"), len(o.get("data") or {}), _age(o)]),
    "/configmaps": ([_col("Name", fmt="name", desc=NAME_DESC), _col("Data", "integer"), _col("Age")],
                    lambda o: [_meta(o).get("name"), len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                               _age(o)]),
    "/serviceaccounts": ([_col("Name", fmt="name", desc=NAME_DESC), _col("Secrets", "integer"), _col("Age")],
                         lambda o: [_meta(o).get("name"), len(o.get("secrets") or []), _age(o)]),
    "/events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
                 _col("Subobject", prio=1), _col("Source", prio=1), _col("Message"),
                 _col("First Seen", prio=1), _col("Count", prio=1), _col("Name", prio=1)],
                lambda o: [_event_last(o), o.get("type", ""), o.get("reason", ""),
                           "%s/%s" % ((o.get("involvedObject") or {}).get("kind", "").lower(),
                                      (o.get("involvedObject") or {}).get("name", "")),
                           (o.get("involvedObject") or {}).get("fieldPath", ""),
                           (o.get("source") or {}).get("component") or o.get("reportingComponent", ""),
                           o.get("message", ""), age(o.get("firstTimestamp") or o.get("eventTime")),
                           o.get("count") or 1, _meta(o).get("name")]),
    "coordination.k8s.io/leases": ([_col("Name", fmt="name", desc=NAME_DESC), _col("Holder"), _col("Age")],
                                   lambda o: [_meta(o).get("name"),
                                              (o.get("spec") or {}).get("holderIdentity", ""), _age(o)]),
    "apiextensions.k8s.io/customresourcedefinitions": (
        [_col("Name", fmt="name", desc=NAME_DESC), _col("Created At", "date")],
        lambda o: [_meta(o).get("name"), _meta(o).get("creationTimestamp")]),
    "apps/deployments": ([_col("Name", fmt="name", desc=NAME_DESC), _col("Ready"), _col("Up-to-date", "integer"),
                          _col("Available", "integer"), _col("Age")],
                         lambda o: [_meta(o).get("name"), "%d/%d" % ((o.get("status") or {}).get("readyReplicas", 0),
                                                                     (o.get("spec") or {}).get("replicas", 1)),
                                    (o.get("status") or {}).get("updatedReplicas", 0),
                                    (o.get("status") or {}).get("availableReplicas", 0), _age(o)]),
}


def table_columns(r):
    """(columnDefinitions, cells function) for a resource."""
    if r.crd is not None:
        cols = [_col("Name", fmt="name", desc=NAME_DESC)]
        specs = r.columns
        if not specs:
            specs = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        for c in specs:
            cols.append(_col(c.get("name"), c.get("type", "string"), c.get("format", ""), c.get("priority", 0),
                             c.get("description", "")))

        def cells(o, specs=specs):
            out = [_meta(o).get("name")]
            for c in specs:
                vals = jsonpath(o, c.get("jsonPath", ""))
                if not vals:
                    out.append(None)
                    continue
                v = vals[0]
                t = c.get("type", "string")
                if t == "date":
                    out.append(age(v) if isinstance(v, str) else None)
                elif t == "string":
                    out.append(v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list))
                               else str(v).lower() if isinstance(v, bool) else str(v))
                elif t == "integer":
                    out.append(v if isinstance(v, int) and not isinstance(v, bool) else None)
                elif t == "number":
                    out.append(v if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
                elif t == "boolean":
                    out.append(v if isinstance(v, bool) else None)
                else:
                    out.append(v)
            return out
        return cols, cells
    if r.skey in BUILTIN_TABLES:
        return BUILTIN_TABLES[r.skey]
    return ([_col("Name", fmt="name", desc=NAME_DESC), _col("Age")], lambda o: [_meta(o).get("name"), _age(o)])
