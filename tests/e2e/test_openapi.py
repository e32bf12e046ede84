"""docs/openapi.yaml against the code and the running system.

- The set of (method, path) the services register in C (hc_http_route and
  hc_http_route_as calls in src/*/*_api.c plus the built-in operational routes
  of src/common/hc_http.c) equals the set documented, and each path names the
  service that serves it.
- Each operation's security is the route's access level: public ones declare
  `security: []`, the others the bearer scheme with their 401 (and 403 where
  a role may be refused).
- The spec itself is coherent (refs resolve, path parameters declared, the
  usual error answers documented).
- Live: every documented GET without path parameters answers what the spec
  says (collection name under _embedded, schema of the whole answer), and a
  booked order's /orders/{id}, /paymentHistories/{id} and /mypages/{id} carry
  every property the spec marks required, with the documented types.
"""

import glob
import os
import re

import pytest
import yaml

import hc
from hc import wait_until

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
SERVICE_NAMES = ("order", "payment", "reservation", "notification")


def source_dir():
    return os.environ.get("HC_SOURCE_DIR") or hc.repo_root()


@pytest.fixture(scope="module")
def spec():
    path = os.path.join(source_dir(), "docs", "openapi.yaml")
    assert os.path.exists(path), "docs/openapi.yaml is missing at %s" % path
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict) and isinstance(doc.get("paths"), dict), \
        "docs/openapi.yaml has no paths"
    return doc


# --------------------------------------------------------------------------- C sources

ROUTE_CALL_RE = re.compile(r"\bhc_http_route(?:_as)?\s*\(")
# hc_http_route(h, "METHOD", "/path", ...) or hc_http_route_as(h, HC_ACCESS_X, "METHOD", ...)
ROUTE_PREFIX = r'\bhc_http_route(?:_as)?\s*\(\s*[^,()]+,\s*(?:HC_ACCESS_[A-Z]+\s*,\s*)?'
ROUTE_RE = re.compile(ROUTE_PREFIX + r'"([A-Z*]+)"\s*,\s*"([^"]+)"\s*,')
ACCESS_RE = re.compile(r'\bhc_http_route(_as)?\s*\(\s*[^,()]+,\s*(?:(HC_ACCESS_[A-Z]+)\s*,\s*)?'
                       r'"([A-Z*]+)"\s*,\s*"([^"]+)"\s*,')
BUILTIN_RE = re.compile(r'strcmp\(\s*path\s*,\s*"(/[^"]*)"\s*\)\s*==\s*0')
PROBE_RE = re.compile(r'\{\s*"(/[^"]*)"\s*,\s*HEALTH_[A-Z]+\s*\}')  # hc_http.c's probes[] table
OPERATIONAL = {"/health/live", "/health/ready", "/actuator/health", "/actuator/health/liveness",
               "/actuator/health/readiness", "/metrics"}


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def code_routes():
    """{(METHOD, path): service} registered in the C sources."""
    src = source_dir()
    routes = {}
    files = sorted(glob.glob(os.path.join(src, "src", "*", "*_api.c")))
    assert files, "no src/*/*_api.c under %s" % src
    for fn in files:
        service = os.path.basename(os.path.dirname(fn))
        with open(fn, encoding="utf-8") as f:
            text = strip_c_comments(f.read())
        calls = ROUTE_CALL_RE.findall(text)
        found = ROUTE_RE.findall(text)
        # Every call must be understood: a registration the regex misses would
        # silently escape the comparison.
        assert len(found) == len(calls), (
            "%s: %d hc_http_route calls but only %d parsed as (handle, \"METHOD\", \"/path\", ...); "
            "register routes with literal method and path strings" % (fn, len(calls), len(found)))
        for method, path in found:
            key = (method, path)
            assert key not in routes, "%s %s registered twice (%s and %s)" % (
                method, path, routes[key], service)
            routes[key] = service
    with open(os.path.join(src, "src", "common", "hc_http.c"), encoding="utf-8") as f:
        text = strip_c_comments(f.read())
        builtins = set(BUILTIN_RE.findall(text)) | set(PROBE_RE.findall(text))
    assert OPERATIONAL <= builtins, (
        "hc_http.c no longer dispatches %s itself" % sorted(OPERATIONAL - builtins))
    for path in builtins:
        routes[("GET", path)] = "*"
    return routes


