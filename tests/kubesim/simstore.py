"""kubesim object store: objects, the global resourceVersion, the bounded
event history that watches read, and the on-disk journal that makes the
state survive a restart (like etcd).

Objects are keyed by (storage key, namespace, name); the storage key is
"<group>/<plural>" ("/secrets" for the core group). Every write gets the
next resourceVersion, is appended to DIR/journal.jsonl (flushed, not fsynced)
and is pushed to the watchers. On start the snapshot DIR/snapshot.json and
then the journal are replayed; the journal is folded into a new snapshot
when it grows.
"""

import collections
import json
import os
import queue
import threading

SNAPSHOT_EVERY = 5000


class Watcher:
    """One open watch: its filter and the queue its stream reads."""

    def __init__(self, skey, namespace):
        self.skey = skey
        self.namespace = namespace
        self.q = queue.Queue()
        self.sock = None
        self.closed = lambda: False

    def wants(self, skey, namespace):
        return skey == self.skey and (self.namespace is None or self.namespace == namespace)


class Store:
    """Thread-safe object store with history and persistence."""

    def __init__(self, state_dir, history_size=10000):
        self.dir = state_dir
        self.lock = threading.RLock()
        self.rv = 0
        self.objs = {}  # skey -> {(ns, name): obj}
        self.history = collections.deque()
        self.history_size = history_size
        self.compacted = 0  # a watch from rv R needs R >= compacted
        self.watchers = set()
        self.paused = False
        self.pending = []
        self.journal = None
        self.journal_n = 0
        self.extra = {}  # small persisted extras (tokens, ...)
        self._load()

    # ---- persistence -------------------------------------------------
    def _path(self, name):
        return os.path.join(self.dir, name)

    def _load(self):
        snap = self._path("snapshot.json")
        if os.path.exists(snap):
            with open(snap) as f:
                data = json.load(f)
            self.rv = data["rv"]
            self.extra = data.get("extra", {})
            for skey, ns, name, obj in data["objects"]:
                self.objs.setdefault(skey, {})[(ns, name)] = obj
        self.compacted = self.rv
        jpath = self._path("journal.jsonl")
        if os.path.exists(jpath):
            with open(jpath) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        e = json.loads(line)
                    except ValueError:
                        break  # torn last line after a kill: ignore
                    if e.get("op") == "extra":
                        self.extra[e["key"]] = e["value"]
                        continue
                    skey, ns, name = e["key"]
                    bucket = self.objs.setdefault(skey, {})
                    prev = bucket.get((ns, name))
                    if e["op"] == "put":
                        bucket[(ns, name)] = e["obj"]
                        etype = "MODIFIED" if prev is not None else "ADDED"
                        obj = e["obj"]
                    else:
                        bucket.pop((ns, name), None)
                        etype = "DELETED"
                        obj = e["obj"]
                    self.rv = max(self.rv, e["rv"])
                    self._remember(e["rv"], skey, ns, etype, obj, prev)
        self._snapshot()

    def _snapshot(self):
        """Write all objects to snapshot.json atomically and reset the journal."""
        objects = []
        for skey, bucket in self.objs.items():
            for (ns, name), obj in bucket.items():
                objects.append([skey, ns, name, obj])
        tmp = self._path("snapshot.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"rv": self.rv, "extra": self.extra, "objects": objects}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path("snapshot.json"))
        if self.journal:
            self.journal.close()
        self.journal = open(self._path("journal.jsonl"), "w")
        self.journal_n = 0

    def _append(self, entry):
        self.journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.journal.flush()
        self.journal_n += 1
        if self.journal_n >= SNAPSHOT_EVERY:
            self._snapshot()

    def set_extra(self, key, value):
        with self.lock:
            self.extra[key] = value
            self._append({"op": "extra", "key": key, "value": value})

    def close(self):
        with self.lock:
            if self.journal:
                self.journal.close()
                self.journal = None

    # ---- reads -------------------------------------------------------
    def get(self, skey, ns, name):
        with self.lock:
            return self.objs.get(skey, {}).get((ns or "", name))

    def list(self, skey, ns=None):
        """Objects of a storage key sorted like etcd keys (namespace, name)."""
        with self.lock:
            bucket = self.objs.get(skey, {})
            keys = sorted(k for k in bucket if ns is None or k[0] == ns)
            return [bucket[k] for k in keys], self.rv

    def namespaces_used(self, ns):
        """Every (skey, name) stored in namespace ns."""
        with self.lock:
            out = []
            for skey, bucket in self.objs.items():
                for (n, name) in bucket:
                    if n == ns:
                        out.append((skey, name))
            return out

    # ---- writes ------------------------------------------------------
    def next_rv(self):
        self.rv += 1
        return self.rv

    def put(self, skey, ns, name, obj, rv):
        """Store obj (its resourceVersion already set to rv) and notify."""
        ns = ns or ""
        bucket = self.objs.setdefault(skey, {})
        prev = bucket.get((ns, name))
        bucket[(ns, name)] = obj
        self._append({"rv": rv, "op": "put", "key": [skey, ns, name], "obj": obj})
        self._event(rv, skey, ns, "MODIFIED" if prev is not None else "ADDED", obj, prev)

    def delete(self, skey, ns, name, obj, rv):
        """Remove an object; obj is its last state carrying the new rv."""
        ns = ns or ""
        bucket = self.objs.setdefault(skey, {})
        prev = bucket.pop((ns, name), None)
        self._append({"rv": rv, "op": "del", "key": [skey, ns, name], "obj": obj})
        self._event(rv, skey, ns, "DELETED", obj, prev)

    def drop_all(self, skey):
        """Forget a whole storage key (used when a CRD goes away)."""
        self.objs.pop(skey, None)

    # ---- history and watchers ---------------------------------------
    def _remember(self, rv, skey, ns, etype, obj, prev):
        self.history.append((rv, skey, ns, etype, obj, prev))
        while len(self.history) > self.history_size:
            old = self.history.popleft()
            self.compacted = old[0]

    def _event(self, rv, skey, ns, etype, obj, prev):
        self._remember(rv, skey, ns, etype, obj, prev)
        ev = (rv, skey, ns, etype, obj, prev)
        if self.paused:
            self.pending.append(ev)
            return
        for w in list(self.watchers):
            if w.wants(skey, ns):
                w.q.put(ev)

    def since(self, skey, ns, rv):
        """History events after rv for a watch, or None when compacted."""
        if rv < self.compacted:
            return None
        return [e for e in self.history if e[0] > rv and e[1] == skey and (ns is None or e[2] == ns)]

    def add_watcher(self, w):
        self.watchers.add(w)

    def remove_watcher(self, w):
        with self.lock:
            self.watchers.discard(w)

    def compact(self):
        """Drop the whole history: older resourceVersions become Gone."""
        with self.lock:
            self.history.clear()
            self.compacted = self.rv

    def pause(self):
        with self.lock:
            self.paused = True

    def resume(self):
        with self.lock:
            self.paused = False
            pending, self.pending = self.pending, []
            for ev in pending:
                for w in list(self.watchers):
                    if w.wants(ev[1], ev[2]):
                        w.q.put(ev)

    def cut_watches(self):
        with self.lock:
            ws = list(self.watchers)
        for w in ws:
            w.q.put(None)
        return len(ws)
