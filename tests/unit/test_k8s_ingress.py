"""The Ingress exposes exactly what must be public: the dashboard's page, API and static files,
and the notifier's acknowledgement links and provider webhook; nothing else of any service (the
notifier's directive API, /metrics, health, docs). The ingress controller reaches only those two
Services, the hosts are each overlay's own, and acknowledgement links point at the public host.

Routes are read from the services' source (not imported: importing an app wires its adapters),
and matched as the Ingress API defines paths: Exact, or Prefix by whole path elements, the
longest match winning."""

import copy
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.unit.test_k8s_manifests import (
    OVERLAYS,
    ROOT,
    SIMULATOR,
    check,
    environment,
    of_kind,
    selects,
)

SERVICES = ROOT / "services"
# What shared.http.create_app and FastAPI add to every app, on the same port as its routes.
PLATFORM_ROUTES = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
}


@pytest.fixture(scope="module", params=OVERLAYS, ids=lambda p: p.name)
def objects(request) -> list[dict]:
    return check.render(request.param)


def the_ingress(objects) -> dict:
    ingresses = list(of_kind(objects, "Ingress").values())
    assert len(ingresses) == 1, "one Ingress: the public surface in one place"
    return ingresses[0]


def _elements(path: str) -> list[str]:
    return [e for e in path.split("/") if e]


def backend_for(ingress: dict, host: str, url: str) -> str | None:
    """The Service a request for host+url reaches through the Ingress, or None (404 at the edge)."""
    candidates = []
    for rule in ingress["spec"]["rules"]:
        if rule.get("host") != host:
            continue
        for path in rule["http"]["paths"]:
            kind, wanted = path["pathType"], path["path"]
            if kind == "Exact" and url == wanted:
                candidates.append((2, len(wanted), path))
            elif kind == "Prefix" and _elements(url)[: len(_elements(wanted))] == _elements(wanted):
                candidates.append((1, len(wanted), path))
            elif kind not in ("Exact", "Prefix"):
                pytest.fail(f"{kind} paths match as the controller pleases: use Exact or Prefix")
    if not candidates:
        return None
    # The API's precedence: the longest matching path, and Exact over Prefix at equal length.
    best = max(candidates, key=lambda c: (c[1], c[0]))
    return best[2]["backend"]["service"]["name"]


def routes(module: Path) -> list[str]:
    """The paths a FastAPI module serves, per router function: its prefix plus each decorator's
    path; path parameters as a sample value; mounted folders with a sample file."""
    source = module.read_text(encoding="utf-8")
    found = []
    for block in re.split(r"\n(?=def |router = |app = )", source):
        prefix = re.search(r'APIRouter\([^)]*prefix="([^"]*)"', block)
        for path in re.findall(r'@router\.(?:get|post|put|patch|delete)\(\s*"([^"]*)"', block):
            found.append((prefix.group(1) if prefix else "") + path)
        found += [f"{mount}/file.js" for mount in re.findall(r'app\.mount\("([^"]+)"', block)]
    assert found, f"no routes read from {module}"
    return [re.sub(r"\{[^}]+\}", "x0", r) or "/" for r in found]


def notifier_routes() -> tuple[set[str], set[str]]:
    """(public, internal) routes of the notifier's API: public are those of its receipts router."""
    source = (SERVICES / "notifier" / "notifier" / "api.py").read_text(encoding="utf-8")
    receipts = source[source.index("def receipts_router") :]
    receipts = receipts[: receipts.index("\ndef ", 1)]
    public = {
        re.sub(r"\{[^}]+\}", "x0", p) for p in re.findall(r'@router\.\w+\(\s*"([^"]*)"', receipts)
    }
    every = set(routes(SERVICES / "notifier" / "notifier" / "api.py"))
    assert public and public < every
    return public, every - public | PLATFORM_ROUTES


def hosts_of(ingress: dict) -> dict[str, str]:
    """Service -> the one host whose rules route to it."""
    by_service = {}
    for rule in ingress["spec"]["rules"]:
        for service in {p["backend"]["service"]["name"] for p in rule["http"]["paths"]}:
            assert service not in by_service, f"{service} on two hosts"
            by_service[service] = rule["host"]
    return by_service