def spec_routes(doc):
    """{(METHOD, path): path item} documented in the spec."""
    out = {}
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                out[(m.upper(), path)] = item
    return out


def fmt(keys):
    return "\n".join("    %-7s %s" % k for k in sorted(keys)) or "    (none)"


def test_documented_routes_equal_registered_routes(spec):
    code = code_routes()
    documented = spec_routes(spec)
    missing = set(code) - set(documented)
    extra = set(documented) - set(code)
    assert not missing and not extra, (
        "docs/openapi.yaml and the C routes differ.\n"
        "  registered in src/ but not documented:\n%s\n"
        "  documented but not registered in src/:\n%s" % (fmt(missing), fmt(extra)))

    wrong = []
    for key, service in sorted(code.items()):
        declared = documented[key].get("x-service")
        if service == "*":
            ok = isinstance(declared, list) and set(declared) == set(SERVICE_NAMES)
            want = "all four services"
        else:
            ok = declared == service
            want = service
        if not ok:
            wrong.append("    %-7s %s: x-service %r, served by %s" % (key[0], key[1], declared, want))
    assert not wrong, "x-service does not name the serving service:\n" + "\n".join(wrong)


ROUTE_QUERY_RE = re.compile(
    ROUTE_PREFIX + r'"([A-Z*]+)"\s*,\s*"([^"]+)"\s*,\s*(NULL|"[^"]*")\s*,')


def test_documented_query_parameters_equal_the_accepted_ones(spec):
    """Each route names the query parameters it accepts (anything else is a
    400): the same set the document lists for the operation."""
    accepted = {}
    for fn in sorted(glob.glob(os.path.join(source_dir(), "src", "*", "*_api.c"))):
        with open(fn, encoding="utf-8") as f:
            for method, path, q in ROUTE_QUERY_RE.findall(strip_c_comments(f.read())):
                accepted[(method, path)] = set(q.strip('"').split(",")) - {""} if q != "NULL" else set()
    assert len(accepted) == len(ROUTE_RE.findall("".join(
        open(fn, encoding="utf-8").read()
        for fn in glob.glob(os.path.join(source_dir(), "src", "*", "*_api.c"))))), \
        "every hc_http_route call must pass its query list as a literal or NULL"
    wrong = []
    for (method, path), names in sorted(accepted.items()):
        documented = {p["name"] for p in op_parameters(spec, path, method.lower()).values()
                      if p.get("in") == "query"}
        if documented != names:
            wrong.append("    %-7s %s: code %s, document %s" % (method, path, sorted(names),
                                                              sorted(documented)))
    assert not wrong, "query parameters differ:\n" + "\n".join(wrong)


def code_access():
    """{(METHOD, path): access level} of the C routes: HC_ACCESS_USER for
    hc_http_route (protected by default), the named level for
    hc_http_route_as; the health probes are public, /metrics service-only."""
    levels = {}
    for fn in sorted(glob.glob(os.path.join(source_dir(), "src", "*", "*_api.c"))):
        with open(fn, encoding="utf-8") as f:
            for _, level, method, path in ACCESS_RE.findall(strip_c_comments(f.read())):
                levels[(method, path)] = level or "HC_ACCESS_USER"
    for path in OPERATIONAL:
        levels[("GET", path)] = "HC_ACCESS_OPS" if path == "/metrics" else "HC_ACCESS_PUBLIC"
    return levels


def test_documented_security_equals_access_levels(spec):
    schemes = spec.get("components", {}).get("securitySchemes", {})
    bearer = [n for n, sc in schemes.items()
              if sc.get("type") == "http" and sc.get("scheme") == "bearer"]
    assert bearer, "components/securitySchemes declares no http bearer scheme"
    default = spec.get("security")
    wrong = []
    documented = spec_routes(spec)
    for (method, path), level in sorted(code_access().items()):
        op = documented[(method, path)][method.lower()]
        security = op.get("security", default)
        codes = {str(c) for c in op.get("responses", {})}
        label = "    %-7s %s (%s)" % (method, path, level)
        if level == "HC_ACCESS_PUBLIC":
            if security != []:
                wrong.append(label + ": public, but security is %r" % (security,))
            continue
        if not security or not any(set(req) & set(bearer) for req in security):
            wrong.append(label + ": protected, but security is %r" % (security,))
        if "401" not in codes:
            wrong.append(label + ": no 401 documented")
        if level == "HC_ACCESS_OPS" and "403" not in codes:
            wrong.append(label + ": no 403 documented")
    assert not wrong, "security differs from the code's access levels:\n" + "\n".join(wrong)


