"""kubesim CEL: a small evaluator for the subset of the Common Expression
Language that CRD x-kubernetes-validations rules use.

Supported: int, uint, double, string (single, double, triple and raw
quotes), bool, null, list and map literals; field selection, indexing;
! - * / % + - == != < <= > >= in && || ?: ; has(); size(); the macros
all, exists, exists_one, map (2 and 3 arguments), filter; string methods
startsWith, endsWith, contains, matches, lowerAscii, upperAscii, trim,
split, join, replace, indexOf, lastIndexOf, substring, charAt; list methods
isSorted, sum, min, max, indexOf; conversions int, uint, double, string,
bool, dyn; the variables self and oldSelf.

Not supported (a rule using them is skipped with a warning): bytes,
timestamps and durations, optionals (?. [?] optional.of), quantity, url,
ip/cidr, format, authorizer, type(), the k8s regex/list library beyond the
above, cost estimation and compile-time type checking.
"""

import re


class CelUnsupported(Exception):
    """The expression uses something this evaluator does not know."""


class CelError(Exception):
    """A runtime error (no such key, wrong type, ...)."""


_TOK = re.compile(r"""
 (?P<ws>\s+)
|(?P<num>0x[0-9a-fA-F]+u?|\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+u?)
|(?P<str>[rR]?(?:'''(?:.|\n)*?'''|\"\"\"(?:.|\n)*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
|(?P<bytes>[bB][rR]?['"])
|(?P<id>[A-Za-z_][A-Za-z0-9_]*)
|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
""", re.X)


def tokenize(src):
    out = []
    pos = 0
    while pos < len(src):
        m = _TOK.match(src, pos)
        if not m:
            raise CelUnsupported("unexpected character %r at %d" % (src[pos], pos))
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "bytes":
            raise CelUnsupported("bytes literals")
        out.append((kind, m.group(kind)))
    out.append(("eof", ""))
    return out


def _unquote(s):
    raw = s[0] in "rR"
    if raw:
        s = s[1:]
    if s.startswith("'''") or s.startswith('"""'):
        body = s[3:-3]
    else:
        body = s[1:-1]
    if raw:
        return body
    out = []
    i = 0
    esc = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?", "a": "\a",
           "b": "\b", "f": "\f", "v": "\v"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in esc:
                out.append(esc[n])
                i += 2
                continue
            if n in "uU":
                ln = 4 if n == "u" else 8
                out.append(chr(int(body[i + 2:i + 2 + ln], 16)))
                i += 2 + ln
                continue
            if n == "x":
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            raise CelUnsupported("escape \\%s" % n)
        out.append(c)
        i += 1
    return "".join(out)


class UInt(int):
    """A CEL uint."""


MACROS = {"all", "exists", "exists_one", "map", "filter"}


class Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.i = 0

    def peek(self, k=0):
        return self.toks[self.i + k]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, val):
        if self.peek()[1] == val and self.peek()[0] in ("op", "id"):
            self.i += 1
            return True
        return False

    def expect(self, val):
        if not self.accept(val):
            raise CelUnsupported("expected %r, found %r" % (val, self.peek()[1]))

    def parse(self):
        e = self.expr()
        if self.peek()[0] != "eof":
            raise CelUnsupported("unexpected %r" % self.peek()[1])
        return e

    def expr(self):
        c = self.or_()
        if self.accept("?"):
            a = self.expr()
            self.expect(":")
            b = self.expr()
            return ("cond", c, a, b)
        return c

    def or_(self):
        e = self.and_()
        while self.accept("||"):
            e = ("or", e, self.and_())
        return e

    def and_(self):
        e = self.rel()
        while self.accept("&&"):
            e = ("and", e, self.rel())
        return e

    def rel(self):
        e = self.add()
        while True:
            t = self.peek()
            if t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
                self.next()
                e = ("bin", t[1], e, self.add())
            elif t == ("id", "in"):
                self.next()
                e = ("bin", "in", e, self.add())
            else:
                return e

    def add(self):
        e = self.mul()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.next()[1]
            e = ("bin", op, e, self.mul())
        return e

    def mul(self):
        e = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%"):
            op = self.next()[1]
            e = ("bin", op, e, self.unary())
        return e

    def unary(self):
        if self.accept("!"):
            return ("not", self.unary())
        if self.peek() == ("op", "-"):
            self.next()
            return ("neg", self.unary())
        return self.member()

    def args(self):
        out = []
        if self.accept(")"):
            return out
        while True:
            out.append(self.expr())
            if self.accept(")"):
                return out
            self.expect(",")

    def member(self):
        e = self.primary()
        while True:
            if self.peek() == ("op", "."):
                self.next()
                if self.peek() == ("op", "?"):
                    raise CelUnsupported("optional field selection")
                t = self.next()
                if t[0] != "id":
                    raise CelUnsupported("expected a field name")
                if self.accept("("):
                    if t[1] in MACROS:
                        e = self.macro(t[1], e)
                    else:
                        e = ("call", t[1], e, self.args())
                else:
                    e = ("sel", e, t[1])
            elif self.peek() == ("op", "["):
                self.next()
                if self.peek() == ("op", "?"):
                    raise CelUnsupported("optional index")
                idx = self.expr()
                self.expect("]")
                e = ("idx", e, idx)
            else:
                return e

    def macro(self, name, target):
        t = self.next()
        if t[0] != "id":
            raise CelUnsupported("macro %s needs a variable name" % name)
        var = t[1]
        self.expect(",")
        a = self.expr()
        if name == "map" and self.accept(","):
            b = self.expr()
            self.expect(")")
            return ("macro", "map3", target, var, a, b)
        self.expect(")")
        return ("macro", name, target, var, a, None)

    def primary(self):
        t = self.next()
        kind, val = t
        if kind == "num":
            if val.endswith("u"):
                return ("lit", UInt(int(val[:-1], 0)))
            if val.startswith("0x"):
                return ("lit", int(val, 16))
            if any(c in val for c in ".eE"):
                return ("lit", float(val))
            return ("lit", int(val))
        if kind == "str":
            return ("lit", _unquote(val))
        if kind == "id":
            if val == "true":
                return ("lit", True)
            if val == "false":
                return ("lit", False)
            if val == "null":
                return ("lit", None)
            if self.accept("("):
                if val == "has":
                    arg = self.expr()
                    self.expect(")")
                    if arg[0] != "sel":
                        raise CelUnsupported("has() needs a field selection")
                    return ("has", arg[1], arg[2])
                return ("call", val, None, self.args())
            return ("id", val)
        if val == "(":
            e = self.expr()
            self.expect(")")
            return e
        if val == "[":
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.expr())
                    if self.accept("]"):
                        break
                    self.expect(",")
                    if self.accept("]"):
                        break
            return ("list", items)
        if val == "{":
            items = []
            if not self.accept("}"):
                while True:
                    k = self.expr()
                    self.expect(":")
                    items.append((k, self.expr()))
                    if self.accept("}"):
                        break
                    self.expect(",")
                    if self.accept("}"):
                        break
            return ("map", items)
        if val == ".":
            t2 = self.next()
            return ("id", t2[1])
        raise CelUnsupported("unexpected %r" % val)


def compile_rule(src):
    """Parse a rule; raises CelUnsupported. Returns an AST."""
    ast = Parser(src).parse()
    _check(ast)
    return ast


KNOWN_FUNCS = {"size", "int", "uint", "double", "string", "bool", "dyn", "matches", "startsWith", "endsWith",
               "contains", "lowerAscii", "upperAscii", "trim", "split", "join", "replace", "indexOf",
               "lastIndexOf", "substring", "charAt", "isSorted", "sum", "min", "max"}


def _check(ast):
    if not isinstance(ast, tuple):
        return
    if ast[0] == "call" and ast[1] not in KNOWN_FUNCS:
        raise CelUnsupported("function %s" % ast[1])
    if ast[0] == "id" and ast[1] not in ("self", "oldSelf") and not ast[1].startswith("__"):
        pass
    for x in ast[1:]:
        if isinstance(x, tuple):
            _check(x)
        elif isinstance(x, list):
            for y in x:
                if isinstance(y, tuple) and y and isinstance(y[0], tuple):
                    for z in y:
                        _check(z)
                else:
                    _check(y)


