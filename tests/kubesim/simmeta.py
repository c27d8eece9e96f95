"""kubesim metadata rules: the name, label, annotation, finalizer and owner
reference checks of the real ObjectMeta validation with its messages, and
the JSON time formats (metav1.Time, metav1.MicroTime) of typed objects."""

import json
import re

from simutil import FieldError, bad_request

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUB_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + LABEL_KEY_FMT + ")?"
_RE = {f: re.compile("^" + f + "$") for f in (DNS1123_LABEL_FMT, DNS1123_SUB_FMT, DNS1035_LABEL_FMT, LABEL_KEY_FMT,
                                              LABEL_VALUE_FMT)}
LABEL_KEY_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
                "alphanumeric character"
ANNOTATIONS_LIMIT = 256 * 1024
STANDARD_FINALIZERS = ("orphan", "foregroundDeletion", "kubernetes")
GENERATE_NAME_MAX = 58  # 63 minus the 5 random characters


def _match(fmt, v):
    return _RE[fmt].match(v) is not None


def regex_error(msg, fmt, *examples):
    if not examples:
        return "%s (regex used for validation is '%s')" % (msg, fmt)
    return "%s (e.g. %s, regex used for validation is '%s')" % (
        msg, " or ".join("'%s'" % e for e in examples), fmt)


def max_len(n):
    return "must be no more than %d bytes" % n


def dns1123_label(v):
    errs = []
    if len(v) > 63:
        errs.append(max_len(63))
    if not _match(DNS1123_LABEL_FMT, v):
        if _match(DNS1123_SUB_FMT, v):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                                    "or '-', and must start and end with an alphanumeric character",
                                    DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(v):
    errs = []
    if len(v) > 253:
        errs.append(max_len(253))
    if not _match(DNS1123_SUB_FMT, v):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                "characters, '-' or '.', and must start and end with an alphanumeric character",
                                DNS1123_SUB_FMT, "example.com"))
    return errs


def dns1035_label(v):
    errs = []
    if len(v) > 63:
        errs.append(max_len(63))
    if not _match(DNS1035_LABEL_FMT, v):
        errs.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                                "with an alphabetic character, and end with an alphanumeric character",
                                DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def path_segment(v, prefix=False):
    if not prefix and v in (".", ".."):
        return ["may not be '%s'" % v]
    return ["may not contain '%s'" % c for c in ("/", "%") if c in v]


