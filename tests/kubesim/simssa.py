"""kubesim managed fields and server-side apply, after the real field
manager (structured-merge-diff): field sets in the FieldsV1 format, one
entry per manager and operation, ownership moved by updates, conflicts for
appliers, force, and the pruning of fields an applier stopped applying.

A field set is a Python set of paths; a path is a tuple of elements
("f", name) | ("k", '{"key":"value"}') | ("v", 'json value')."""

import copy
import json

from simutil import ApiError, now_ts

MAX_UPDATE_MANAGERS = 10
STRIPPED = {(("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),)} | {
    (("f", "metadata"), ("f", k)) for k in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                            "clusterName", "generation", "managedFields", "resourceVersion")}


# ---- types ------------------------------------------------------------------------
class T:
    """A node of the type the sets are computed against: scalar, atomic,
    struct (declared fields, others of type extra), list_map (keys),
    list_set, deduced (untyped) or loose (a built-in kind without schema)."""

    def __init__(self, kind, fields=None, extra=None, elem=None, keys=None, extra_declared=False):
        self.kind = kind
        self.fields = fields or {}
        self.extra = extra
        self.extra_declared = extra_declared  # other keys are fields too (built-in kinds)
        self.elem = elem
        self.keys = keys or []

    def child(self, key, value):
        """(type, declared) of a map key."""
        if self.kind == "struct":
            if key in self.fields:
                return self.fields[key], True
            return self.extra or DEDUCED, self.extra_declared
        if self.kind == "loose":
            return _loose_child(key, value), True
        return DEDUCED, False

    def resolve(self, value):
        """The kind this node has for a value (deduced and loose follow it)."""
        if self.kind in ("deduced", "loose"):
            if isinstance(value, dict):
                return "struct" if self.kind == "loose" else "map"
            if isinstance(value, list):
                return "atomic"
            return "scalar"
        if self.kind == "struct":
            return "struct"
        return self.kind


SCALAR = T("scalar")
ATOMIC = T("atomic")
DEDUCED = T("deduced")
LOOSE = T("loose")
STRING_MAP = T("struct", extra=SCALAR)
OWNER_REF = T("struct", extra=SCALAR)
METADATA = T("struct", fields={"labels": STRING_MAP, "annotations": STRING_MAP,
                               "finalizers": T("list_set", elem=SCALAR),
                               "ownerReferences": T("list_map", elem=OWNER_REF, keys=["uid"]),
                               "managedFields": ATOMIC}, extra=SCALAR)
# built-in kinds: string maps and associative lists by field name
LOOSE_MAPS = {"labels", "annotations", "data", "stringData", "binaryData", "matchLabels", "nodeSelector",
              "limits", "requests", "capacity", "parameters"}
LOOSE_KEYS = {"containers": ["name"], "initContainers": ["name"], "ephemeralContainers": ["name"],
              "env": ["name"], "volumes": ["name"], "volumeMounts": ["mountPath"], "imagePullSecrets": ["name"],
              "conditions": ["type"], "ownerReferences": ["uid"], "ports": ["containerPort", "protocol"]}


def _loose_child(key, value):
    if key in LOOSE_MAPS and isinstance(value, dict):
        return STRING_MAP
    if key == "finalizers" and isinstance(value, list):
        return T("list_set", elem=SCALAR)
    keys = LOOSE_KEYS.get(key)
    if keys and isinstance(value, list) and all(isinstance(i, dict) and keys[0] in i for i in value):
        return T("list_map", elem=LOOSE, keys=[k for k in keys if all(k in i for i in value)])
    return LOOSE


def from_schema(s):
    if not isinstance(s, dict) or not s:
        return DEDUCED
    if s.get("x-kubernetes-int-or-string"):
        return SCALAR
    t = s.get("type")
    if t == "array":
        lt = s.get("x-kubernetes-list-type")
        if lt == "map":
            return T("list_map", elem=from_schema(s.get("items")), keys=s.get("x-kubernetes-list-map-keys") or [])
        if lt == "set":
            return T("list_set", elem=SCALAR)
        return ATOMIC
    if t == "object" or "properties" in s or "additionalProperties" in s:
        if s.get("x-kubernetes-map-type") == "atomic":
            return ATOMIC
        if s.get("x-kubernetes-embedded-resource"):
            fields = {"apiVersion": SCALAR, "kind": SCALAR, "metadata": METADATA}
        else:
            fields = {}
        fields.update({k: from_schema(v) for k, v in (s.get("properties") or {}).items()})
        addl = s.get("additionalProperties")
        extra = from_schema(addl) if isinstance(addl, dict) else DEDUCED
        return T("struct", fields=fields, extra=extra)
    if t in ("string", "integer", "number", "boolean"):
        return SCALAR
    return DEDUCED


def root_type(r):
    """The type of a whole object of resource r (kept on r)."""
    t = getattr(r, "ssa_type", None)
    if t is None:
        t = r.ssa_type = _root_type(r)
    return t


def _root_type(r):
    if r.crd is not None and r.schema is not None:
        root = from_schema(r.schema)
        if root.kind != "struct":
            root = T("struct", extra=DEDUCED)
        root.fields = dict(root.fields, apiVersion=SCALAR, kind=SCALAR, metadata=METADATA)
        return root
    return T("struct", fields={"apiVersion": SCALAR, "kind": SCALAR, "metadata": METADATA}, extra=LOOSE,
             extra_declared=True)


# ---- list items -------------------------------------------------------------------
def _dump(v):
    return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def item_element(t, item):
    if t.kind == "list_map":
        return ("k", _dump({k: item.get(k) for k in sorted(t.keys) if isinstance(item, dict) and k in item}))
    return ("v", _dump(item))


# ---- sets -------------------------------------------------------------------------
def to_set(value, t, path=()):
    """Every field a (partial) object sets, as ToFieldSet."""
    out = set()
    _to_set(value, t, path, out)
    return out


def _to_set(value, t, path, out):
    kind = t.resolve(value)
    if kind in ("scalar", "atomic") or value is None:
        out.add(path)
        return
    if kind in ("list_map", "list_set"):
        if not isinstance(value, list):
            out.add(path)
            return
        for item in value:
            p = path + (item_element(t, item),)
            if t.kind == "list_map":
                _to_set(item, t.elem, p, out)
            out.add(p)
        return
    if not isinstance(value, dict):
        out.add(path)
        return
    for k, v in value.items():
        ct, declared = t.child(k, v)
        p = path + (("f", k),)
        _to_set(v, ct, p, out)
        if v is None or v == {} or not declared:
            out.add(p)


def compare(old, new, t):
    """(added, removed, modified) paths from old to new, as Compare."""
    added, removed, modified = set(), set(), set()
    _compare(old, new, t, (), added, removed, modified, True)
    return added, removed, modified


_MISSING = object()


def _compare(lv, rv, t, path, added, removed, modified, root=False):
    val = rv if rv is not _MISSING else lv
    kind = t.resolve(val)
    if kind in ("scalar", "atomic") or val is None or not isinstance(val, (dict, list)) or \
            (kind in ("list_map", "list_set") and not isinstance(val, list)) or \
            (kind in ("struct", "map") and not isinstance(val, dict)):
        if lv is _MISSING:
            added.add(path)
        elif rv is _MISSING:
            removed.add(path)
        elif lv != rv:
            modified.add(path)
        return
    lval = lv if lv is not _MISSING and type(lv) is type(val) else _MISSING
    rval = rv if rv is not _MISSING and type(rv) is type(val) else _MISSING
    if lv is not _MISSING and rv is not _MISSING and (lval is _MISSING or rval is _MISSING):
        modified.add(path)  # the type changed
        return
    if kind in ("list_map", "list_set"):
        lm = {item_element(t, i): i for i in (lval if lval is not _MISSING else [])}
        rm = {item_element(t, i): i for i in (rval if rval is not _MISSING else [])}
        for pe in list(lm) + [p for p in rm if p not in lm]:
            et = t.elem if t.kind == "list_map" else SCALAR
            _compare(lm.get(pe, _MISSING), rm.get(pe, _MISSING), et if t.kind == "list_map" else SCALAR,
                     path + (pe,), added, removed, modified)
    else:
        lm = lval if lval is not _MISSING else {}
        rm = rval if rval is not _MISSING else {}
        for k in list(lm) + [k for k in rm if k not in lm]:
            ct, _ = t.child(k, rm.get(k, lm.get(k)))
            _compare(lm.get(k, _MISSING), rm.get(k, _MISSING), ct, path + (("f", k),), added, removed, modified)
    if not root:
        if lv is _MISSING:
            added.add(path)
        elif rv is _MISSING:
            removed.add(path)


def merge(live, cfg, t):
    """The applied configuration merged into the live object."""
    kind = t.resolve(cfg)
    if cfg is None or kind in ("scalar", "atomic") or not isinstance(live, type(cfg)):
        return copy.deepcopy(cfg)
    if kind in ("list_map", "list_set"):
        out = [copy.deepcopy(i) for i in live]
        index = {item_element(t, i): n for n, i in enumerate(out)}
        for item in cfg:
            pe = item_element(t, item)
            if pe in index:
                if t.kind == "list_map":
                    out[index[pe]] = merge(out[index[pe]], item, t.elem)
            else:
                index[pe] = len(out)
                out.append(copy.deepcopy(item))
        return out
    if not isinstance(cfg, dict):
        return copy.deepcopy(cfg)
    out = dict(live)
    for k, v in cfg.items():
        ct, _ = t.child(k, v)
        out[k] = merge(live[k], v, ct) if k in live else copy.deepcopy(v)
    return out


def remove_path(obj, path, t):
    """Remove one field or list item from obj (in place)."""
    cur, ct = obj, t
    for pe in path[:-1]:
        if isinstance(cur, dict) and pe[0] == "f":
            nxt = cur.get(pe[1])
            ct, _ = ct.child(pe[1], nxt)
        elif isinstance(cur, list) and pe[0] in ("k", "v"):
            nxt = next((i for i in cur if item_element(ct, i) == pe), None)
            ct = ct.elem or SCALAR
        else:
            return
        if nxt is None:
            return
        cur = nxt
    last = path[-1]
    if isinstance(cur, dict) and last[0] == "f":
        cur.pop(last[1], None)
    elif isinstance(cur, list) and last[0] in ("k", "v"):
        cur[:] = [i for i in cur if item_element(ct, i) != last]


# ---- FieldsV1 ---------------------------------------------------------------------------
def _order(pe):
    return ({"f": 0, "k": 1, "v": 2, "i": 3}.get(pe[0], 4), pe[1])


def serialize(paths):
    tree = {}
    members = set()
    for p in paths:
        node = tree
        for pe in p:
            node = node.setdefault(pe, {})
        members.add(p)

    def out(node, prefix):
        d = {}
        if prefix in members and node:
            d["."] = {}
        for pe in sorted(node, key=_order):
            d["%s:%s" % pe] = out(node[pe], prefix + (pe,))
        return d
    return out(tree, ())


def parse(fields, prefix=()):
    out = set()
    if not isinstance(fields, dict):
        return out
    for k, v in fields.items():
        if k == ".":
            out.add(prefix)
            continue
        kind, _, rest = k.partition(":")
        p = prefix + ((kind, rest),)
        if isinstance(v, dict) and v:
            out |= parse(v, p)
        else:
            out.add(p)
    return out


def path_string(path):
    s = ""
    for kind, v in path:
        if kind == "f":
            s += "." + v
        elif kind == "k":
            s += "[" + ",".join("%s=%s" % (k, _dump(x)) for k, x in json.loads(v).items()) + "]"
        elif kind == "v":
            s += "[=" + v + "]"
        else:
            s += "[" + v + "]"
    return s


# ---- managers ------------------------------------------------------------------------------
class Manager:
    def __init__(self, manager, operation, api_version, subresource, paths=(), time=None):
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.subresource = subresource or ""
        self.paths = set(paths)
        self.time = time

    @property
    def key(self):
        return (self.manager, self.operation, "" if self.operation == "Apply" else self.api_version,
                self.subresource)

    def entry(self):
        e = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            e["time"] = self.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = serialize(self.paths)
        if self.subresource:
            e["subresource"] = self.subresource
        return e

    def printed(self):
        s = json.dumps(self.manager)
        if self.subresource:
            s += " with subresource %s" % json.dumps(self.subresource)
        if self.operation == "Update":
            s += " using " + self.api_version
        return s


def decode(entries):
    """metadata.managedFields -> {key: Manager}, or None when it is not valid."""
    out = {}
    if not isinstance(entries, list):
        return None
    for e in entries:
        if not isinstance(e, dict) or e.get("operation") not in ("Apply", "Update") or \
                e.get("fieldsType", "FieldsV1") != "FieldsV1":
            return None
        m = Manager(e.get("manager") or "", e["operation"], e.get("apiVersion") or "", e.get("subresource"),
                    parse(e.get("fieldsV1") or {}), e.get("time"))
        out[m.key] = m
    return out


def encode(managers):
    ms = [m for m in managers.values() if m.paths]
    ms.sort(key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource))
    return [m.entry() for m in ms]


