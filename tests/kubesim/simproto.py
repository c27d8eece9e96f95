"""kubesim protobuf: decodes the request bodies kubectl's typed clients send
as application/vnd.kubernetes.protobuf (kubectl create namespace, secret,
configmap, serviceaccount, token, role, rolebinding, clusterrole,
clusterrolebinding) into JSON objects. Other kinds get 415."""

import base64


def _varint(b, i):
    shift = 0
    out = 0
    while True:
        c = b[i]
        i += 1
        out |= (c & 0x7F) << shift
        if not c & 0x80:
            return out, i
        shift += 7


def fields(b):
    """(field number, wire type, value) of one message."""
    i = 0
    out = []
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.append((num, wt, v))
    return out


S, B64, I, BOOL = "str", "b64", "int", "bool"
OWNER = {1: ("kind", S), 3: ("name", S), 4: ("uid", S), 5: ("apiVersion", S), 6: ("controller", BOOL),
         7: ("blockOwnerDeletion", BOOL)}
META = {1: ("name", S), 2: ("generateName", S), 3: ("namespace", S), 5: ("uid", S), 6: ("resourceVersion", S),
        11: ("labels", "map", S), 12: ("annotations", "map", S), 13: ("ownerReferences", "rep", OWNER),
        14: ("finalizers", "rep", S)}
OBJREF = {1: ("kind", S), 2: ("namespace", S), 3: ("name", S), 4: ("uid", S), 5: ("apiVersion", S)}
RULE = {1: ("verbs", "rep", S), 2: ("apiGroups", "rep", S), 3: ("resources", "rep", S),
        4: ("resourceNames", "rep", S), 5: ("nonResourceURLs", "rep", S)}
SUBJECT = {1: ("kind", S), 2: ("apiGroup", S), 3: ("name", S), 4: ("namespace", S)}
ROLEREF = {1: ("apiGroup", S), 2: ("kind", S), 3: ("name", S)}
RATTR = {1: ("namespace", S), 2: ("verb", S), 3: ("group", S), 4: ("version", S), 5: ("resource", S),
         6: ("subresource", S), 7: ("name", S)}
NRATTR = {1: ("path", S), 2: ("verb", S)}
KINDS = {
    "SelfSubjectAccessReview": {1: ("metadata", "msg", META), 2: ("spec", "msg", {
        1: ("resourceAttributes", "msg", RATTR), 2: ("nonResourceAttributes", "msg", NRATTR)})},
    "SubjectAccessReview": {1: ("metadata", "msg", META), 2: ("spec", "msg", {
        1: ("resourceAttributes", "msg", RATTR), 2: ("nonResourceAttributes", "msg", NRATTR),
        3: ("user", S), 4: ("groups", "rep", S), 6: ("uid", S)})},
    "SelfSubjectRulesReview": {1: ("metadata", "msg", META), 2: ("spec", "msg", {1: ("namespace", S)})},
    "SelfSubjectReview": {1: ("metadata", "msg", META)},
    "Namespace": {1: ("metadata", "msg", META), 2: ("spec", "msg", {1: ("finalizers", "rep", S)})},
    "Secret": {1: ("metadata", "msg", META), 2: ("data", "map", B64), 3: ("type", S),
               4: ("stringData", "map", S), 5: ("immutable", BOOL)},
    "ConfigMap": {1: ("metadata", "msg", META), 2: ("data", "map", S), 3: ("binaryData", "map", B64),
                  4: ("immutable", BOOL)},
    "ServiceAccount": {1: ("metadata", "msg", META), 2: ("secrets", "rep", OBJREF),
                       3: ("imagePullSecrets", "rep", {1: ("name", S)}),
                       4: ("automountServiceAccountToken", BOOL)},
    "TokenRequest": {1: ("metadata", "msg", META), 2: ("spec", "msg", {
        1: ("audiences", "rep", S), 4: ("expirationSeconds", I),
        3: ("boundObjectRef", "msg", {1: ("kind", S), 2: ("apiVersion", S), 3: ("name", S), 4: ("uid", S)})})},
    "Role": {1: ("metadata", "msg", META), 2: ("rules", "rep", RULE)},
    "ClusterRole": {1: ("metadata", "msg", META), 2: ("rules", "rep", RULE)},
    "RoleBinding": {1: ("metadata", "msg", META), 2: ("subjects", "rep", SUBJECT), 3: ("roleRef", "msg", ROLEREF)},
    "ClusterRoleBinding": {1: ("metadata", "msg", META), 2: ("subjects", "rep", SUBJECT),
                           3: ("roleRef", "msg", ROLEREF)},
}


def _scalar(kind, wt, v):
    if kind == S:
        return v.decode("utf-8")
    if kind == B64:
        return base64.b64encode(v).decode()
    if kind == I:
        return v
    if kind == BOOL:
        return bool(v)
    return decode_msg(kind, v)


def decode_msg(spec, b):
    out = {}
    for num, wt, v in fields(b):
        f = spec.get(num)
        if f is None:
            continue
        name, kind = f[0], f[1]
        if kind == "msg":
            out[name] = decode_msg(f[2], v)
        elif kind == "rep":
            out.setdefault(name, []).append(_scalar(f[2], wt, v))
        elif kind == "map":
            k = val = None
            for n2, wt2, v2 in fields(v):
                if n2 == 1:
                    k = v2.decode("utf-8")
                elif n2 == 2:
                    val = _scalar(f[2], wt2, v2)
            out.setdefault(name, {})[k] = val if val is not None else ("" if f[2] in (S, B64) else val)
        else:
            out[name] = _scalar(kind, wt, v)
    return out


def decode(body):
    """A k8s protobuf envelope -> JSON object, or None when the kind is not known."""
    if not body.startswith(b"k8s\x00"):
        return None
    api_version = kind = None
    raw = b""
    for num, wt, v in fields(body[4:]):
        if num == 1:
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    api_version = v2.decode()
                elif n2 == 2:
                    kind = v2.decode()
        elif num == 2:
            raw = v
    spec = KINDS.get(kind)
    if spec is None:
        return None
    obj = decode_msg(spec, raw)
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    return obj