def qualified_name(v):
    """A label key or qualified name: [prefix/]name."""
    errs = []
    parts = v.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return ["a valid label key " + regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, "MyName", "my.name", "123-abc") +
                " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len(63))
    if not _match(LABEL_KEY_FMT, name):
        errs.append("name part " + regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(v):
    errs = []
    if len(v) > 63:
        errs.append(max_len(63))
    if not _match(LABEL_VALUE_FMT, v):
        errs.append(regex_error("a valid label must be an empty string or consist of alphanumeric characters, '-', "
                                "'_' or '.', and must start and end with an alphanumeric character",
                                LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def name_rule(r):
    """The name validation function of a resource (value, prefix) -> [msg]."""
    if r.skey == "/namespaces":
        return lambda v, prefix=False: dns1123_label(_mask(v) if prefix else v)
    if r.skey == "/services":
        return lambda v, prefix=False: dns1035_label(_mask(v) if prefix else v)
    if r.skey.startswith("rbac.authorization.k8s.io/"):
        return path_segment
    return lambda v, prefix=False: dns1123_subdomain(_mask(v) if prefix else v)


def _mask(v):
    """generateName may end in '-' (a suffix follows)."""
    return v[:-1] + "a" if len(v) > 1 and v.endswith("-") else v


def _string_map(md, key):
    m = md.get(key)
    if m is None:
        return {}
    if not isinstance(m, dict) or any(not isinstance(v, str) for v in m.values()):
        raise bad_request("json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s of type %s"
                          % (_json_kind(m if not isinstance(m, dict) else next(
                              v for v in m.values() if not isinstance(v, str))), key,
                             "string" if isinstance(m, dict) else "map[string]string"))
    return m


def _json_kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "string"


def validate(r, md, old_md=None):
    """The ObjectMeta checks of a create (old_md None) or an update; returns
    [FieldError] in the real server's order."""
    errs = []
    rule = name_rule(r)
    if old_md is None:
        gn = md.get("generateName")
        if gn:
            errs.extend(FieldError("Invalid value", "metadata.generateName", gn, m) for m in rule(gn, True))
        name = md.get("name")
        if not name:
            errs.append(FieldError("Required value", "metadata.name", detail="name or generateName is required"))
        else:
            errs.extend(FieldError("Invalid value", "metadata.name", name, m) for m in rule(name))
    labels = _string_map(md, "labels")
    annotations = _string_map(md, "annotations")
    for k, v in labels.items():
        errs.extend(FieldError("Invalid value", "metadata.labels", k, m) for m in qualified_name(k))
        errs.extend(FieldError("Invalid value", "metadata.labels", v, m) for m in label_value(v))
    for k in annotations:
        errs.extend(FieldError("Invalid value", "metadata.annotations", k, m) for m in qualified_name(k.lower()))
    if sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items()) > ANNOTATIONS_LIMIT:
        errs.append(FieldError("Too long", "metadata.annotations", detail="may not be more than %d bytes"
                               % ANNOTATIONS_LIMIT))
    errs.extend(_owner_references(md.get("ownerReferences") or []))
    if old_md is None:
        fins = md.get("finalizers") or []
        for f in fins:
            errs.extend(FieldError("Invalid value", "metadata.finalizers", f, m) for m in qualified_name(f))
        if "orphan" in fins and "foregroundDeletion" in fins:
            errs.append(FieldError("Invalid value", "metadata.finalizers", fins,
                                   "finalizer orphan and foregroundDeletion cannot be both set"))
    if r.crd is None and r.skey != "apiextensions.k8s.io/customresourcedefinitions":
        # the built-in kinds' extra rule (custom resources only get warnings)
        for i, f in enumerate(md.get("finalizers") or []):
            if "/" not in f and f not in STANDARD_FINALIZERS:
                errs.append(FieldError("Invalid value", "metadata.finalizers[%d]" % i, f,
                                       "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def _owner_references(refs):
    errs = []
    controller = None
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        av, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
        if not av.split("/")[-1]:
            errs.append(FieldError("Invalid value", "metadata.ownerReferences.apiVersion", av,
                                   "version must not be empty"))
        if not kind:
            errs.append(FieldError("Invalid value", "metadata.ownerReferences.kind", kind, "must not be empty"))
        if not ref.get("name"):
            errs.append(FieldError("Invalid value", "metadata.ownerReferences.name", ref.get("name") or "",
                                   "must not be empty"))
        if not ref.get("uid"):
            errs.append(FieldError("Invalid value", "metadata.ownerReferences.uid", ref.get("uid") or "",
                                   "must not be empty"))
        if ref.get("controller") is True:
            cur = "%s/%s" % (kind, ref.get("name") or "")
            if controller is not None:
                errs.append(FieldError("Invalid value", "metadata.ownerReferences", refs,
                                       'Only one reference can have Controller set to true. Found "true" in '
                                       'references for %s and %s' % (controller, cur)))
            else:
                controller = cur
    return errs


def finalizer_warnings(new, old):
    """The warnings a custom resource write gets for finalizers it adds."""
    added = sorted(set(new or []) - set(old or []))
    out = []
    for f in added:
        out.extend('metadata.finalizers: %s: %s' % (json.dumps(f), m) for m in qualified_name(f))
        if "/" not in f and f not in STANDARD_FINALIZERS:
            if "." in f:
                out.append("metadata.finalizers: %s: prefer a domain-qualified finalizer name including a path (/) "
                           "to avoid accidental conflicts with other finalizer writers" % json.dumps(f))
            else:
                out.append("metadata.finalizers: %s: prefer a domain-qualified finalizer name to avoid accidental "
                           "conflicts with other finalizer writers" % json.dumps(f))
    return out


def go_string_slice(items):
    """Go's %#v of a []string."""
    return "[]string{" + ", ".join(json.dumps(s) for s in items) + "}"


# ---- times -------------------------------------------------------------------------
RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
_ELEMS = [("2006", r"\d{4}"), ("-", "-"), ("01", r"\d\d"), ("-", "-"), ("02", r"\d\d"), ("T", "T"),
          ("15", r"\d\d"), (":", ":"), ("04", r"\d\d"), (":", ":"), ("05", r"\d\d")]
_RANGES = {"01": (1, 12, "month"), "02": (1, 31, "day"), "15": (0, 23, "hour"), "04": (0, 59, "minute"),
           "05": (0, 59, "second")}


def parse_time_error(value, micro):
    """None when value parses as Go's time.Parse(layout, value) does for
    metav1.MicroTime (micro) or metav1.Time, else the Go error text."""
    layout = RFC3339_MICRO if micro else RFC3339
    rest = value

    def bad(elem):
        return 'parsing time %s as %s: cannot parse %s as %s' % (json.dumps(value), json.dumps(layout),
                                                                  json.dumps(rest), json.dumps(elem))
    for elem, pat in _ELEMS:
        m = re.match(pat, rest)
        if not m:
            return bad(elem)
        if elem in _RANGES:
            lo, hi, what = _RANGES[elem]
            if not lo <= int(m.group(0)) <= hi:
                return "parsing time %s: %s out of range" % (json.dumps(value), what)
        rest = rest[m.end():]
    if micro:
        m = re.match(r"\.\d{6}", rest)
        if not m:
            return bad(".000000")
        rest = rest[m.end():]
    else:
        m = re.match(r"[.,]\d+", rest)
        if m:
            rest = rest[m.end():]
    m = re.match(r"Z|[+-]\d\d:\d\d", rest)
    if not m:
        return bad("Z07:00")
    rest = rest[m.end():]
    if rest:
        return "parsing time %s: extra text: %s" % (json.dumps(value), json.dumps(rest))
    return None


def time_error(v, micro):
    """The decoding error of a JSON value in a Time or MicroTime field."""
    if v is None:
        return None
    if not isinstance(v, str):
        return "json: cannot unmarshal %s into Go value of type string" % _json_kind(v)
    return parse_time_error(v, micro)


# Time fields of built-in kinds, by storage key: (path, micro)
TIME_FIELDS = {
    "coordination.k8s.io/leases": [(("spec", "acquireTime"), True), (("spec", "renewTime"), True)],
    "/events": [(("eventTime",), True), (("series", "lastObservedTime"), True), (("firstTimestamp",), False),
                (("lastTimestamp",), False)],
}
# the same fields under their events.k8s.io/v1 names
EVENTS_V1_NAMES = {"firstTimestamp": "deprecatedFirstTimestamp", "lastTimestamp": "deprecatedLastTimestamp"}


def decode_times(r, obj):
    """The first bad Time/MicroTime field of a typed object as the decoding
    error text, or None."""
    for path, micro in TIME_FIELDS.get(r.skey, ()):
        if r.group == "events.k8s.io":
            path = tuple(EVENTS_V1_NAMES.get(p, p) for p in path)
        cur = obj
        for p in path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        err = time_error(cur, micro)
        if err:
            return err
    md = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(md, dict):
        for k in ("creationTimestamp", "deletionTimestamp"):
            err = time_error(md.get(k), False)
            if err:
                return err
    return None


# ---- Events ------------------------------------------------------------------------
def validate_event(ev, strict, old=None):
    """An Event's checks, ev in its core/v1 form: the legacy ones always,
    the strict ones (metadata, series, ...) for events.k8s.io/v1 writes."""
    errs = []
    io = ev.get("involvedObject") or {}
    ns = (ev.get("metadata") or {}).get("namespace") or ""
    io_ns = io.get("namespace") or ""
    if not ev.get("eventTime"):
        if (not io_ns and ns not in ("", "default")) or (io_ns and io_ns != ns):
            errs.append(FieldError("Invalid value", "involvedObject.namespace", io_ns, "does not match event.namespace"))
    else:
        if not io_ns and ns not in ("default", "kube-system"):
            errs.append(FieldError("Invalid value", "involvedObject.namespace", io_ns, "does not match event.namespace"))
        rc = ev.get("reportingComponent") or ""
        if not rc:
            errs.append(FieldError("Required value", "reportingController"))
        errs.extend(FieldError("Invalid value", "reportingController", rc, m) for m in qualified_name(rc))
        for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            v = ev.get(field) or ""
            if not v:
                errs.append(FieldError("Required value", field))
            if len(v) > limit:
                errs.append(FieldError("Invalid value", field, "", "can have at most %d characters" % limit))
        if len(ev.get("message") or "") > 1024:
            errs.append(FieldError("Invalid value", "message", "", "can have at most 1024 characters"))
    errs.extend(FieldError("Invalid value", "namespace", ns, m) for m in dns1123_subdomain(ns))
    if not strict:
        return errs
    series = ev.get("series")
    if old is None or series != old.get("series"):
        if isinstance(series, dict):
            if not isinstance(series.get("count"), int) or series["count"] < 2:
                errs.append(FieldError("Invalid value", "series.count", "", "should be at least 2"))
            if not series.get("lastObservedTime"):
                errs.append(FieldError("Required value", "series.lastObservedTime"))
    if old is None:
        if not ev.get("eventTime"):
            errs.append(FieldError("Required value", "eventTime"))
        if ev.get("type") not in ("Normal", "Warning"):
            errs.append(FieldError("Invalid value", "type", "", "has invalid value: %s" % (ev.get("type") or "")))
        for field in ("firstTimestamp", "lastTimestamp", "count"):
            if ev.get(field):
                errs.append(FieldError("Invalid value", field, "", "needs to be unset"))
        src = ev.get("source") or {}
        if src.get("component") or src.get("host"):
            errs.append(FieldError("Invalid value", "source", "", "needs to be unset"))
    else:
        for field in ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
                      "type", "eventTime", "action", "related", "reportingComponent", "reportingInstance"):
            if ev.get(field) != old.get(field):
                errs.append(FieldError("Invalid value", {"reportingComponent": "reportingController"}.get(
                    field, field), ev.get(field), "field is immutable"))
    return errs
