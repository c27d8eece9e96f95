"""kubesim helpers: Status errors, selectors, patches, time formatting and the
JSONPath subset used by printer columns."""

import copy
import datetime
import json
import re


# ---- Status errors -------------------------------------------------------
class ApiError(Exception):
    """An error answered as a metav1.Status body."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if not self.reason:
            del st["reason"]  # StatusReasonUnknown is omitted
        if self.details is not None:
            st["details"] = self.details
        return st


def qualified(group, plural):
    return plural + ("." + group if group else "")


def _details(group, kind, name=None, causes=None):
    d = {}  # empty fields are omitted, as in the real JSON
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if causes:
        d["causes"] = causes
    return d


def not_found(group, plural, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(group, plural), name),
                    _details(group, plural, name))


def already_exists(group, plural, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(group, plural), name),
                    _details(group, plural, name))


def conflict(group, plural, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (qualified(group, plural), name, why),
                    _details(group, plural, name))


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def bad_resource_version(rv):
    """The storage layer's error for a resourceVersion that is no number."""
    return 'resourceVersion: Invalid value: %s: strconv.ParseUint: parsing %s: invalid syntax' % (
        go_value(rv), json.dumps(rv))


def storage_error(msg):
    """An error the storage layer returns that is no API status: 500 with
    no reason, as ErrorToAPIStatus makes it."""
    return ApiError(500, "", msg)


def gone(msg):
    return ApiError(410, "Expired", msg)


def forbidden(group, plural, name, msg):
    return ApiError(403, "Forbidden", msg, _details(group, plural, name))


class FieldError:
    """One field.Error: type, path, bad value, detail."""

    REASONS = {"Required value": "FieldValueRequired", "Invalid value": "FieldValueInvalid",
               "Unsupported value": "FieldValueNotSupported", "Duplicate value": "FieldValueDuplicate",
               "Too long": "FieldValueTooLong", "Too many": "FieldValueTooMany",
               "Forbidden": "FieldValueForbidden", "TypeInvalid": "FieldValueTypeInvalid"}
    NO_VALUE = object()

    def __init__(self, etype, path, value=NO_VALUE, detail=""):
        self.etype = etype
        self.path = path
        self.value = value
        self.detail = detail

    def body(self):
        et = "Invalid value" if self.etype == "TypeInvalid" else self.etype
        if self.etype in ("Required value", "Forbidden", "Too long") or self.value is FieldError.NO_VALUE:
            s = et
        else:
            s = "%s: %s" % (et, go_value(self.value))
        if self.detail:
            s += ": " + self.detail
        return s

    def cause(self):
        return {"reason": self.REASONS.get(self.etype, "FieldValueInvalid"),
                "message": self.body(), "field": self.path}

    def __str__(self):
        return "%s: %s" % (self.path, self.body())


