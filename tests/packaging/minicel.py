"""A small evaluator for the subset of CEL the chart and the CRD use.

It exists so that the CRD's x-kubernetes-validations and the
ValidatingAdmissionPolicy can be exercised without an API server, and so that
a rule outside the subset the API simulator evaluates is caught here: the
parser refuses anything else.

Supported: literals (strings, integers, true, false, null, lists), names,
field selection, indexing, `in`, `==`, `!=`, `<=`, `+` (strings, integers), `!`, `&&`, `||`, parentheses,
has(), size(), and the methods startsWith, all, exists and map.
`&&` and `||` absorb errors the way CEL does (false && error is false,
true || error is true).
"""

import re

ALLOWED_FUNCTIONS = {"has", "size"}
ALLOWED_METHODS = {"startsWith", "all", "exists", "map"}


class CelError(Exception):
    """A rule that does not parse, or an evaluation error (no such key...)."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<int>\d+)
  | (?P<op>&&|\|\||==|!=|<=|[!.\[\](),+])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


def _unescape(body):
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
            continue
        out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}.get(n))
        if out[-1] is None:
            raise CelError("unsupported escape \\" + n)
        i += 2
    return "".join(out)


def tokenize(src):
    toks = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise CelError("unexpected character %r at %d" % (src[pos], pos))
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "ws":
            continue
        if kind == "str":
            toks.append(("lit", _unescape(text[1:-1])))
        elif kind == "int":
            toks.append(("lit", int(text)))
        elif kind == "name" and text in ("true", "false", "null"):
            toks.append(("lit", {"true": True, "false": False, "null": None}[text]))
        elif kind == "name" and text == "in":
            toks.append(("op", "in"))
        else:
            toks.append((kind, text))
    toks.append(("end", None))
    return toks


class _Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind=None, text=None):
        tok = self.toks[self.i]
        if (kind and tok[0] != kind) or (text and tok[1] != text):
            raise CelError("expected %s, found %r" % (text or kind, tok[1]))
        self.i += 1
        return tok

    def accept(self, text):
        if self.peek()[0] == "op" and self.peek()[1] == text:
            self.i += 1
            return True
        return False

    def parse(self):
        node = self.or_()
        if self.peek()[0] != "end":
            raise CelError("unexpected %r" % (self.peek()[1],))
        return node

    def or_(self):
        node = self.and_()
        while self.accept("||"):
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.rel()
        while self.accept("&&"):
            node = ("and", node, self.rel())
        return node

    def rel(self):
        node = self.add()
        for op in ("==", "!=", "<=", "in"):
            if self.accept(op):
                return (op, node, self.add())
        return node

    def add(self):
        node = self.unary()
        while self.accept("+"):
            node = ("+", node, self.unary())
        return node

    def unary(self):
        if self.accept("!"):
            return ("not", self.unary())
        return self.member()

    def member(self):
        node = self.primary()
        while True:
            if self.accept("."):
                name = self.take("name")[1]
                if self.accept("("):
                    if name not in ALLOWED_METHODS:
                        raise CelError("method %s is outside the supported subset" % name)
                    args = self.args()
                    node = ("method", name, node, args)
                else:
                    node = ("select", node, name)
            elif self.accept("["):
                idx = self.or_()
                self.take("op", "]")
                node = ("index", node, idx)
            else:
                return node

    def args(self):
        args = []
        if self.accept(")"):
            return args
        while True:
            args.append(self.or_())
            if self.accept(")"):
                return args
            self.take("op", ",")

    def primary(self):
        tok = self.peek()
        if tok[0] == "lit":
            self.i += 1
            return ("lit", tok[1])
        if tok[0] == "name":
            self.i += 1
            if self.accept("("):
                if tok[1] not in ALLOWED_FUNCTIONS:
                    raise CelError("function %s is outside the supported subset" % tok[1])
                return ("call", tok[1], self.args())
            return ("name", tok[1])
        if self.accept("("):
            node = self.or_()
            self.take("op", ")")
            return node
        if self.accept("["):
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.or_())
                    if self.accept("]"):
                        break
                    self.take("op", ",")
            return ("list", items)
        raise CelError("unexpected %r" % (tok[1],))


def compile_rule(src):
    """Parses src; raises CelError when it is outside the subset."""
    node = _Parser(src).parse()
    _check_macros(node)
    return node


def _check_macros(node):
    if not isinstance(node, tuple):
        return
    if node[0] == "method" and node[1] in ("all", "exists", "map"):
        if len(node[3]) != 2 or node[3][0][0] != "name":
            raise CelError("%s() takes a variable and an expression" % node[1])
    if node[0] == "call" and node[1] == "has":
        if len(node[2]) != 1 or node[2][0][0] != "select":
            raise CelError("has() takes a field selection")
    for part in node[1:]:
        if isinstance(part, tuple):
            _check_macros(part)
        elif isinstance(part, list):
            for p in part:
                _check_macros(p)


def evaluate(node, env):
    """Evaluates a compiled rule with the names in env (a dict)."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "name":
        if node[1] not in env:
            raise CelError("undeclared reference to %s" % node[1])
        val = env[node[1]]
        return val() if callable(val) else val
    if kind == "list":
        return [evaluate(n, env) for n in node[1]]
    if kind == "select":
        obj = evaluate(node[1], env)
        if isinstance(obj, _Lazy):
            return obj.get(node[2])
        if not isinstance(obj, dict):
            raise CelError("cannot select %s from %s" % (node[2], type(obj).__name__))
        if node[2] not in obj:
            raise CelError("no such key: %s" % node[2])
        return obj[node[2]]
    if kind in ("+", "<="):
        a, b = evaluate(node[1], env), evaluate(node[2], env)
        if not ((isinstance(a, str) and isinstance(b, str)) or
                (type(a) is int and type(b) is int)):
            raise CelError("no such overload: %s %s %s" % (type(a).__name__, kind, type(b).__name__))
        return a + b if kind == "+" else a <= b
    if kind == "index":
        obj = evaluate(node[1], env)
        idx = evaluate(node[2], env)
        try:
            return obj[idx]
        except (KeyError, IndexError, TypeError):
            raise CelError("no such key: %r" % (idx,))
    if kind == "not":
        val = evaluate(node[1], env)
        if not isinstance(val, bool):
            raise CelError("! needs a bool")
        return not val
    if kind in ("and", "or"):
        decisive = kind == "or"
        err = None
        for side in (node[1], node[2]):
            try:
                val = evaluate(side, env)
            except CelError as e:
                err = e
                continue
            if not isinstance(val, bool):
                raise CelError("%s needs bools" % kind)
            if val == decisive:
                return decisive
        if err:
            raise err
        return not decisive
    if kind in ("==", "!="):
        a, b = evaluate(node[1], env), evaluate(node[2], env)
        same = type(a) is type(b) and a == b
        return same if kind == "==" else not same
    if kind == "in":
        a, b = evaluate(node[1], env), evaluate(node[2], env)
        if isinstance(b, (list, dict)):
            return a in b
        raise CelError("in needs a list or a map")
    if kind == "call":
        if node[1] == "has":
            sel = node[2][0]
            obj = evaluate(sel[1], env)
            if isinstance(obj, _Lazy):
                return obj.has(sel[2])
            if not isinstance(obj, dict):
                raise CelError("has() on a non-object")
            return sel[2] in obj
        val = evaluate(node[2][0], env)
        if not isinstance(val, (str, list, dict)):
            raise CelError("size() of %s" % type(val).__name__)
        return len(val)
    if kind == "method":
        name, target = node[1], evaluate(node[2], env)
        if name == "startsWith":
            arg = evaluate(node[3][0], env)
            if not isinstance(target, str) or not isinstance(arg, str):
                raise CelError("startsWith needs strings")
            return target.startswith(arg)
        var, body = node[3][0][1], node[3][1]
        items = list(target.keys()) if isinstance(target, dict) else target
        if not isinstance(items, list):
            raise CelError("%s() on a non-list" % name)
        results = []
        for item in items:
            sub = dict(env)
            sub[var] = item
            results.append(evaluate(body, sub))
        if name == "map":
            return results
        if any(not isinstance(r, bool) for r in results):
            raise CelError("%s() needs a bool expression" % name)
        return all(results) if name == "all" else any(results)
    raise CelError("unknown node %s" % kind)


