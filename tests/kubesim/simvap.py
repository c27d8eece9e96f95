"""kubesim validating admission: ValidatingAdmissionPolicy and its bindings
(admissionregistration.k8s.io/v1) enforced on create, update and delete,
with the CEL subset of simcel. Parameters (paramKind/paramRef) and the
authorizer variable are not supported: such a policy is skipped with a
warning on stderr."""

import sys

import simcel
from simutil import ApiError, label_match

VAP = "admissionregistration.k8s.io/validatingadmissionpolicies"
VAPB = "admissionregistration.k8s.io/validatingadmissionpolicybindings"
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}
_warned = set()


class LazyVars(dict):
    """The `variables` map: each variable is compiled and evaluated on first
    use, in the context of the other variables."""

    def __init__(self, specs, env):
        super().__init__()
        self.specs = {v.get("name"): v.get("expression", "") for v in specs}
        self.env = env
        self.done = {}

    def __contains__(self, k):
        return k in self.specs

    def __getitem__(self, k):
        if k not in self.specs:
            raise KeyError(k)
        if k not in self.done:
            try:
                self.done[k] = ("ok", simcel.evaluate(simcel.compile_rule(self.specs[k]), self.env))
            except simcel.CelError as e:
                self.done[k] = ("err", e)
        kind, v = self.done[k]
        if kind == "err":
            raise v
        return v

    def keys(self):
        return self.specs.keys()


def _selector_match(sel, labels):
    if not sel:
        return True
    reqs = [(k, "=", [v]) for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}.get(e.get("operator"))
        reqs.append((e.get("key"), op, e.get("values") or []))
    return label_match(reqs, labels)


def _rule_match(rule, attrs):
    def has(lst, v):
        return "*" in (lst or []) or v in (lst or [])
    if not has(rule.get("apiGroups"), attrs["group"]) or not has(rule.get("apiVersions"), attrs["version"]):
        return False
    if not has(rule.get("operations"), attrs["operation"]):
        return False
    res = attrs["resource"] + ("/" + attrs["subresource"] if attrs["subresource"] else "")
    ok = False
    for x in rule.get("resources") or []:
        if x == "*" and not attrs["subresource"]:
            ok = True
        elif x == "*/*" or x == res or (x.startswith("*/") and attrs["subresource"] == x[2:]) or \
                (x.endswith("/*") and x[:-2] == attrs["resource"] and attrs["subresource"]):
            ok = True
    if not ok:
        return False
    if rule.get("resourceNames") and attrs["name"] not in rule["resourceNames"]:
        return False
    scope = rule.get("scope", "*")
    if scope == "Namespaced" and not attrs["namespaced"]:
        return False
    if scope == "Cluster" and attrs["namespaced"]:
        return False
    return True


def _resources_match(mr, attrs, obj_labels, ns_labels):
    if not mr:
        return True
    if attrs["namespaced"] and not _selector_match(mr.get("namespaceSelector"), ns_labels):
        return False
    if not _selector_match(mr.get("objectSelector"), obj_labels):
        return False
    if any(_rule_match(x, attrs) for x in mr.get("excludeResourceRules") or []):
        return False
    rules = mr.get("resourceRules")
    if rules is None:
        return True
    return any(_rule_match(x, attrs) for x in rules)


def _compile(expr, policy):
    try:
        return simcel.compile_rule(expr)
    except simcel.CelUnsupported as e:
        key = (policy, expr)
        if key not in _warned:
            _warned.add(key)
            sys.stderr.write("kubesim: warning: ValidatingAdmissionPolicy %s: skipping unsupported expression "
                             "%r: %s\n" % (policy, expr, e))
        return None