# --------------------------------------------------------------------------- spec helpers


def resolve(doc, node):
    """Follows $ref chains ("#/a/b/c") to the referenced object."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), "only local refs are supported: %s" % ref
        target = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, "unresolvable $ref %s" % ref
            target = target[part]
        node = target
        seen += 1
        assert seen < 50, "$ref cycle at %s" % ref
    return node


def ref_name(node):
    """The component name a {"$ref": ...} points at, else None."""
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return node["$ref"].rsplit("/", 1)[-1]
    return None


def operation(doc, method, path):
    op = doc["paths"][path][method]
    return op


def op_parameters(doc, path, method):
    """The resolved parameters of an operation (path-level ones included)."""
    params = {}
    item = doc["paths"][path]
    for p in list(item.get("parameters", [])) + list(item[method].get("parameters", [])):
        p = resolve(doc, p)
        params[(p["in"], p["name"])] = p
    return params


def response_schema(doc, path, method, status, media="application/json"):
    resp = resolve(doc, doc["paths"][path][method]["responses"][str(status)])
    content = resp.get("content") or {}
    assert media in content, "%s %s %s documents no %s body (has %s)" % (
        method.upper(), path, status, media, sorted(content))
    return content[media]["schema"]


def merged(doc, schema):
    """A schema with $ref resolved and allOf merged (properties, required)."""
    schema = resolve(doc, schema)
    if "allOf" not in schema:
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props, req = dict(out.get("properties", {})), list(out.get("required", []))
    for part in schema["allOf"]:
        part = merged(doc, part)
        props.update(part.get("properties", {}))
        req += [r for r in part.get("required", []) if r not in req]
        for k in ("type", "nullable"):
            if k in part:
                out.setdefault(k, part[k])
    out["properties"], out["required"] = props, req
    return out


def collection_name(doc, schema):
    """The collection name a page schema declares under _embedded, or None."""
    s = merged(doc, schema)
    emb = (s.get("properties") or {}).get("_embedded")
    if emb is None:
        return None
    emb = merged(doc, emb)
    names = list(emb.get("required") or []) or list((emb.get("properties") or {}).keys())
    assert len(names) == 1, "_embedded of a page schema should name one collection: %s" % names
    return names[0]


DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def validate(doc, inst, schema, where="$", errors=None):
    """A small OpenAPI 3.0 schema check (type, nullable, enum, format date and
    date-time, required, properties, additionalProperties, items, allOf).
    Returns the list of problems found."""
    errors = [] if errors is None else errors
    s = merged(doc, schema)
    if inst is None:
        if not s.get("nullable"):
            errors.append("%s: null, but the spec does not mark it nullable" % where)
        return errors
    t = s.get("type")
    if t and not JSON_TYPES[t](inst):
        errors.append("%s: %r is not of type %s" % (where, inst, t))
        return errors
    if "enum" in s and inst not in s["enum"]:
        errors.append("%s: %r is not one of %s" % (where, inst, s["enum"]))
    if isinstance(inst, str):
        if s.get("format") == "date" and not DATE_RE.match(inst):
            errors.append("%s: %r is not a date YYYY-MM-DD" % (where, inst))
        if s.get("format") == "date-time" and not DATETIME_RE.match(inst):
            errors.append("%s: %r is not an RFC 3339 date-time" % (where, inst))
    if isinstance(inst, dict):
        for name in s.get("required", []):
            if name not in inst:
                errors.append("%s: required property %r is missing (has %s)"
                              % (where, name, sorted(inst)))
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        for k, v in inst.items():
            if k in props:
                validate(doc, v, props[k], "%s.%s" % (where, k), errors)
            elif isinstance(extra, dict):
                validate(doc, v, extra, "%s.%s" % (where, k), errors)
    if isinstance(inst, list) and "items" in s:
        for i, v in enumerate(inst):
            validate(doc, v, s["items"], "%s[%d]" % (where, i), errors)
    return errors


def assert_valid(doc, inst, schema, what):
    errors = validate(doc, inst, schema)
    assert not errors, "%s does not match docs/openapi.yaml:\n  %s\nanswer: %s" % (
        what, "\n  ".join(errors[:20]), hc._short(inst, 1500))


def assert_required_present(doc, inst, schema, what):
    s = merged(doc, schema)
    required = s.get("required") or []
    assert required, "%s: the spec marks no property required" % what
    assert isinstance(inst, dict), "%s: not a JSON object: %r" % (what, inst)
    missing = [p for p in required if p not in inst]
    assert not missing, "%s lacks properties the spec marks required: %s\nanswer: %s" % (
        what, missing, hc._short(inst, 1500))


# --------------------------------------------------------------------------- the spec itself


def walk_refs(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append(node["$ref"])
        for v in node.values():
            walk_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, out)
    return out


def test_spec_is_coherent(spec):
    assert spec.get("openapi") == "3.0.3", spec.get("openapi")
    problems = []
    for ref in walk_refs(spec, []):
        try:
            resolve(spec, {"$ref": ref})
        except AssertionError as e:
            problems.append(str(e))

    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("Order", "PaymentHistory", "Reservation", "Cancellation", "Center", "Slot",
                 "Package", "Mypage", "Notification", "Error"):
        if name not in schemas:
            problems.append("components/schemas/%s is missing" % name)
    if "Mypage" in schemas:
        hist = merged(spec, merged(spec, schemas["Mypage"])["properties"]["history"])
        entry = merged(spec, hist.get("items", {}))
        if set(entry.get("required", [])) != {"status", "at"}:
            problems.append("Mypage.history items must require status and at")

    tag_names = {t["name"] for t in spec.get("tags", [])}
    op_ids = {}
    for (method, path), item in spec_routes(spec).items():
        m = method.lower()
        op = item[m]
        label = "%s %s" % (method, path)
        if not op.get("tags") or not set(op["tags"]) <= tag_names:
            problems.append("%s: tags %r not among the declared tags" % (label, op.get("tags")))
        oid = op.get("operationId")
        if not oid or oid in op_ids:
            problems.append("%s: operationId %r missing or also used by %s"
                            % (label, oid, op_ids.get(oid)))
        op_ids[oid] = label
        if "x-service" not in item or "x-port" not in item:
            problems.append("%s: the path names no x-service/x-port" % label)

        params = op_parameters(spec, path, m)
        templ = set(re.findall(r"\{([^}]+)\}", path))
        declared = {name for (where, name) in params if where == "path"}
        if templ != declared:
            problems.append("%s: path parameters %s but declared %s"
                            % (label, sorted(templ), sorted(declared)))
        responses = {str(k) for k in op.get("responses", {})}
        if not any(r.startswith("2") for r in responses):
            problems.append("%s: no success response" % label)
        if "requestBody" in op and not {"400", "413", "415"} <= responses:
            problems.append("%s: has a request body but does not document 400, 413 and 415 (has %s)"
                            % (label, sorted(responses)))
        if templ and "404" not in responses:
            problems.append("%s: has path parameters but documents no 404" % label)
        for code, resp in op.get("responses", {}).items():
            resp = resolve(spec, resp)
            headers = resp.get("headers") or {}
            if str(code) == "201" and "Location" not in headers:
                problems.append("%s: 201 without a Location header" % label)
            if str(code) == "503" and "payment_unavailable" in (resp.get("description") or "") \
                    and "Retry-After" not in headers:
                problems.append("%s: 503 payment_unavailable without Retry-After" % label)
    assert not problems, "docs/openapi.yaml is not coherent:\n  " + "\n  ".join(problems)


def test_spec_documents_the_contract_details(spec):
    """The facts the contract pins appear in the spec (headers, filters, codes)."""
    p = spec["paths"]

    def params(path, method):
        return {name for (_, name) in op_parameters(spec, path, method)}

    assert "Idempotency-Key" in params("/orders", "post")
    assert "Idempotency-Key" in params("/orders/{id}", "delete")
    assert "Idempotency-Key" in params("/orders/{id}", "patch")
    for path, method in (("/orders", "post"), ("/orders/{id}", "get"), ("/mypages", "get")):
        assert "traceparent" in params(path, method), "%s %s: no traceparent" % (method, path)
    filters = {
        "/orders": {"phone", "page", "size"},
        "/paymentHistories": {"orderId", "page", "size"},
        "/reservations": {"orderId", "status", "centerId", "date", "page", "size"},
        "/cancellations": {"orderId", "page", "size"},
        "/mypages": {"phone", "page", "size"},
        "/notifications": {"orderId", "page", "size"},
        "/centers/{id}/slots": {"from", "to"},
        "/mypages/search/findByOrderId": {"orderId"},
    }
    for path, want in filters.items():
        missing = want - params(path, "get")
        assert not missing, "GET %s does not document %s" % (path, sorted(missing))
    codes = {
        ("/orders", "post"): {"201", "400", "402", "413", "415", "503"},
        ("/orders/{id}", "delete"): {"200", "404", "409", "503"},
        ("/paymentHistories", "post"): {"201", "200", "400", "402", "409"},
        ("/reservations/{id}", "patch"): {"200", "400", "404", "409"},
    }
    for (path, method), want in codes.items():
        have = {str(c) for c in p[path][method]["responses"]}
        assert want <= have, "%s %s lacks responses %s" % (method.upper(), path, sorted(want - have))
    errors = set(merged(spec, spec["components"]["schemas"]["Error"])["properties"]["error"]["enum"])
    for code in ("validation_failed", "malformed_json", "payment_declined", "not_found",
                 "method_not_allowed", "invalid_state", "cancel_deadline_passed",
                 "payload_too_large", "unsupported_media_type", "payment_unavailable"):
        assert code in errors, "Error.error does not list %s" % code


# --------------------------------------------------------------------------- live


def book(system, **overrides):
    r = system.gateway.post("/orders", hc.booking(**overrides))
    assert r.status == 201, "booking failed: %r" % (r,)
    return r


def mypage_with(system, oid, status, need_reservation=True):
    def check():
        m = system.gateway.get("/mypages/%d" % oid)
        if m.status != 200 or m.json.get("status") != status:
            return None
        if need_reservation and not m.json.get("reservationId"):
            return None
        return m.json
    return wait_until(check, what="mypage %d %s" % (oid, status))


def is_json(resp):
    return "json" in (resp.headers.get("Content-Type") or "")


def required_query_values(doc, path, method, known):
    """Values for the operation's required query parameters, from `known`."""
    out = {}
    for (where, name), p in op_parameters(doc, path, method).items():
        if where == "query" and p.get("required"):
            assert name in known, ("GET %s has a required query parameter %r the live test "
                                   "cannot fill; teach test_openapi.py a value" % (path, name))
            out[name] = known[name]
    return out


