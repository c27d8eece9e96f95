"""kubesim structural schema: pruning, defaulting and validation of custom
resources against a CRD's openAPIV3Schema, including the CEL rules in
x-kubernetes-validations, with field errors worded like the real server."""

import copy
import re
import sys

import simcel
from simutil import FieldError

_cel_cache = {}


def _type_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "unknown"


def _join(path, key):
    return key if not path else path + "." + key


def prune(schema, value, path, unknown, root=False):
    """Drop fields the schema does not declare; record their paths."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties") \
                and not schema.get("additionalProperties"):
            return value
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        out = {}
        for k, v in value.items():
            if root and k in ("apiVersion", "kind", "metadata"):
                out[k] = v
                continue
            if props is not None and k in props:
                if v is None and not props[k].get("nullable"):
                    continue  # nulls of non-nullable fields are dropped (then defaulted)
                out[k] = prune(props[k], v, _join(path, k), unknown)
            elif isinstance(addl, dict):
                out[k] = prune(addl, v, _join(path, k), unknown)
            elif addl is True or schema.get("x-kubernetes-preserve-unknown-fields"):
                out[k] = v
            else:
                unknown.append(_join(path, k))
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], v, "%s[%d]" % (path, i), unknown) for i, v in enumerate(value)]
    return value


def apply_defaults(schema, value):
    """Fill in `default` values in place (objects and array items)."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        for k, sub in (schema.get("properties") or {}).items():
            if k not in value and isinstance(sub, dict) and "default" in sub:
                value[k] = copy.deepcopy(sub["default"])
            if k in value:
                apply_defaults(sub, value[k])
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for k, v in value.items():
                if k not in (schema.get("properties") or {}):
                    apply_defaults(addl, v)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for v in value:
            apply_defaults(schema["items"], v)