def admit(store, r, operation, obj, old, user, groups, ns, name, sub, dry):
    """Run the bound policies; raises the real error for a denial, returns
    warnings for Warn bindings."""
    policies = {p["metadata"]["name"]: p for p in store.list(VAP)[0]}
    bindings = store.list(VAPB)[0]
    if not bindings:
        return []
    attrs = {"group": r.group, "version": r.version, "resource": r.plural, "subresource": sub or "",
             "operation": operation, "name": name, "namespaced": r.namespaced}
    ref = obj if obj is not None else old
    obj_labels = ((ref or {}).get("metadata") or {}).get("labels") or {}
    nso = store.get("/namespaces", "", ns) if ns else None
    ns_labels = ((nso or {}).get("metadata") or {}).get("labels") or {}
    request = {"operation": operation, "name": name, "namespace": ns or "",
               "userInfo": {"username": user, "groups": list(groups)},
               "kind": {"group": r.group, "version": r.version, "kind": r.kind},
               "resource": {"group": r.group, "version": r.version, "resource": r.plural},
               "subResource": sub or "", "dryRun": bool(dry)}
    warnings = []
    for b in bindings:
        spec = b.get("spec") or {}
        pol = policies.get(spec.get("policyName"))
        if pol is None:
            continue
        pspec = pol.get("spec") or {}
        pname = pol["metadata"]["name"]
        if pspec.get("paramKind"):
            if (pname, "params") not in _warned:
                _warned.add((pname, "params"))
                sys.stderr.write("kubesim: warning: ValidatingAdmissionPolicy %s uses params: skipped\n" % pname)
            continue
        if not _resources_match(pspec.get("matchConstraints"), attrs, obj_labels, ns_labels):
            continue
        if spec.get("matchResources") and not _resources_match(spec["matchResources"], attrs, obj_labels,
                                                                ns_labels):
            continue
        env = {"object": obj, "oldObject": old, "request": request, "params": None,
               "namespaceObject": nso}
        env["variables"] = LazyVars(pspec.get("variables") or [], env)
        fail = pspec.get("failurePolicy", "Fail") == "Fail"
        skip = False
        for mc in pspec.get("matchConditions") or []:
            ast = _compile(mc.get("expression", ""), pname)
            if ast is None:
                continue
            try:
                if simcel.evaluate(ast, env) is not True:
                    skip = True
                    break
            except simcel.CelError as e:
                if fail:
                    _deny(r, name, pname, b["metadata"]["name"], "matchCondition evaluation error: %s" % e,
                          "Forbidden")
                skip = True
                break
        if skip:
            continue
        actions = spec.get("validationActions") or []
        for v in pspec.get("validations") or []:
            ast = _compile(v.get("expression", ""), pname)
            if ast is None:
                continue
            try:
                ok = simcel.evaluate(ast, env)
                if not isinstance(ok, bool):
                    raise simcel.CelError("expression did not evaluate to a bool")
                msg = None
            except simcel.CelError as e:
                if not fail:
                    continue
                ok, msg = False, "expression '%s' resulted in error: %s" % (v.get("expression", "").strip(), e)
            if ok:
                continue
            if msg is None:
                msg = v.get("message") or "failed expression: %s" % v.get("expression", "").strip()
                if v.get("messageExpression"):
                    mast = _compile(v["messageExpression"], pname)
                    try:
                        m2 = simcel.evaluate(mast, env) if mast is not None else None
                        if isinstance(m2, str) and m2.strip():
                            msg = m2
                    except simcel.CelError:
                        pass
            if "Warn" in actions:
                warnings.append("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s"
                                % (pname, b["metadata"]["name"], msg))
            if "Deny" in actions:
                _deny(r, name, pname, b["metadata"]["name"], msg, v.get("reason") or "Invalid")
    return warnings


def _deny(r, name, policy, binding, msg, reason):
    message = "ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s" % (policy, binding, msg)
    qual = r.plural + ("." + r.group if r.group else "")
    full = '%s "%s" is forbidden: %s' % (qual, name or "", message)
    details = {"name": name or "", "kind": r.plural, "causes": [{"message": message}]}
    if r.group:
        details["group"] = r.group
    raise ApiError(REASON_CODES.get(reason, 422), reason, full, details)