def uses_old_self(ast):
    if isinstance(ast, tuple):
        if ast == ("id", "oldSelf"):
            return True
        return any(uses_old_self(x) for x in ast[1:])
    if isinstance(ast, list):
        return any(uses_old_self(x) for x in ast)
    return False


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(a, b):
    if _num(a) and _num(b):
        return a == b
    if type(a) is not type(b) and not (isinstance(a, int) and isinstance(b, int)):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    return a == b


def _type_name(v):
    if v is None:
        return "null_type"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, UInt):
        return "uint"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "map"
    return "unknown"


def evaluate(ast, env):
    """Evaluate an AST with variables env; raises CelError."""
    op = ast[0]
    if op == "lit":
        return ast[1]
    if op == "id":
        if ast[1] in env:
            return env[ast[1]]
        raise CelError("undeclared reference to '%s'" % ast[1])
    if op == "sel":
        t = evaluate(ast[1], env)
        if isinstance(t, dict):
            if ast[2] in t:
                return t[ast[2]]
            raise CelError("no such key: %s" % ast[2])
        raise CelError("type '%s' does not support field selection" % _type_name(t))
    if op == "has":
        t = evaluate(ast[1], env)
        if isinstance(t, dict):
            return ast[2] in t
        raise CelError("invalid type for field selection.")
    if op == "idx":
        t = evaluate(ast[1], env)
        i = evaluate(ast[2], env)
        if isinstance(t, list):
            if not isinstance(i, int) or isinstance(i, bool):
                raise CelError("unsupported index type")
            if i < 0 or i >= len(t):
                raise CelError("index out of bounds: %d" % i)
            return t[i]
        if isinstance(t, dict):
            if i in t:
                return t[i]
            raise CelError("no such key: %s" % i)
        raise CelError("no such overload for index")
    if op == "list":
        return [evaluate(x, env) for x in ast[1]]
    if op == "map":
        return {evaluate(k, env): evaluate(v, env) for k, v in ast[1]}
    if op == "not":
        v = evaluate(ast[1], env)
        if not isinstance(v, bool):
            raise CelError("no such overload: !%s" % _type_name(v))
        return not v
    if op == "neg":
        v = evaluate(ast[1], env)
        if not _num(v):
            raise CelError("no such overload: -%s" % _type_name(v))
        return -v
    if op in ("or", "and"):
        want = op == "or"
        err = None
        for side in (ast[1], ast[2]):
            try:
                v = evaluate(side, env)
            except CelError as e:
                err = e
                continue
            if not isinstance(v, bool):
                err = CelError("no such overload: %s" % op)
                continue
            if v == want:
                return want
        if err:
            raise err
        return not want
    if op == "cond":
        c = evaluate(ast[1], env)
        if not isinstance(c, bool):
            raise CelError("no such overload: ternary condition")
        return evaluate(ast[2] if c else ast[3], env)
    if op == "bin":
        return _binary(ast[1], evaluate(ast[2], env), evaluate(ast[3], env))
    if op == "macro":
        return _macro(ast, env)
    if op == "call":
        target = evaluate(ast[2], env) if ast[2] is not None else None
        args = [evaluate(a, env) for a in ast[3]]
        return _call(ast[1], target, args, ast[2] is not None)
    raise CelError("unknown node %s" % op)


def _binary(op, a, b):
    if op == "==":
        return _eq(a, b)
    if op == "!=":
        return not _eq(a, b)
    if op == "in":
        if isinstance(b, list):
            return any(_eq(a, x) for x in b)
        if isinstance(b, dict):
            return a in b
        raise CelError("no such overload: in %s" % _type_name(b))
    if op in ("<", "<=", ">", ">="):
        ok = (_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str)) or \
             (isinstance(a, bool) and isinstance(b, bool))
        if not ok:
            raise CelError("no such overload: %s %s %s" % (_type_name(a), op, _type_name(b)))
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op == "+":
        if (_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str)) or \
                (isinstance(a, list) and isinstance(b, list)):
            return a + b
        raise CelError("no such overload: %s + %s" % (_type_name(a), _type_name(b)))
    if not (_num(a) and _num(b)):
        raise CelError("no such overload: %s %s %s" % (_type_name(a), op, _type_name(b)))
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            raise CelError("division by zero")
        if isinstance(a, int) and isinstance(b, int):
            q = abs(a) // abs(b)
            return q if (a >= 0) == (b >= 0) else -q
        return a / b
    if op == "%":
        if b == 0:
            raise CelError("modulus by zero")
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    raise CelError("unknown operator %s" % op)


