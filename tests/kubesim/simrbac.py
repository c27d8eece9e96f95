"""kubesim authorization: RBAC over the stored Role, ClusterRole, RoleBinding
and ClusterRoleBinding objects, like the real RBAC authorizer (no
aggregation rules, no escalation checks)."""


RBAC = "rbac.authorization.k8s.io/"


def _subject_matches(subj, user, groups, binding_ns):
    kind = subj.get("kind")
    if kind == "User":
        return subj.get("name") == user
    if kind == "Group":
        return subj.get("name") in groups
    if kind == "ServiceAccount":
        ns = subj.get("namespace") or binding_ns
        return user == "system:serviceaccount:%s:%s" % (ns, subj.get("name"))
    return False


def _rule_allows(rule, attrs):
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs["verb"] not in verbs:
        return False
    if attrs.get("path") is not None:
        urls = rule.get("nonResourceURLs") or []
        p = attrs["path"]
        for u in urls:
            if u == "*" or u == p or (u.endswith("*") and p.startswith(u[:-1])):
                return True
        return False
    if rule.get("nonResourceURLs") and not rule.get("resources"):
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs["group"] not in groups:
        return False
    res = attrs["resource"] + ("/" + attrs["subresource"] if attrs.get("subresource") else "")
    resources = rule.get("resources") or []
    ok = False
    for r in resources:
        if r == "*" or r == res or (r.startswith("*/") and attrs.get("subresource") == r[2:]):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    if names:
        if not attrs.get("name") or attrs["name"] not in names:
            return False
    return True


def _selector_match(sel, labels):
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        op, key, vals = e.get("operator"), e.get("key"), e.get("values") or []
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and key in labels and labels[key] in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _role_rules(store, ref, ns):
    kind = ref.get("kind")
    if kind == "ClusterRole":
        role = store.get(RBAC + "clusterroles", "", ref.get("name"))
    elif kind == "Role":
        role = store.get(RBAC + "roles", ns, ref.get("name"))
    else:
        role = None
    rules = list((role or {}).get("rules") or [])
    agg = (role or {}).get("aggregationRule")
    if kind == "ClusterRole" and agg:
        # what the aggregation controller would have written into .rules
        sels = agg.get("clusterRoleSelectors") or []
        for other in store.list(RBAC + "clusterroles")[0]:
            if other is role or other.get("aggregationRule"):
                continue
            labels = (other.get("metadata") or {}).get("labels")
            if any(_selector_match(sel, labels) for sel in sels):
                rules.extend(other.get("rules") or [])
    return rules


def authorize(store, user, groups, attrs):
    """True when the RBAC objects allow attrs (verb, group, resource,
    subresource, namespace, name) or a non-resource path."""
    if "system:masters" in groups:
        return True
    with store.lock:
        crbs, _ = store.list(RBAC + "clusterrolebindings")
        for b in crbs:
            if any(_subject_matches(s, user, groups, "") for s in b.get("subjects") or []):
                for rule in _role_rules(store, b.get("roleRef") or {}, ""):
                    if _rule_allows(rule, attrs):
                        return True
        ns = attrs.get("namespace")
        if ns and attrs.get("path") is None:
            rbs, _ = store.list(RBAC + "rolebindings", ns)
            for b in rbs:
                if any(_subject_matches(s, user, groups, ns) for s in b.get("subjects") or []):
                    for rule in _role_rules(store, b.get("roleRef") or {}, ns):
                        if _rule_allows(rule, attrs):
                            return True
    return False


def rules_for(store, user, groups, ns):
    """Resource and non-resource rules that apply to a user in ns (for
    SelfSubjectRulesReview)."""
    out = []
    with store.lock:
        crbs, _ = store.list(RBAC + "clusterrolebindings")
        for b in crbs:
            if any(_subject_matches(s, user, groups, "") for s in b.get("subjects") or []):
                out.extend(_role_rules(store, b.get("roleRef") or {}, ""))
        if ns:
            rbs, _ = store.list(RBAC + "rolebindings", ns)
            for b in rbs:
                if any(_subject_matches(s, user, groups, ns) for s in b.get("subjects") or []):
                    out.extend(_role_rules(store, b.get("roleRef") or {}, ns))
    return out


def bootstrap_objects():
    """The default ClusterRoles and bindings every real cluster has."""
    def cr(name, rules):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                "rules": rules}

    def crb(name, role, groups):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups]}
    return [
        cr("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                             {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        cr("system:discovery", [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                     "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                                 "verbs": ["get"]}]),
        cr("system:public-info-viewer", [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version",
                                                              "/version/"], "verbs": ["get"]}]),
        cr("system:basic-user", [{"apiGroups": ["authorization.k8s.io"],
                                  "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                                  "verbs": ["create"]},
                                 {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
                                  "verbs": ["create"]}]),
        crb("cluster-admin", "cluster-admin", ["system:masters"]),
        crb("system:discovery", "system:discovery", ["system:authenticated"]),
        crb("system:public-info-viewer", "system:public-info-viewer",
            ["system:authenticated", "system:unauthenticated"]),
        crb("system:basic-user", "system:basic-user", ["system:authenticated"]),
    ]