class _Lazy:
    """An object whose fields are expressions evaluated on first use (VAP variables)."""

    def __init__(self, fields, env):
        self.fields = fields
        self.env = env
        self.cache = {}

    def get(self, name):
        if name not in self.fields:
            raise CelError("no such variable: %s" % name)
        if name not in self.cache:
            self.cache[name] = evaluate(self.fields[name], self.env)
        return self.cache[name]

    def has(self, name):
        return name in self.fields


def admission_env(policy_spec, obj, old_obj, username, groups):
    """The names a ValidatingAdmissionPolicy expression sees for one request."""
    env = {
        "object": obj,
        "oldObject": old_obj,
        "request": {
            "operation": "CREATE" if old_obj is None else "UPDATE",
            "userInfo": {"username": username, "groups": list(groups)},
        },
    }
    fields = {v["name"]: compile_rule(v["expression"]) for v in policy_spec.get("variables", [])}
    env["variables"] = _Lazy(fields, env)
    return env


def admit(policy_spec, obj, old_obj, username, groups):
    """Runs the policy's validations; returns the messages of those that fail."""
    env = admission_env(policy_spec, obj, old_obj, username, groups)
    failed = []
    for v in policy_spec["validations"]:
        ok = evaluate(compile_rule(v["expression"]), env)
        if ok is not True:
            failed.append(v.get("message", v["expression"]))
    return failed
