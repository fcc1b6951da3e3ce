"""A small Elasticsearch stand-in on 127.0.0.1 for tests: the REST endpoints the search backend
uses (index create/exists/delete, aliases, _bulk, _refresh, _search, _delete_by_query), answering
with the `X-Elastic-Product` header and the JSON shapes of the documented API.

Queries are evaluated simply: text clauses are case-insensitive substring matches over the named
fields (`fuzziness` allows two edits per word), filters are exact. Every request is recorded so
tests can assert what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _edits(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _swapped(a, b):
    return len(a) == len(b) and any(
        a[:i] + a[i + 1] + a[i] + a[i + 2 :] == b for i in range(len(a) - 1)
    )


def _words(text):
    return re.findall(r"[^\W_]+", str(text or "").lower())


def _value(doc, field):
    base = field.split("^")[0].split(".")[0]
    return doc.get(base)


def _compare(value, bound):
    if value is None:
        return None
    try:
        return float(value) - float(bound)
    except (TypeError, ValueError):
        left = datetime.fromisoformat(str(value))
        right = datetime.fromisoformat(str(bound))
        return (left - right).total_seconds()


class FakeElasticsearch:
    """State and query evaluation; `requests` lists (method, path, params, body)."""

    def __init__(self):
        self.indices = {}  # name -> {"settings", "mappings", "docs": {id: source}}
        self.aliases = {}  # alias -> set of index names
        self.requests = []
        self.lock = threading.Lock()

    # --- helpers ---

    def resolve(self, name):
        if name in self.aliases:
            return sorted(self.aliases[name])
        return [name] if name in self.indices else []

    def docs(self, name):
        for index in self.resolve(name):
            yield from self.indices[index]["docs"].items()

    def matches(self, query, doc):
        return self.score(query, doc) is not None

    def score(self, query, doc):
        """None when the doc does not match, else a relevance score."""
        ((kind, spec),) = query.items()
        if kind == "match_all":
            return 1.0
        if kind == "bool":
            total = 0.0
            must = spec.get("must", [])
            for clause in must if isinstance(must, list) else [must]:
                s = self.score(clause, doc)
                if s is None:
                    return None
                total += s
            filters = spec.get("filter", [])
            for clause in filters if isinstance(filters, list) else [filters]:
                if self.score(clause, doc) is None:
                    return None
            must_not = spec.get("must_not", [])
            for clause in must_not if isinstance(must_not, list) else [must_not]:
                if self.score(clause, doc) is not None:
                    return None
            should = spec.get("should", [])
            scores = [s for s in (self.score(c, doc) for c in should) if s is not None]
            default = 1 if should and not ("must" in spec or filters) else 0
            minimum = spec.get("minimum_should_match", default)
            if len(scores) < int(minimum):
                return None
            return total + sum(scores)
        if kind == "term":
            ((field, value),) = spec.items()
            boost = 1.0
            if isinstance(value, dict):
                boost = value.get("boost", 1.0)
                value = value["value"]
            actual = _value(doc, field)
            if field.endswith(".sort") or field == "sku":
                actual = str(actual or "").lower()
                value = str(value).lower()
            return boost if actual == value else None
        if kind == "terms":
            ((field, values),) = spec.items()
            return 1.0 if _value(doc, field) in values else None
        if kind == "exists":
            return 1.0 if _value(doc, spec["field"]) is not None else None
        if kind == "range":
            ((field, bounds),) = spec.items()
            actual = _value(doc, field)
            for op, bound in bounds.items():
                difference = _compare(actual, bound)
                if difference is None:
                    return None
                ok = {
                    "gt": difference > 0,
                    "gte": difference >= 0,
                    "lt": difference < 0,
                    "lte": difference <= 0,
                }[op]
                if not ok:
                    return None
            return 1.0
        if kind in ("match", "multi_match"):
            if kind == "match":
                ((field, options),) = spec.items()
                fields, text = [field], options["query"] if isinstance(options, dict) else options
                options = options if isinstance(options, dict) else {}
            else:
                fields, text, options = spec["fields"], spec["query"], spec
            fuzzy = options.get("fuzziness") is not None
            best = None
            for field in fields:
                haystack = _words(_value(doc, field))
                weight = float(field.split("^")[1]) if "^" in field else 1.0
                ok = all(
                    any(
                        term in word
                        or (fuzzy and (_edits(term, word) <= 2 or _swapped(term, word)))
                        for word in haystack
                    )
                    for term in _words(text)
                ) and bool(_words(text))
                if ok:
                    best = max(best or 0.0, weight)
            return None if best is None else best * float(options.get("boost", 1.0))
        raise ValueError(f"fake Elasticsearch: unsupported query {kind}")

    def sort_key(self, sort, doc_id, doc, score):
        key = []
        for item in sort:
            field, order = (item, "desc") if isinstance(item, str) else next(iter(item.items()))
            if field == "_score":
                value = score
            else:
                value = _value(doc, field)
                if field.endswith(".sort"):
                    value = str(value or "").lower()
                elif field == "id":
                    value = doc_id
                else:
                    try:
                        value = float(value)
                    except (TypeError, ValueError):
                        value = str(value or "")
            if isinstance(value, str):
                # Invert strings for descending order by sorting on negated code points.
                key.append(tuple(-ord(c) for c in value) if order == "desc" else value)
            else:
                key.append(-value if order == "desc" else value)
        return key

    def aggregate(self, aggs, hits):
        result = {}
        for name, spec in aggs.items():
            if "terms" in spec:
                counts = {}
                for doc in hits:
                    key = _value(doc, spec["terms"]["field"])
                    if key is not None:
                        counts[key] = counts.get(key, 0) + 1
                buckets = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                result[name] = {
                    "doc_count_error_upper_bound": 0,
                    "sum_other_doc_count": 0,
                    "buckets": [{"key": k, "doc_count": n} for k, n in buckets],
                }
            elif "range" in spec:
                field = spec["range"]["field"]
                buckets = []
                for r in spec["range"]["ranges"]:
                    count = 0
                    for doc in hits:
                        value = float(_value(doc, field))
                        if ("from" not in r or value >= r["from"]) and (
                            "to" not in r or value < r["to"]
                        ):
                            count += 1
                    bucket = {"key": r.get("key"), "doc_count": count}
                    bucket.update({k: r[k] for k in ("from", "to") if k in r})
                    buckets.append(bucket)
                result[name] = {"buckets": buckets}
        return result

    # --- endpoints ---

    def handle(self, method, path, params, body):
        parts = [p for p in path.split("/") if p]
        if method == "HEAD" and len(parts) == 2 and parts[0] == "_alias":
            return (200, None) if parts[1] in self.aliases else (404, None)
        if method == "GET" and len(parts) == 2 and parts[0] == "_alias":
            if parts[1] not in self.aliases:
                return 404, self.error(404, "aliases_not_found_exception", parts[1])
            return 200, {i: {"aliases": {parts[1]: {}}} for i in self.aliases[parts[1]]}
        if method == "POST" and parts == ["_aliases"]:
            for action in body["actions"]:
                ((kind, spec),) = action.items()
                members = self.aliases.setdefault(spec["alias"], set())
                if kind == "add":
                    members.add(spec["index"])
                else:
                    members.discard(spec["index"])
            return 200, {"acknowledged": True}
        if method in ("PUT", "POST") and parts == ["_bulk"]:
            return 200, self.bulk(body)
        if method == "PUT" and len(parts) == 1:
            name = parts[0]
            if name in self.indices:
                return 400, self.error(400, "resource_already_exists_exception", name)
            self.indices[name] = {
                "settings": body.get("settings"),
                "mappings": body.get("mappings"),
                "docs": {},
            }
            for alias in body.get("aliases") or {}:
                self.aliases.setdefault(alias, set()).add(name)
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        if method == "DELETE" and len(parts) == 1:
            for name in parts[0].split(","):
                self.indices.pop(name, None)
                for members in self.aliases.values():
                    members.discard(name)
            return 200, {"acknowledged": True}
        if len(parts) == 2 and parts[1] == "_refresh":
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if method == "POST" and len(parts) == 2 and parts[1] == "_search":
            return self.search(parts[0], body)
        if method == "POST" and len(parts) == 2 and parts[1] == "_delete_by_query":
            removed = 0
            for index in self.resolve(parts[0]):
                docs = self.indices[index]["docs"]
                for doc_id in [i for i, d in docs.items() if self.matches(body["query"], d)]:
                    del docs[doc_id]
                    removed += 1
            return 200, {
                "took": 1,
                "timed_out": False,
                "total": removed,
                "deleted": removed,
                "failures": [],
            }
        return 404, self.error(404, "unsupported_by_fake", f"{method} {path}")

    def bulk(self, lines):
        items = []
        pending = iter(lines)
        for action in pending:
            ((op, meta),) = action.items()
            targets = self.resolve(meta["_index"])
            index = targets[-1] if targets else None
            if op == "delete":
                docs = self.indices[index]["docs"] if index else {}
                found = docs.pop(meta["_id"], None) is not None
                items.append(
                    {
                        "delete": {
                            "_index": index,
                            "_id": meta["_id"],
                            "status": 200 if found else 404,
                            "result": "deleted" if found else "not_found",
                        }
                    }
                )
                continue
            source = next(pending)
            if index is None:
                self.indices[meta["_index"]] = {"settings": None, "mappings": None, "docs": {}}
                index = meta["_index"]
            docs = self.indices[index]["docs"]
            created = meta["_id"] not in docs
            docs[meta["_id"]] = source
            items.append(
                {
                    op: {
                        "_index": index,
                        "_id": meta["_id"],
                        "status": 201 if created else 200,
                        "result": "created" if created else "updated",
                    }
                }
            )
        errors = any(item[next(iter(item))]["status"] >= 300 for item in items)
        return {"took": 1, "errors": errors, "items": items}

    def search(self, name, body):
        if not self.resolve(name):
            return 404, self.error(404, "index_not_found_exception", name)
        hits = []
        for doc_id, doc in self.docs(name):
            score = self.score(body.get("query", {"match_all": {}}), doc)
            if score is not None:
                hits.append((doc_id, doc, score))
        sort = body.get("sort", ["_score"])
        hits.sort(key=lambda h: self.sort_key(sort, h[0], h[1], h[2]))
        start, size = body.get("from", 0), body.get("size", 10)
        page = hits[start : start + size]
        return 200, {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(hits), "relation": "eq"},
                "max_score": max((h[2] for h in hits), default=None),
                "hits": [
                    {"_index": name, "_id": doc_id, "_score": score} for doc_id, _doc, score in page
                ],
            },
            "aggregations": self.aggregate(body.get("aggs", {}), [h[1] for h in hits]),
        }

    @staticmethod
    def error(status, kind, reason):
        return {
            "error": {
                "type": kind,
                "reason": reason,
                "root_cause": [{"type": kind, "reason": reason}],
            },
            "status": status,
        }


def serve(fake):
    """Start an HTTP server for `fake` on a free loopback port; returns (server, url)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, method):
            parsed = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if "ndjson" in (self.headers.get("Content-Type") or ""):
                body = [json.loads(line) for line in raw.splitlines() if line.strip()]
            else:
                body = json.loads(raw) if raw else {}
            params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            with fake.lock:
                fake.requests.append((method, parsed.path, params, body))
                status, answer = fake.handle(method, parsed.path, params, body)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)

        def do_GET(self):
            self._answer("GET")

        def do_HEAD(self):
            self._answer("HEAD")

        def do_PUT(self):
            self._answer("PUT")

        def do_POST(self):
            self._answer("POST")

        def do_DELETE(self):
            self._answer("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