def backend_deployments(objects) -> set[str]:
    """The Deployments whose pods the Ingress's Services select."""
    services = of_kind(objects, "Service")
    named = {
        p["backend"]["service"]["name"]
        for r in the_ingress(objects)["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    return {
        n
        for n, d in of_kind(objects, "Deployment").items()
        for s in named
        if selects(
            {"matchLabels": services[s]["spec"]["selector"]},
            d["spec"]["template"]["metadata"]["labels"],
        )
    }


# ---------------------------------------------------------------- what is routed


def test_the_check_validates_the_ingress_against_kubernetes_own_schema(objects):
    ingress = the_ingress(objects)
    assert check.errors(ingress) == []
    wrong = copy.deepcopy(ingress)
    wrong["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "serviceName": "dashboard",
        "servicePort": 80,
    }
    assert check.errors(wrong) != [], "the v1beta1 backend shape, gone since Kubernetes 1.22"


def test_the_ingress_routes_only_to_the_dashboard_the_notifiers_api_and_the_answer_pages(objects):
    ingress = the_ingress(objects)
    assert "defaultBackend" not in ingress["spec"], (
        "no catch-all: an unknown host or path is the edge's 404"
    )
    backends = [p["backend"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert {b["service"]["name"] for b in backends} == {"dashboard", "notifier", "reports"}
    services = of_kind(objects, "Service")
    for backend in backends:
        ports = services[backend["service"]["name"]]["spec"]["ports"]
        assert backend["service"]["port"] in (
            {"name": "http"},
            *({"number": p["port"]} for p in ports if p["name"] == "http"),
        )
    assert backend_deployments(objects) == {"dashboard", "notifier", "reports"}, (
        "not the channel workers"
    )


def test_every_dashboard_route_is_public_and_its_metrics_health_and_docs_are_not(objects):
    ingress = the_ingress(objects)
    host = hosts_of(ingress)["dashboard"]
    page = routes(SERVICES / "dashboard" / "dashboard" / "api.py")
    assert (
        "/" in page and any(r.startswith("/api/live/") for r in page) and "/static/file.js" in page
    )
    assert {r: backend_for(ingress, host, r) for r in page} == {r: "dashboard" for r in page}
    assert {r: backend_for(ingress, host, r) for r in PLATFORM_ROUTES} == {
        r: None for r in PLATFORM_ROUTES
    }


def test_the_notifier_is_reachable_only_at_its_acknowledgement_links_and_webhook(objects):
    ingress = the_ingress(objects)
    host = hosts_of(ingress)["notifier"]
    public, internal = notifier_routes()
    assert public == {"/a/x0", "/v1/webhooks/provider"}
    assert {r: backend_for(ingress, host, r) for r in public} == {r: "notifier" for r in public}
    assert {r: backend_for(ingress, host, r) for r in internal} == {r: None for r in internal}
    # Near misses stay out: element-wise prefixes, an exact webhook path.
    for near in ("/ab", "/v1/webhooks/provider/x", "/v1/webhooks", "/v1/directives"):
        assert backend_for(ingress, host, near) is None, near


def test_the_reports_service_is_reachable_only_at_its_answer_pages(objects):
    ingress = the_ingress(objects)
    host = hosts_of(ingress)["reports"]
    assert host == hosts_of(ingress)["notifier"], "answer links share the links host"
    assert backend_for(ingress, host, "/r/some-token") == "reports"
    for private in ("/v1/forms", "/v1/dispatches/x/submissions", "/rx", *PLATFORM_ROUTES):
        assert backend_for(ingress, host, private) is None, private


def test_the_matcher_follows_the_ingress_path_rules():
    """The helper the tests above trust, on the API documentation's own examples."""

    def ingress(*paths):
        return {
            "spec": {
                "rules": [
                    {
                        "host": "h",
                        "http": {
                            "paths": [
                                {"path": p, "pathType": t, "backend": {"service": {"name": n}}}
                                for p, t, n in paths
                            ]
                        },
                    }
                ]
            }
        }

    prefix = ingress(("/foo/bar", "Prefix", "s"))
    assert [
        backend_for(prefix, "h", u)
        for u in ("/foo/bar", "/foo/bar/", "/foo/bar/baz", "/foo/barbaz", "/foo")
    ] == ["s", "s", "s", None, None]
    assert backend_for(ingress(("/", "Prefix", "s")), "h", "/anything") == "s"
    assert backend_for(ingress(("/", "Exact", "s")), "h", "/anything") is None
    both = ingress(("/a", "Prefix", "p"), ("/a/b", "Prefix", "longer"), ("/a", "Exact", "exact"))
    assert [backend_for(both, "h", u) for u in ("/a", "/a/b/c", "/a/c")] == ["exact", "longer", "p"]
    assert backend_for(prefix, "other-host", "/foo/bar") is None


# ---------------------------------------------------------------- hosts, TLS, the links' URL


def test_each_overlay_names_its_own_hosts_class_and_certificate(objects):
    ingress = the_ingress(objects)
    hosts = [r["host"] for r in ingress["spec"]["rules"]]
    assert len(set(hosts)) == len(hosts) == 2
    assert not [h for h in hosts if h.endswith(".invalid")], "the base's placeholders are replaced"
    assert ingress["spec"].get("ingressClassName"), "the overlay names the controller"
    assert [sorted(t["hosts"]) for t in ingress["spec"]["tls"]] == [sorted(hosts)], (
        "every host on TLS"
    )
    assert all(t.get("secretName") for t in ingress["spec"]["tls"])


def test_acknowledgement_links_point_at_the_notifiers_public_host_over_https(objects):
    ingress = the_ingress(objects)
    host = hosts_of(ingress)["notifier"]
    for name in ("notifier", "notifier-workers"):  # the workers build the links they send
        url = urlsplit(
            environment(of_kind(objects, "Deployment")[name], objects)["NOTIFIER_PUBLIC_URL"]
        )
        assert (url.scheme, url.hostname, url.port, url.path.rstrip("/")) == (
            "https",
            host,
            None,
            "",
        ), name
        assert backend_for(ingress, host, "/a/some-token") == "notifier"


def test_production_certificates_are_issued_by_cert_manager():
    ingress = the_ingress(check.render(check.OVERLAYS / "prod"))
    issuers = {
        k: v
        for k, v in ingress["metadata"].get("annotations", {}).items()
        if k in ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
    }
    assert len(issuers) == 1 and all(issuers.values())


def test_the_services_behind_the_ingress_trust_its_forwarded_scheme(objects):
    """TLS ends at the controller: without X-Forwarded-Proto the app thinks it is on http."""
    for name in backend_deployments(objects):
        command = of_kind(objects, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0][
            "command"
        ]
        assert "--proxy-headers" in command and "--forwarded-allow-ips" in command, name


# ---------------------------------------------------------------- who may reach the pods


def _peer(peer: dict) -> str:
    return json.dumps(peer, sort_keys=True)


def opened_from_outside(objects) -> dict[str, dict[str, set]]:
    """Deployment -> {peer from another namespace -> ports it may reach}, from the ingress rules."""
    policies = [
        p
        for p in of_kind(objects, "NetworkPolicy").values()
        if "Ingress" in p["spec"]["policyTypes"] and p["spec"]["podSelector"]
    ]
    reached: dict[str, dict[str, set]] = {}
    for name, deployment in of_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        reached[name] = {}
        for policy in policies:
            if not selects(policy["spec"]["podSelector"], labels):
                continue
            for rule in policy["spec"].get("ingress", []):
                assert rule.get("from"), (
                    f"{policy['metadata']['name']}: a rule open to every namespace"
                )
                ports = {p["port"] for p in rule.get("ports", [{"port": "any"}])}
                for peer in rule["from"]:
                    assert "ipBlock" not in peer, policy["metadata"]["name"]
                    if "namespaceSelector" in peer:
                        reached[name].setdefault(_peer(peer), set()).update(ports)
    return reached


def test_only_prometheus_and_the_ingress_controller_come_from_other_namespaces(objects):
    policies = of_kind(objects, "NetworkPolicy")
    prometheus = [
        _peer(p)
        for r in policies["sangathan-http"]["spec"]["ingress"]
        for p in r["from"]
        if "namespaceSelector" in p
    ]
    controller = [
        _peer(p) for r in policies["ingress-controller"]["spec"]["ingress"] for p in r["from"]
    ]
    assert len(prometheus) == len(controller) == 1 and prometheus != controller
    assert all("namespaceSelector" in json.loads(p) for p in controller)
    reached = opened_from_outside(objects)
    platform = {n for n in reached if n != SIMULATOR}
    for name in platform:
        assert reached[name].get(prometheus[0]) == {"http"}, f"Prometheus scrapes {name}"
    assert {n for n, peers in reached.items() if controller[0] in peers} == backend_deployments(
        objects
    )
    assert all(
        peers[controller[0]] == {"http"} for peers in reached.values() if controller[0] in peers
    )
    assert {p for peers in reached.values() for p in peers} == {prometheus[0], controller[0]}


def test_the_controllers_namespace_is_named_by_its_label():
    """kubernetes.io/metadata.name is set by the API server on every namespace: always present."""
    policies = of_kind(check.render(check.OVERLAYS / "prod"), "NetworkPolicy")
    for name in ("sangathan-http", "ingress-controller"):
        selectors = [
            p["namespaceSelector"]
            for r in policies[name]["spec"]["ingress"]
            for p in r["from"]
            if "namespaceSelector" in p
        ]
        assert selectors and all(
            set(s) == {"matchLabels"} and set(s["matchLabels"]) == {"kubernetes.io/metadata.name"}
            for s in selectors
        ), name