def test_live_get_endpoints_answer_as_documented(system, spec):
    # Fill every collection: one booking that stays REQUESTED, one canceled.
    kept = book(system, phone="010-5555-1111").json
    gone = book(system, phone="010-5555-2222", cardNo=hc.card_number(7)).json
    mypage_with(system, kept["id"], "REQUESTED")
    mypage_with(system, gone["id"], "REQUESTED")
    c = system.gateway.delete("/orders/%d" % gone["id"])
    assert c.status == 200 and c.json["status"] == "CANCELED", c
    wait_until(lambda: system.gateway.items("/cancellations?orderId=%d" % gone["id"],
                                           "cancellations"),
               what="cancellation record of order %d" % gone["id"])
    mypage_with(system, gone["id"], "CANCELED")
    wait_until(lambda: len(system.gateway.items("/notifications?orderId=%d" % gone["id"],
                                                "notifications")) >= 3,
               what="SMS records of order %d" % gone["id"])
    known = {"orderId": kept["id"]}

    checked = []
    for (method, path), item in sorted(spec_routes(spec).items()):
        if method != "GET" or "{" in path:
            continue
        services = item.get("x-service")
        gateway_routed = any(":8080" in s.get("url", "") for s in item.get("servers", []))
        if isinstance(services, list):  # operational: every service, own port
            targets = [(name, system.client(name)) for name in services]
        else:
            targets = [("gateway", system.gateway), (services, system.client(services))]
        query = required_query_values(spec, path, "get", known)
        url = path + ("?" + "&".join("%s=%s" % kv for kv in sorted(query.items())) if query else "")
        documented = {str(code) for code in item["get"]["responses"]}
        for via, client in targets:
            tp, trace_id = hc.traceparent()
            r = client.get(url, headers={"traceparent": tp})
            what = "GET %s via %s" % (url, via)
            assert r.status == 200, "%s -> %r" % (what, r)
            assert tp.split("-")[1] in (r.headers.get("traceparent") or ""), (
                "%s: answer traceparent %r does not carry the trace id sent"
                % (what, r.headers.get("traceparent")))
            content = resolve(spec, item["get"]["responses"]["200"]).get("content") or {}
            if "application/json" not in content:
                media = list(content)
                assert any(m.split(";")[0] in (r.headers.get("Content-Type") or "")
                           for m in media), "%s: Content-Type %r, documented %s" % (
                    what, r.headers.get("Content-Type"), media)
                checked.append(what)
                continue
            assert is_json(r) and r.json is not None, "%s: not JSON: %r" % (what, r)
            schema = response_schema(spec, path, "get", 200)
            name = collection_name(spec, schema)
            if name is not None:
                emb = r.json.get("_embedded")
                assert isinstance(emb, dict) and list(emb) == [name], (
                    "%s: _embedded keys %s, the spec documents %r"
                    % (what, sorted(emb) if isinstance(emb, dict) else emb, name))
                assert emb[name], "%s: the collection %r is empty after filling it" % (what, name)
            else:
                assert_required_present(spec, r.json, schema, what)
            assert_valid(spec, r.json, schema, what)
            checked.append(what)
        if query:  # the documented 400 for the missing required parameter
            r = targets[0][1].get(path)
            assert r.status == 400 and "400" in documented, "GET %s without %s -> %r" % (
                path, sorted(query), r)
            assert_valid(spec, r.json, response_schema(spec, path, "get", 400),
                         "GET %s without %s" % (path, sorted(query)))
        if not gateway_routed:  # the spec says the gateway does not route it
            r = system.gateway.get(path)
            assert r.status == 404, ("GET %s via the gateway -> %r, but the spec lists no gateway "
                                     "server for it" % (path, r))
    assert len(checked) >= 20, checked