def _validate(schema, value, path, errs):
    if not isinstance(schema, dict):
        return
    disp = path or "<root>"
    if value is None:
        if schema.get("nullable"):
            return
        if schema.get("type"):
            errs.append(FieldError("TypeInvalid", path, "null", "%s in body must be of type %s: \"null\""
                                   % (disp, schema["type"])))
        return
    t = schema.get("type")
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            errs.append(FieldError("TypeInvalid", path, actual, "%s in body must be of type integer,string: \"%s\""
                                   % (disp, actual)))
            return
    elif t:
        ok = actual == t or (t == "number" and actual == "integer")
        if not ok:
            errs.append(FieldError("TypeInvalid", path, actual, "%s in body must be of type %s: \"%s\""
                                   % (disp, t, actual)))
            return
    if "enum" in schema and value not in schema["enum"]:
        errs.append(FieldError("Unsupported value", path, value, "supported values: " + ", ".join(
            '"%s"' % e if isinstance(e, str) else str(e) for e in schema["enum"])))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(FieldError("Too long", path, value, "may not be more than %d bytes" % schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append(FieldError("Invalid value", path, value, "%s in body should be at least %d chars long"
                                   % (disp, schema["minLength"])))
        if "pattern" in schema:
            try:
                if not re.search(schema["pattern"], value):
                    errs.append(FieldError("Invalid value", path, value, "%s in body should match '%s'"
                                           % (disp, schema["pattern"])))
            except re.error:
                pass
    if actual in ("integer", "number"):
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") is True and not value > schema["minimum"]:
                errs.append(FieldError("Invalid value", path, value, "%s in body should be greater than %s"
                                       % (disp, _n(schema["minimum"]))))
            elif value < schema["minimum"]:
                errs.append(FieldError("Invalid value", path, value, "%s in body should be greater than or "
                                       "equal to %s" % (disp, _n(schema["minimum"]))))
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") is True and not value < schema["maximum"]:
                errs.append(FieldError("Invalid value", path, value, "%s in body should be less than %s"
                                       % (disp, _n(schema["maximum"]))))
            elif value > schema["maximum"]:
                errs.append(FieldError("Invalid value", path, value, "%s in body should be less than or equal "
                                       "to %s" % (disp, _n(schema["maximum"]))))
        if schema.get("multipleOf") and value % schema["multipleOf"] != 0:
            errs.append(FieldError("Invalid value", path, value, "%s in body should be a multiple of %s"
                                   % (disp, _n(schema["multipleOf"]))))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(FieldError("Too many", path, len(value), "must have at most %d items" % schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append(FieldError("Invalid value", path, len(value), "%s in body should have at least %d items"
                                   % (disp, schema["minItems"])))
        lt = schema.get("x-kubernetes-list-type")
        if lt == "set":
            seen = []
            for i, v in enumerate(value):
                if v in seen:
                    errs.append(FieldError("Duplicate value", "%s[%d]" % (path, i), v))
                seen.append(v)
        elif lt == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen = []
            for i, v in enumerate(value):
                if not isinstance(v, dict):
                    continue
                kv = {k: v.get(k) for k in keys if k in v}
                if kv in seen:
                    errs.append(FieldError("Duplicate value", "%s[%d]" % (path, i), kv))
                seen.append(kv)
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                _validate(items, v, "%s[%d]" % (path, i), errs)
    if isinstance(value, dict):
        for req in schema.get("required") or []:
            if req not in value:
                errs.append(FieldError("Required value", _join(path, req)))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            errs.append(FieldError("Too many", path, len(value), "must have at most %d items"
                                   % schema["maxProperties"]))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errs.append(FieldError("Invalid value", path, len(value), "%s in body should have at least %d "
                                   "properties" % (disp, schema["minProperties"])))
        props = schema.get("properties") or {}
        for k, v in value.items():
            if path == "" and k in ("apiVersion", "kind", "metadata") and k not in props:
                continue
            if k in props:
                _validate(props[k], v, _join(path, k), errs)
            elif isinstance(schema.get("additionalProperties"), dict):
                _validate(schema["additionalProperties"], v, _join(path, k), errs)
    for sub in schema.get("allOf") or []:
        _validate(sub, value, path, errs)
    if schema.get("anyOf"):
        if not any(_ok(sub, value) for sub in schema["anyOf"]):
            errs.append(FieldError("Invalid value", path, value, "%s in body must match at least one schema in "
                                   "anyOf" % disp))
    if schema.get("oneOf"):
        if sum(1 for sub in schema["oneOf"] if _ok(sub, value)) != 1:
            errs.append(FieldError("Invalid value", path, value, "%s in body must validate one and only one "
                                   "schema (oneOf)" % disp))
    if isinstance(schema.get("not"), dict) and _ok(schema["not"], value):
        errs.append(FieldError("Invalid value", path, value, "%s in body must not validate the schema (not)"
                               % disp))


def _ok(schema, value):
    e = []
    _validate(schema, value, "", e)
    return not e


def _n(x):
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _compiled(rule):
    if rule not in _cel_cache:
        try:
            _cel_cache[rule] = simcel.compile_rule(rule)
        except simcel.CelUnsupported as e:
            sys.stderr.write("kubesim: warning: skipping CEL rule %r: %s\n" % (rule, e))
            _cel_cache[rule] = None
    return _cel_cache[rule]


def _cel(schema, value, old, has_old, path, errs):
    if not isinstance(schema, dict) or value is None:
        return
    for rule in schema.get("x-kubernetes-validations") or []:
        ast = _compiled(rule.get("rule", ""))
        if ast is None:
            continue
        env = {"self": value}
        if simcel.uses_old_self(ast):
            if not has_old and not rule.get("optionalOldSelf"):
                continue
            env["oldSelf"] = old
        fpath = path
        if rule.get("fieldPath"):
            fpath = path + rule["fieldPath"] if rule["fieldPath"].startswith(("[", ".")) and path else \
                rule["fieldPath"].lstrip(".") if not path else path + "." + rule["fieldPath"].lstrip(".")
        try:
            ok = simcel.evaluate(ast, env)
            if not isinstance(ok, bool):
                raise simcel.CelError("rule did not evaluate to a bool")
        except simcel.CelError as e:
            errs.append(FieldError("Invalid value", fpath, schema.get("type", "object"), "%s evaluating rule: %s"
                                   % (e, (rule.get("message") or rule.get("rule", "")).strip())))
            continue
        if ok:
            continue
        msg = (rule.get("message") or "").strip()
        if rule.get("messageExpression"):
            try:
                mast = simcel.compile_rule(rule["messageExpression"])
                m2 = simcel.evaluate(mast, env)
                if isinstance(m2, str) and m2.strip():
                    msg = m2
            except (simcel.CelUnsupported, simcel.CelError):
                pass
        if not msg:
            msg = "failed rule: %s" % rule.get("rule", "").strip()
        etype = {"FieldValueForbidden": "Forbidden", "FieldValueRequired": "Required value",
                 "FieldValueDuplicate": "Duplicate value"}.get(rule.get("reason"), "Invalid value")
        # the value is shown for scalars, omitted for objects and arrays
        shown = FieldError.NO_VALUE if schema.get("type") in ("object", "array") else value
        if etype == "Invalid value":
            errs.append(FieldError(etype, fpath, shown, msg))
        elif etype == "Duplicate value":
            errs.append(FieldError(etype, fpath, shown))
        else:
            errs.append(FieldError(etype, fpath, detail=msg))
    # descend
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k) if k in props else (addl if isinstance(addl, dict) else None)
            if sub is None or (path == "" and k == "metadata"):
                continue
            ho = has_old and isinstance(old, dict) and k in old
            _cel(sub, v, old.get(k) if ho else None, ho, _join(path, k), errs)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys") if schema.get("x-kubernetes-list-type") == "map" else None
        for i, v in enumerate(value):
            ov, ho = None, False
            if keys and has_old and isinstance(old, list) and isinstance(v, dict):
                for o in old:
                    if isinstance(o, dict) and all(o.get(k) == v.get(k) for k in keys):
                        ov, ho = o, True
                        break
            _cel(schema["items"], v, ov, ho, "%s[%d]" % (path, i), errs)


_MISSING = object()


def value_at(obj, path):
    """The value at a field path like spec.users[0].name, or _MISSING."""
    cur = obj
    for name, idx in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if name:
            if not isinstance(cur, dict) or name not in cur:
                return _MISSING
            cur = cur[name]
        else:
            i = int(idx)
            if not isinstance(cur, list) or i >= len(cur):
                return _MISSING
            cur = cur[i]
    return cur


def ratchet(errs, obj, old):
    """CRD validation ratcheting (on by default since 1.30): on update, an
    error on a value that did not change is not reported."""
    if old is None:
        return errs
    out = []
    for e in errs:
        if e.etype in ("Required value",):
            parent = e.path.rsplit(".", 1)[0] if "." in e.path else ""
            nv = value_at(obj, parent) if parent else obj
            ov = value_at(old, parent) if parent else old
        else:
            nv, ov = value_at(obj, e.path), value_at(old, e.path)
        if nv is not _MISSING and nv == ov:
            continue
        out.append(e)
    return out


def validate_object(schema, obj, old, strict):
    """Prune, default and validate a custom resource.
    Returns (object, [FieldError], [unknown field paths])."""
    unknown = []
    obj = prune(schema, obj, "", unknown, root=True)
    apply_defaults(schema, obj)
    oldv = None
    if old is not None:
        oldv = copy.deepcopy(old)
        apply_defaults(schema, oldv)
    errs = []
    _validate(schema, obj, "", errs)
    errs = ratchet(errs, obj, oldv)
    if not errs:
        _cel(schema, obj, oldv, old is not None, "", errs)
        errs = ratchet(errs, obj, oldv)
    return obj, errs, unknown


def structural_errors(schema, path):
    """The structural-schema checks the real server applies to a CRD."""
    out = []

    def walk(s, p, top):
        if not isinstance(s, dict):
            return
        if not s.get("type") and not s.get("x-kubernetes-int-or-string") and \
                not s.get("x-kubernetes-preserve-unknown-fields") and not top:
            out.append((p + ".type", "Required value: must not be empty for specified object fields"))
        for k, sub in (s.get("properties") or {}).items():
            walk(sub, "%s.properties[%s]" % (p, k), False)
        if isinstance(s.get("items"), dict):
            walk(s["items"], p + ".items", False)
        if isinstance(s.get("additionalProperties"), dict):
            walk(s["additionalProperties"], p + ".additionalProperties", False)
    if schema.get("type") != "object":
        out.append((path + ".type", "Invalid value: must be object at the root"))
    walk(schema, path, True)
    for rule_holder in _rules(schema):
        for rule in rule_holder:
            _compiled(rule.get("rule", ""))
    return out


def _rules(schema):
    if not isinstance(schema, dict):
        return
    if schema.get("x-kubernetes-validations"):
        yield schema["x-kubernetes-validations"]
    for sub in (schema.get("properties") or {}).values():
        yield from _rules(sub)
    for k in ("items", "additionalProperties"):
        if isinstance(schema.get(k), dict):
            yield from _rules(schema[k])