def _filter(paths, sub):
    """Drop the stripped metadata fields and the fields the endpoint resets."""
    out = set()
    for p in paths:
        if p in STRIPPED:
            continue
        top = p[0][1] if p else None
        if sub == "status" and top in ("apiVersion", "kind", "metadata", "spec"):
            continue
        if sub == "main-with-status" and top == "status":
            continue
        out.add(p)
    return out


def _scope(r, sub):
    if sub == "status":
        return "status"
    return "main-with-status" if r.status else None


def _cap(managers):
    updaters = sorted((m for m in managers.values() if m.operation == "Update"),
                      key=lambda m: (m.time or "", m.manager))
    while len(updaters) > MAX_UPDATE_MANAGERS:
        m = updaters.pop(0)
        del managers[m.key]
        bucket = Manager("ancient-changes", "Update", m.api_version, "", m.paths, m.time)
        if bucket.key in managers:
            managers[bucket.key].paths |= m.paths
        else:
            managers[bucket.key] = bucket
            updaters.insert(0, bucket)
            updaters.sort(key=lambda x: (x.time or "", x.manager))


def _strip(obj):
    """obj without metadata.managedFields (a shallow copy: not to be changed)."""
    md = obj.get("metadata")
    if not isinstance(md, dict) or "managedFields" not in md:
        return obj
    o = dict(obj)
    o["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
    return o


def _take(managers, me, paths):
    """The other managers lose paths (changed or removed by me)."""
    for m in list(managers.values()):
        if m.key != me.key:
            m.paths -= paths
            if not m.paths:
                del managers[m.key]


def _part(obj, scope):
    """The part of an object an endpoint can own (compared alone: faster)."""
    if scope == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    obj = _strip(obj)
    if scope == "main-with-status" and "status" in obj:
        obj = {k: v for k, v in obj.items() if k != "status"}
    return obj


def update(r, old, new, manager, sub, body_fields=None):
    """The managedFields of new after an Update operation by manager.
    old is None on create; body_fields is the managedFields the client
    sent (used when valid and non-empty)."""
    t = root_type(r)
    if body_fields == [{}]:
        return []  # the documented way to drop them
    managers = decode(body_fields) if body_fields else None
    if not managers:
        managers = decode((old or {}).get("metadata", {}).get("managedFields") or []) or {}
    if old is not None and not managers:
        return []  # an object without managed fields is not tracked on update
    scope = _scope(r, sub)
    added, removed, modified = compare(_part(old, scope) if old is not None else {}, _part(new, scope), t)
    changed = _filter(added | modified, scope)
    removed = _filter(removed, scope)
    me = Manager(manager, "Update", r.api_version, sub)
    _take(managers, me, changed | removed)
    if changed:
        prev = managers.get(me.key)
        me.paths = (prev.paths - removed if prev else set()) | changed
        me.time = now_ts()
        managers[me.key] = me
    elif me.key in managers:
        managers[me.key].paths -= removed
    _cap(managers)
    return encode(managers)


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def apply(r, live, cfg, manager, sub, force):
    """Server-side apply of cfg by manager onto live (None: the object does
    not exist). Returns (object, managedFields); raises 409 on conflicts.
    For the manager "kubectl", conflicts on fields whose live value is still
    the one in the client-side apply annotation are no conflicts, and that
    annotation follows the applied configuration."""
    try:
        obj, managed = _apply(r, live, cfg, manager, sub, force)
    except ConflictError as e:
        if manager != "kubectl" or live is None:
            raise
        allowed = _allowed_by_last_applied(r, live)
        rest = [(m, p) for m, p in e.conflicts if p not in allowed]
        if rest:
            raise conflict_error(rest)
        obj, managed = _apply(r, live, cfg, manager, sub, True)
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if manager == "kubectl" and ann.get(LAST_APPLIED):
        last = copy.deepcopy(cfg)
        la = (last.get("metadata") or {}).get("annotations")
        if isinstance(la, dict):
            la.pop(LAST_APPLIED, None)
        ann[LAST_APPLIED] = _dump(last) + "\n"
    return obj, managed


def _allowed_by_last_applied(r, live):
    ann = (live.get("metadata") or {}).get("annotations") or {}
    try:
        last = json.loads(ann.get(LAST_APPLIED) or "")
    except ValueError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != r.api_version:
        return set()
    t = root_type(r)
    added, removed, modified = compare(last, _strip(live), t)
    return to_set(last, t) - added - removed - modified


class ConflictError(ApiError):
    def __init__(self, conflicts, *args):
        super().__init__(*args)
        self.conflicts = conflicts


def _apply(r, live, cfg, manager, sub, force):
    t = root_type(r)
    scope = _scope(r, sub)
    cfg = copy.deepcopy(cfg)
    (cfg.get("metadata") or {}).pop("managedFields", None)
    if live is None:
        me = Manager(manager, "Apply", r.api_version, sub, _filter(to_set(cfg, t), scope), now_ts())
        return cfg, encode({me.key: me})
    managers = decode(live.get("metadata", {}).get("managedFields") or []) or {}
    base = _strip(live)
    if not managers:
        # fields set before the first apply belong to "before-first-apply"
        added, _, modified = compare({}, base, t)
        first = Manager("before-first-apply", "Update", r.api_version, sub, _filter(added | modified, scope),
                        now_ts())
        if first.paths:
            managers[first.key] = first
    merged = merge(base, cfg, t)
    me = Manager(manager, "Apply", r.api_version, sub, _filter(to_set(cfg, t), scope))
    last = managers.get(me.key)
    managers[me.key] = me
    if last is not None:
        owned = set().union(*(m.paths for m in managers.values()))
        covered = {q[:n] for q in owned for n in range(1, len(q))}
        gone = sorted(last.paths - owned - covered, key=len, reverse=True)
        if gone:
            merged = copy.deepcopy(merged)  # merge shares what it did not change with base
        for p in gone:
            remove_path(merged, p, t)  # no one sets it any more
    added, removed, modified = compare(base, merged, t)
    changed = _filter(added | modified, scope)
    removed = _filter(removed, scope)
    conflicts = []
    for m in managers.values():
        if m.key != me.key:
            for p in sorted(m.paths & changed, key=path_string):
                conflicts.append((m, p))
    if conflicts and not force:
        raise conflict_error(conflicts)
    _take(managers, me, changed | removed)
    me.time = now_ts() if merged != base or last is None else last.time
    return merged, encode(managers)


def conflict_error(conflicts):
    causes = [{"reason": "FieldManagerConflict", "message": "conflict with %s" % m.printed(),
               "field": path_string(p)} for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        msg = "Apply failed with 1 conflict: conflict with %s: %s" % (m.printed(), path_string(p))
    else:
        by = {}
        for m, p in conflicts:
            by.setdefault(m.printed(), []).append(path_string(p))
        lines = []
        for name in sorted(by, key=lambda s: json.loads(s.split(" ")[0]) if s.startswith('"') else s):
            lines.append("conflicts with %s:" % name)
            lines.extend("- %s" % p for p in by[name])
        msg = "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))
    return ConflictError(conflicts, 409, "Conflict", msg, {"causes": causes})