def test_booked_order_resources_carry_required_properties(system, spec):
    tp, trace_id = hc.traceparent()
    r = system.gateway.post("/orders", hc.booking(), headers={"traceparent": tp})
    assert r.status == 201, r
    assert r.headers.get("Location", "").endswith("/orders/%d" % r.json["id"]), r.headers
    assert_valid(spec, r.json, response_schema(spec, "/orders", "post", 201), "POST /orders 201")
    oid = r.json["id"]
    mypage_with(system, oid, "REQUESTED")

    order = system.gateway.get("/orders/%d" % oid)
    assert order.status == 200, order
    pid = order.json.get("paymentId")
    assert pid, "order %d has no paymentId: %r" % (oid, order)

    cases = (
        ("/orders/{id}", "/orders/%d" % oid, "Order"),
        ("/paymentHistories/{id}", "/paymentHistories/%d" % pid, "PaymentHistory"),
        ("/mypages/{id}", "/mypages/%d" % oid, "Mypage"),
    )
    for templ, url, schema_name in cases:
        schema = response_schema(spec, templ, "get", 200)
        assert ref_name(schema) == schema_name, "GET %s documents %r, expected %s" % (
            templ, schema, schema_name)
        resp = system.gateway.get(url, headers={"traceparent": tp})
        assert resp.status == 200 and is_json(resp), "GET %s -> %r" % (url, resp)
        assert trace_id in (resp.headers.get("traceparent") or ""), resp.headers
        assert_required_present(spec, resp.json, schema, "GET %s" % url)
        assert_valid(spec, resp.json, schema, "GET %s" % url)

    mypage = system.gateway.get("/mypages/%d" % oid).json
    assert mypage["id"] == oid and mypage["orderId"] == oid, mypage
    assert [h["status"] for h in mypage["history"]] == ["PAID", "REQUESTED"], mypage["history"]
    payment = system.gateway.get("/paymentHistories/%d" % pid).json
    assert payment["orderId"] == oid and payment["status"] == "APPROVED", payment
    assert payment["amount"] == order.json["amount"], (payment, order.json)
