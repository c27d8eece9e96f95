"""Validates an object against a CRD's structural schema, offline.

What the API server does with a custom resource sent with
fieldValidation=Strict, for the schema features crds/appdatabase.yaml uses:
null pruning, defaults, types, required, enum, pattern, lengths (in
characters), bounds, item counts, list-type map and set uniqueness, unknown
fields, and x-kubernetes-validations through minicel. Errors carry the field
path the API server names (spec.users[0].name).
"""

import re

import minicel

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _go_pattern(p):
    """An RE2 pattern as a Python one: `$` means the very end of the text."""
    if p.endswith("$") and not p.endswith("\\$"):
        p = p[:-1] + r"\Z"
    return re.compile(p)


def _join(path, name):
    return name if not path else path + "." + name


def _prune_and_default(value, schema):
    """Drops nulls of non-nullable fields and fills in defaults, like the server."""
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties", {})
        for key in list(value):
            if value[key] is None and not props.get(key, {}).get("nullable"):
                del value[key]
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = sub["default"]
            if key in value:
                _prune_and_default(value[key], sub)
    elif isinstance(value, list) and schema.get("type") == "array" and "items" in schema:
        for item in value:
            _prune_and_default(item, schema["items"])


def _validate(value, schema, path, errs):
    typ = schema.get("type")
    if typ and not _TYPES[typ](value):
        errs.append((path, "Invalid value: must be of type %s" % typ))
        return
    if "enum" in schema and value not in schema["enum"]:
        errs.append((path, "Unsupported value: %r" % (value,)))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append((path, "Too long: may not be more than %d" % schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append((path, "Invalid value: should be at least %d chars long" % schema["minLength"]))
        if "pattern" in schema and not _go_pattern(schema["pattern"]).search(value):
            errs.append((path, "Invalid value: should match '%s'" % schema["pattern"]))
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append((path, "Invalid value: should be greater than or equal to %d" % schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errs.append((path, "Invalid value: should be less than or equal to %d" % schema["maximum"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errs.append((_join(path, key), "Required value"))
        if not schema.get("x-kubernetes-preserve-unknown-fields") and path != "metadata":
            for key in value:
                if key not in props:
                    errs.append((_join(path, key), "unknown field"))
        for key, sub in props.items():
            if key in value:
                _validate(value[key], sub, _join(path, key), errs)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append((path, "Too many: must have at most %d items" % schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append((path, "Invalid value: should have at least %d items" % schema["minItems"]))
        for i, item in enumerate(value):
            _validate(item, schema.get("items", {}), "%s[%d]" % (path, i), errs)
        list_type = schema.get("x-kubernetes-list-type")
        seen = []
        for i, item in enumerate(value):
            if list_type == "map":
                if not isinstance(item, dict):
                    continue
                key = tuple(item.get(k) for k in schema["x-kubernetes-list-map-keys"])
            elif list_type == "set":
                key = repr(item)
            else:
                continue
            if key in seen:
                errs.append(("%s[%d]" % (path, i), "Duplicate value"))
            seen.append(key)
    for rule in schema.get("x-kubernetes-validations", []):
        where = path + rule.get("fieldPath", "") if rule.get("fieldPath") else path
        try:
            ok = minicel.evaluate(minicel.compile_rule(rule["rule"]), {"self": value})
        except minicel.CelError as e:
            errs.append((where, "Invalid value: rule failed to evaluate: %s" % e))
            continue
        if ok is not True:
            errs.append((where, "Invalid value: %s" % rule.get("message", rule["rule"])))


def crd_version(crd, version):
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served"):
            return v
    return None


def validate_resource(crd, obj):
    """Returns the (field path, message) errors the API server would give
    when obj is created; [] when it is accepted."""
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    api = obj.get("apiVersion", "") if isinstance(obj, dict) else ""
    if not isinstance(obj, dict) or obj.get("kind") != kind or "/" not in api:
        return [("kind", "no matches for kind %r" % (obj.get("kind") if isinstance(obj, dict) else None))]
    g, v = api.split("/", 1)
    version = crd_version(crd, v) if g == group else None
    if version is None:
        return [("apiVersion", "no matches for kind %r in version %r" % (kind, api))]
    errs = []
    md = obj.get("metadata") or {}
    name = md.get("name")
    if not isinstance(name, str) or not name:
        errs.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        errs.append(("metadata.name", "Invalid value: a lowercase RFC 1123 subdomain"))
    ns = md.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not DNS_LABEL.match(ns)):
        errs.append(("metadata.namespace", "Invalid value: a lowercase RFC 1123 label"))
    ann = md.get("annotations") or {}
    for key, val in ann.items():
        if not isinstance(val, str):
            errs.append(("metadata.annotations[%s]" % key, "must be a string"))
    schema = version["schema"]["openAPIV3Schema"]
    body = {k: v for k, v in obj.items() if k != "status"}
    _prune_and_default(body, schema)
    _validate(body, schema, "", errs)
    return errs


def rules(schema, path=""):
    """Every x-kubernetes-validations rule in a schema, with its path."""
    out = [(path, r["rule"]) for r in schema.get("x-kubernetes-validations", [])]
    for key, sub in schema.get("properties", {}).items():
        out += rules(sub, _join(path, key))
    if "items" in schema:
        out += rules(schema["items"], path + "[]")
    return out