def _macro(ast, env):
    _, name, target_ast, var, a, b = ast
    target = evaluate(target_ast, env)
    if isinstance(target, dict):
        items = list(target.keys())
    elif isinstance(target, list):
        items = target
    else:
        raise CelError("%s() needs a list or map" % name)

    def run(node, x):
        e = dict(env)
        e[var] = x
        return evaluate(node, e)

    if name == "all":
        err = None
        for x in items:
            try:
                v = run(a, x)
            except CelError as e:
                err = e
                continue
            if v is False:
                return False
        if err:
            raise err
        return True
    if name == "exists":
        err = None
        for x in items:
            try:
                v = run(a, x)
            except CelError as e:
                err = e
                continue
            if v is True:
                return True
        if err:
            raise err
        return False
    if name == "exists_one":
        return sum(1 for x in items if run(a, x) is True) == 1
    if name == "map":
        return [run(a, x) for x in items]
    if name == "map3":
        return [run(b, x) for x in items if run(a, x) is True]
    if name == "filter":
        return [x for x in items if run(a, x) is True]
    raise CelError("unknown macro %s" % name)


def _call(name, target, args, method):
    if method:
        args = [target] + args
    if name == "size":
        if len(args) != 1 or not isinstance(args[0], (str, list, dict)):
            raise CelError("no such overload: size")
        return len(args[0])
    if name == "int":
        try:
            return int(args[0])
        except (TypeError, ValueError):
            raise CelError("cannot convert to int")
    if name == "uint":
        return UInt(int(args[0]))
    if name == "double":
        return float(args[0])
    if name == "string":
        v = args[0]
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    if name == "bool":
        if isinstance(args[0], str):
            if args[0] in ("true", "TRUE", "True", "t", "1"):
                return True
            if args[0] in ("false", "FALSE", "False", "f", "0"):
                return False
        if isinstance(args[0], bool):
            return args[0]
        raise CelError("cannot convert to bool")
    if name == "dyn":
        return args[0]
    s = args[0] if args else None
    if name in ("matches", "startsWith", "endsWith", "contains", "lowerAscii", "upperAscii", "trim", "split",
                "replace", "lastIndexOf", "substring", "charAt") or (name == "indexOf" and isinstance(s, str)):
        if not isinstance(s, str) or not all(isinstance(x, (str, int)) for x in args[1:]):
            raise CelError("no such overload: %s" % name)
        if name == "matches":
            try:
                return re.search(args[1], s) is not None
            except re.error as e:
                raise CelError("invalid regex: %s" % e)
        if name == "startsWith":
            return s.startswith(args[1])
        if name == "endsWith":
            return s.endswith(args[1])
        if name == "contains":
            return args[1] in s
        if name == "lowerAscii":
            return "".join(c.lower() if c.isascii() else c for c in s)
        if name == "upperAscii":
            return "".join(c.upper() if c.isascii() else c for c in s)
        if name == "trim":
            return s.strip()
        if name == "split":
            return s.split(args[1]) if len(args) == 2 else s.split(args[1], args[2] - 1)
        if name == "replace":
            return s.replace(args[1], args[2]) if len(args) == 3 else s.replace(args[1], args[2], args[3])
        if name == "indexOf":
            return s.find(args[1], args[2] if len(args) > 2 else 0)
        if name == "lastIndexOf":
            return s.rfind(args[1])
        if name == "substring":
            return s[args[1]:args[2]] if len(args) > 2 else s[args[1]:]
        if name == "charAt":
            return s[args[1]] if args[1] < len(s) else ""
    if isinstance(s, list):
        if name == "join":
            return (args[1] if len(args) > 1 else "").join(s)
        if name == "isSorted":
            return all(not _binary("<", s[i + 1], s[i]) for i in range(len(s) - 1))
        if name == "sum":
            return sum(s)
        if name == "min":
            return min(s)
        if name == "max":
            return max(s)
        if name == "indexOf":
            for i, x in enumerate(s):
                if _eq(x, args[1]):
                    return i
            return -1
    raise CelError("no such overload: %s" % name)