def go_value(v):
    """Format a bad value like Go's field.Error does."""
    if v is None:
        return '"null"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (dict, list)):
        # anything else is rendered with json.Marshal (sorted keys, HTML-safe)
        return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False).replace(
            "<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return repr(v)


def invalid(kind_group, group, kind, name, errors):
    """422 Invalid with causes, message like the real server."""
    if len(errors) == 1:
        agg = str(errors[0])
    else:
        agg = "[" + ", ".join(str(e) for e in errors) + "]"
    msg = '%s "%s" is invalid: %s' % (kind_group, name, agg)
    return ApiError(422, "Invalid", msg, _details(group, kind, name, [e.cause() for e in errors]))


# ---- time ------------------------------------------------------------------
def now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(s):
    try:
        s = s.replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(s)
    except (ValueError, AttributeError, TypeError):
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm" % m if s % 60 == 0 else "%dm%ds" % (m, s % 60)
    if m < 180:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh" % h if m % 60 == 0 else "%dh%dm" % (h, m % 60)
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        return "%dd" % (h // 24) if h % 24 == 0 else "%dd%dh" % (h // 24, h % 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return "%dy" % (h // 24 // 365) if dy == 0 else "%dy%dd" % (h // 24 // 365, dy)
    return "%dy" % (h // 24 // 365)


def age(ts):
    t = parse_ts(ts) if ts else None
    if t is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


# ---- selectors ---------------------------------------------------------------
def parse_label_selector(s):
    """Parse a label selector into a list of (key, op, values)."""
    reqs = []
    if not s:
        return reqs
    i = 0
    parts = []
    depth = 0
    cur = ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    del i
    for p in parts:
        p = p.strip()
        if not p:
            raise bad_request("unable to parse requirement: found '', expected: identifier")
        m = re.match(r"^([\w./-]+)\s+(in|notin)\s+\((.*)\)$", p)
        if m:
            vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.match(r"^([\w./-]+)\s*(==|!=|=|>|<)\s*([\w./-]*)$", p)
        if m:
            op = {"==": "=", "=": "="}.get(m.group(2), m.group(2))
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = re.match(r"^(!?)\s*([\w./-]+)$", p)
        if m:
            reqs.append((m.group(2), "!exists" if m.group(1) else "exists", []))
            continue
        raise bad_request("unable to parse requirement: %s" % p)
    return reqs


def label_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and not (has and v == vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and not (has and v in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op in (">", "<"):
            try:
                a, b = int(v), int(vals[0])
            except (TypeError, ValueError):
                return False
            if not has or (op == ">" and not a > b) or (op == "<" and not a < b):
                return False
    return True


def parse_field_selector(s):
    """Parse a field selector into (field, op, value) triples."""
    reqs = []
    if not s:
        return reqs
    for p in s.split(","):
        p = p.strip()
        if not p:
            continue
        m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", p)
        if not m:
            raise bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (s, p))
        reqs.append((m.group(1).strip(), "!=" if m.group(2) == "!=" else "=", m.group(3).strip()))
    return reqs


def dig(obj, path):
    """Value at a dotted path or None."""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def field_value(obj, field):
    v = dig(obj, field)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def field_match(reqs, obj, field_fn=field_value):
    for field, op, val in reqs:
        v = field_fn(obj, field)
        if op == "=" and v != val:
            return False
        if op == "!=" and v == val:
            return False
    return True


# ---- patches -----------------------------------------------------------------
def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("the server rejected our request due to an error in our request")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for op in ops:
        kind = op.get("op")
        path = _pointer(op.get("path", ""))

        def parent(p):
            cur = doc
            for part in p[:-1]:
                if isinstance(cur, list):
                    cur = cur[int(part)]
                else:
                    cur = cur[part]
            return cur
        try:
            if kind in ("add", "replace", "test"):
                val = copy.deepcopy(op.get("value"))
            if kind == "move" or kind == "copy":
                src = _pointer(op.get("from", ""))
                sp = parent(src)
                val = sp[int(src[-1])] if isinstance(sp, list) else sp[src[-1]]
                val = copy.deepcopy(val)
                if kind == "move":
                    if isinstance(sp, list):
                        sp.pop(int(src[-1]))
                    else:
                        del sp[src[-1]]
                kind = "add"
            if not path:
                if kind == "test":
                    if doc != val:
                        raise ValueError("test failed")
                    continue
                doc = val
                continue
            p = parent(path)
            last = path[-1]
            if kind == "add":
                if isinstance(p, list):
                    if last == "-":
                        p.append(val)
                    else:
                        idx = int(last)
                        if idx > len(p) or idx < 0:
                            raise IndexError(last)
                        p.insert(idx, val)
                else:
                    p[last] = val
            elif kind == "remove":
                if isinstance(p, list):
                    p.pop(int(last))
                else:
                    del p[last]
            elif kind == "replace":
                if isinstance(p, list):
                    p[int(last)] = val
                else:
                    if last not in p:
                        raise KeyError(last)
                    p[last] = val
            elif kind == "test":
                cur = p[int(last)] if isinstance(p, list) else p.get(last, KeyError)
                if cur != val:
                    raise ValueError("testing value %s failed" % op.get("path"))
            else:
                raise bad_request('Unexpected kind: %s' % kind)
        except ApiError:
            raise
        except ValueError as e:
            if "test" in str(e) or "testing" in str(e):
                raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: %s" % e)
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ApiError(422, "Invalid",
                           "the server rejected our request due to an error in our request: "
                           "doc is missing path: \"%s\": missing value" % op.get("path"))
    return doc


# Strategic merge patch: list merge keys of the built-in kinds (by field name).
SMP_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "imagePullSecrets": "name", "hostAliases": "ip",
    "conditions": "type", "ownerReferences": "uid", "tolerations": None,
    "topologySpreadConstraints": "topologyKey",
}
SMP_SERVICE_PORTS = "port"
SMP_SETS = {"finalizers"}


def strategic_merge(target, patch, path=()):
    """Strategic merge patch for built-in kinds (directives $patch,
    $retainKeys, $setElementOrder, $deleteFromPrimitiveList)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    target = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k in ("$retainKeys", "$patch"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            if isinstance(target.get(f), list):
                target[f] = [x for x in target[f] if x not in v]
            continue
        if v is None:
            target.pop(k, None)
            continue
        cur = target.get(k)
        if isinstance(v, dict):
            r = strategic_merge(cur, v, path + (k,))
            if r is None:
                target.pop(k, None)
            else:
                target[k] = r
        elif isinstance(v, list):
            key = SMP_KEYS.get(k)
            if k == "ports" and "spec" in path and "template" not in path:
                key = SMP_SERVICE_PORTS
            if k in SMP_SETS and isinstance(cur, list):
                merged = list(cur)
                for x in v:
                    if x not in merged:
                        merged.append(x)
                target[k] = merged
            elif key and isinstance(cur, list) and all(isinstance(x, dict) for x in v):
                merged = [dict(x) for x in cur]
                for item in v:
                    kv = item.get(key)
                    idx = next((i for i, x in enumerate(merged) if isinstance(x, dict) and x.get(key) == kv), None)
                    if item.get("$patch") == "delete":
                        if idx is not None:
                            merged.pop(idx)
                        continue
                    if idx is None:
                        merged.append({a: b for a, b in item.items() if a != "$patch"})
                    else:
                        merged[idx] = strategic_merge(merged[idx], item, path + (k,))
                order = patch.get("$setElementOrder/" + k)
                if isinstance(order, list):
                    keys = [o.get(key) for o in order if isinstance(o, dict)]
                    merged.sort(key=lambda x: keys.index(x.get(key)) if x.get(key) in keys else len(keys))
                target[k] = merged
            else:
                target[k] = [x for x in copy.deepcopy(v) if not (isinstance(x, dict) and x.get("$patch"))]
        else:
            target[k] = v
    if isinstance(retain, list):
        target = {k: v for k, v in target.items() if k in retain}
    return target


# ---- JSONPath subset for printer columns --------------------------------------
_TOKEN = re.compile(r'\.([A-Za-z0-9_\-]+)|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["\']([^"\']*)["\']\)\]|\[(\d+)\]|\[\*\]|\[["\']([^"\']+)["\']\]')


def jsonpath(obj, path):
    """Evaluate .a.b, [n], [*], ['k'] and [?(@.f=="v")] ; returns a list of values."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    cur = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        nxt = []
        for c in cur:
            if m.group(1) is not None:
                if isinstance(c, dict) and m.group(1) in c:
                    nxt.append(c[m.group(1)])
            elif m.group(2) is not None:
                if isinstance(c, list):
                    for x in c:
                        if isinstance(x, dict) and field_value(x, m.group(2)) == m.group(3):
                            nxt.append(x)
            elif m.group(4) is not None:
                if isinstance(c, list) and int(m.group(4)) < len(c):
                    nxt.append(c[int(m.group(4))])
            elif m.group(5) is not None:
                if isinstance(c, dict) and m.group(5) in c:
                    nxt.append(c[m.group(5)])
            else:
                if isinstance(c, list):
                    nxt.extend(c)
                elif isinstance(c, dict):
                    nxt.extend(c.values())
        cur = nxt
    return cur
