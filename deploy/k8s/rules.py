"""What the rendered manifests must promise beyond their schemas, read against the code.

check.py runs every rule on every overlay; tests/unit/test_k8s_hardening.py shows each one
failing on a manifest that breaks it. Each rule takes the rendered objects and returns what is
wrong, in words, so `make k8s-check` says it and a test can assert on it:

- MongoDB: one user per service, its role naming exactly the collections its code uses;
- Redis: an ACL user per service limited to its code's key prefix, the default user off;
- egress: denied by default, each pod allowed DNS and exactly what it uses;
- Kafka: authenticated listeners, a KafkaUser per client whose ACLs name registry topics;
- TLS (prod): every server presents a certificate and every client asks for TLS;
- images: third-party images by digest everywhere; with `release`, ours too.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MONGO_POD = {"app": "sangathan-mongodb-svc"}  # the MongoDB operator's label on the members
KAFKA_BROKER_POD = {
    "strimzi.io/cluster": "sangathan",
    "strimzi.io/kind": "Kafka",
    "strimzi.io/broker-role": "true",
}
DNS_POD = {"k8s-app": "kube-dns"}
KUBE_SYSTEM = {"kubernetes.io/metadata.name": "kube-system"}


# ---------------------------------------------------------------- reading the objects


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) applied to `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, key = labels.get(expr["key"]), expr["key"]
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and key not in labels:
            return False
        if expr["operator"] == "DoesNotExist" and key in labels:
            return False
    return True


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"]["labels"]


def container(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]["containers"][0]


def package_of(deployment: dict) -> str:
    """The Python package a Deployment runs: `appointments` for uvicorn appointments.api:app."""
    command = container(deployment)["command"]
    target = command[command.index("uvicorn") + 1] if "uvicorn" in command else command[2]
    return target.split(":")[0].split(".")[0]


def environment(workload: dict, objects: list[dict]) -> dict[str, str]:
    """What the container is given: its ConfigMaps' keys, then its env (a Secret's as a marker)."""
    config_maps = of_kind(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container(workload).get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    for var in container(workload).get("env", []):
        env[var["name"]] = var.get("value", "<from a Secret>")
    return env


def secret_ref(workload: dict, variable: str) -> dict | None:
    for var in container(workload).get("env", []):
        if var["name"] == variable:
            return var.get("valueFrom", {}).get("secretKeyRef")
    return None


def services_of_code(objects: list[dict]) -> dict[str, dict]:
    """The Deployments running platform code (the dev simulator is not a datastore client)."""
    return {n: d for n, d in of_kind(objects, "Deployment").items() if package_of(d) != "simulator"}


# ---------------------------------------------------------------- MongoDB


def _package_files(package: str) -> list[Path]:
    return sorted((ROOT / "services" / package / package).rglob("*.py"))


ORG_TREE_FILE = ROOT / "shared" / "orgtree" / "repository.py"
ORG_TREE_LOADER = "orgtree"  # the user `python -m shared.orgtree.load` runs as


def _collections_in(path: Path, prefixes: dict[str, str]) -> set[str]:
    """Collection names a module uses on a `db`: db.name, db["name"], db[f"{prefix}name"], and
    those a store names in its `COLLECTIONS = ("name", ...)` (one store class over several)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["COLLECTIONS"]
            and isinstance(node.value, ast.Tuple)
        ):
            found |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "db"
        ):
            found.add(node.attr)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "db"
        ):
            part = node.slice
            if isinstance(part, ast.Constant):
                found.add(part.value)
            elif isinstance(part, ast.JoinedStr):
                found.add(
                    "".join(
                        prefixes[v.value.id] if isinstance(v, ast.FormattedValue) else v.value
                        for v in part.values
                    )
                )
    return found


def _collection_prefixes(package: str) -> dict[str, str]:
    """A service's configurable collection prefix (the notifier's), at its default."""
    settings = _settings_class(package)
    field = settings.model_fields.get("collection_prefix") if settings else None
    return {"prefix": field.default} if field else {}


def org_tree_collections() -> set[str]:
    return _collections_in(ORG_TREE_FILE, {})


def mongo_collections(package: str) -> tuple[set[str], set[str]]:
    """(collections the service owns, collections it only reads: the org tree), from its code."""
    if package == ORG_TREE_LOADER:
        return org_tree_collections(), set()
    files = _package_files(package)
    owned = set().union(*(_collections_in(f, _collection_prefixes(package)) for f in files))
    reads = (
        org_tree_collections()
        if any("OrgRegistry(" in f.read_text(encoding="utf-8") for f in files)
        else set()
    )
    return owned, reads


def _granted(role: dict, db: str) -> tuple[dict[str, set[str]], list[str]]:
    """collection -> actions a custom role grants, and what it grants beyond single collections."""
    grants, wider = {}, []
    for privilege in role.get("privileges", []):
        resource = privilege["resource"]
        if (
            resource.get("db") != db
            or not resource.get("collection")
            or set(resource) - {"db", "collection"}
        ):
            wider.append(f"role {role['role']} grants on {resource}, not one collection of {db}")
            continue
        grants.setdefault(resource["collection"], set()).update(privilege["actions"])
    if role.get("roles"):
        wider.append(f"role {role['role']} inherits {role['roles']}")
    return grants, wider


def mongodb_problems(objects: list[dict]) -> list[str]:
    problems = []
    platform = next(
        o for n, o in of_kind(objects, "ConfigMap").items() if n.startswith("sangathan-platform")
    )
    db = platform["data"]["MONGO_DB"]
    for resource in of_kind(objects, "MongoDBCommunity").values():
        roles = {r["role"]: r for r in resource["spec"].get("security", {}).get("roles", [])}
        users = {u["connectionStringSecretName"]: u for u in resource["spec"]["users"]}
        used = {}
        for name, deployment in services_of_code(objects).items():
            ref = secret_ref(deployment, "MONGO_URL")
            if ref is None:
                continue
            user = users.get(ref["name"])
            if user is None or ref["key"] != "connectionString.standard":
                problems.append(f"{name}: MONGO_URL is not a connection string the operator writes")
                continue
            used.setdefault(user["name"], set()).add(package_of(deployment))
        for user in users.values():
            packages = used.get(
                user["name"], {ORG_TREE_LOADER} if user["name"] == ORG_TREE_LOADER else set()
            )
            if len(packages) != 1:
                problems.append(
                    f"MongoDB user {user['name']} is used by {sorted(packages) or 'no service'}"
                )
                continue
            problems += _user_problems(user, roles, db, packages.pop())
    return problems


OWNING_ACTIONS = {
    "find",
    "insert",
    "update",
    "remove",
    "createCollection",
    "createIndex",
    "listIndexes",
}


def _user_problems(user: dict, roles: dict[str, dict], db: str, package: str) -> list[str]:
    problems, grants = [], {}
    for role in user["roles"]:
        if role["db"] != "admin" or role["name"] not in roles:
            problems.append(
                f"MongoDB user {user['name']} has the built-in role {role['name']}: "
                "not one of its own"
            )
            continue
        granted, wider = _granted(roles[role["name"]], db)
        problems += wider
        for collection, actions in granted.items():
            grants.setdefault(collection, set()).update(actions)
    owned, reads = mongo_collections(package)
    if set(grants) != owned | reads:
        problems.append(
            f"MongoDB user {user['name']}: granted {sorted(set(grants) - owned - reads)} beyond, "
            f"missing {sorted((owned | reads) - set(grants))} of what {package}'s code uses"
        )
    problems += [
        f"MongoDB user {user['name']} may change {c}, which {package} only reads"
        for c in reads
        if grants.get(c, set()) - {"find"}
    ]
    problems += [
        f"MongoDB user {user['name']} lacks {sorted(OWNING_ACTIONS - grants[c])} on its own {c}"
        for c in owned
        if c in grants and OWNING_ACTIONS - grants[c]
    ]
    return problems


# ---------------------------------------------------------------- Redis


def _settings_class(package: str):
    module = __import__(f"{package}.settings", fromlist=["*"])
    classes = [
        c
        for c in vars(module).values()
        if inspect.isclass(c)
        and c.__module__ == module.__name__
        and c.__name__.endswith("Settings")
    ]
    return classes[0] if classes else None


def redis_prefixes() -> dict[str, str]:
    """Each service's Redis key prefix, from its code: the settings' default or the adapter's."""
    from appointments.adapters.limits import AppointmentLimits
    from dashboard.adapters import sessions
    from notifier.settings import NotifierSettings
    from otp.settings import OtpSettings

    return {
        "appointments": inspect.signature(AppointmentLimits).parameters["prefix"].default,
        "notifier": NotifierSettings.model_fields["redis_prefix"].default,
        "otp": OtpSettings.model_fields["redis_prefix"].default,
        "dashboard": sessions.PREFIX,
    }


def parse_acl(text: str) -> dict[str, list[str]]:
    """`user NAME rule...` lines (comments and blank lines aside, `\\` continuing a line), as the
    Redis pod's init container reads them: name -> its rules."""
    users = {}
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, name, *rules = line.split()
            if word != "user":
                raise ValueError(f"not an ACL user line: {line!r}")
            users[name] = rules
    return users


def key_patterns(rules: list[str]) -> list[str]:
    """The key globs a user may touch (~glob, %RW~glob; allkeys is ~*)."""
    patterns = [r.split("~", 1)[1] for r in rules if r.startswith("~") or re.match(r"%[RW]+~", r)]
    return patterns + ["*"] * rules.count("allkeys")


def could_match(pattern: str, prefix: str) -> bool:
    """Whether a Redis glob matches some key starting with `prefix`."""
    head = re.split(r"[*?\[\\]", pattern, maxsplit=1)[0]
    if head == pattern:  # no wildcard: one key
        return pattern.startswith(prefix)
    return head.startswith(prefix) or prefix.startswith(head)


FORBIDDEN_REDIS_RULES = {
    "+@all",
    "allcommands",
    "+@admin",
    "+@dangerous",
    "nopass",
    "allchannels",
    "+@pubsub",
}


def redis_acl(objects: list[dict]) -> dict[str, list[str]]:
    config = next(
        o for n, o in of_kind(objects, "ConfigMap").items() if n.startswith("sangathan-redis")
    )
    return parse_acl(config["data"].get("users.acl", ""))


def redis_problems(objects: list[dict]) -> list[str]:
    users, prefixes = redis_acl(objects), redis_prefixes()
    problems = [] if users else ["Redis: no ACL users (users.acl in the sangathan-redis ConfigMap)"]
    if users.get("default", ["on"])[0] != "off":
        problems.append("Redis: the default user is not off")
    for name, rules in users.items():
        problems += [
            f"Redis user {name}: {r!r} is too wide or a password in the file"
            for r in rules
            if r in FORBIDDEN_REDIS_RULES or r[0] in "<>#"
        ]
        if rules and rules[0] == "on" and "-@all" not in rules:
            problems.append(
                f"Redis user {name}: commands not limited (no -@all before what it may run)"
            )
    for name, deployment in services_of_code(objects).items():
        url = environment(deployment, objects).get("REDIS_URL")
        if url is None:
            continue
        package, user = package_of(deployment), urlsplit(url).username
        rules = users.get(user or "default")
        if not rules or rules[0] != "on":
            problems.append(f"{name}: Redis user {user or 'default'} is not an enabled ACL user")
            continue
        patterns = key_patterns(rules)
        own = prefixes.get(package)
        if own is None or not any(could_match(p, own) and p.startswith(own) for p in patterns):
            problems.append(f"{name}: Redis user {user} cannot reach its own keys ({own}*)")
        problems += [
            f"{name}: Redis user {user}'s {p!r} reaches {other}'s keys ({prefix}*)"
            for p in patterns
            for other, prefix in prefixes.items()
            if other != package and could_match(p, prefix)
        ]
    return problems


# ---------------------------------------------------------------- egress


def _egress_policies(objects: list[dict], labels: dict) -> list[dict]:
    return [
        p
        for p in of_kind(objects, "NetworkPolicy").values()
        if "Egress" in p["spec"].get("policyTypes", [])
        and selects(p["spec"]["podSelector"], labels)
    ]


def _peer_reaches(peer: dict, labels: dict, namespace_labels: dict | None) -> bool:
    """A `to` peer admits a pod with `labels` in a namespace with `namespace_labels`
    (None: ours)."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if namespace_labels is None or not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace_labels is not None:
        return False
    return selects(peer.get("podSelector", {}), labels)


def egress_allows(
    objects,
    source: dict,
    target: dict,
    port: int | str,
    protocol: str = "TCP",
    namespace_labels: dict | None = None,
) -> bool:
    for policy in _egress_policies(objects, source):
        for rule in policy["spec"].get("egress", []):
            ports = rule.get("ports")
            if ports and not any(
                p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
            ):
                continue
            if not rule.get("to") or any(
                _peer_reaches(p, target, namespace_labels) for p in rule["to"]
            ):
                return True
    return False


def egress_to_internet(objects, source: dict, port: int) -> bool:
    """An ipBlock rule on `port` for the pod: the messaging provider is outside the cluster."""
    return any(
        any(p.get("port") == port for p in rule.get("ports", []))
        and any("ipBlock" in peer for peer in rule.get("to", []))
        for policy in _egress_policies(objects, source)
        for rule in policy["spec"].get("egress", [])
    )


def _called_services(env: dict[str, str], services: dict[str, dict]) -> list[tuple[str, dict]]:
    """(variable, Service) for every http://<service> the pod is configured to call."""
    called = []
    for var, value in env.items():
        match = re.fullmatch(r"https?://([a-z0-9-]+)(?::(\d+))?(/.*)?", value)
        if var.endswith("_URL") and match and match.group(1) in services:
            called.append((var, services[match.group(1)]))
    return called


def _target_port(service: dict, workloads: dict[str, dict]) -> tuple[dict, int | str] | None:
    port = service["spec"]["ports"][0]
    for workload in workloads.values():
        if selects({"matchLabels": service["spec"]["selector"]}, pod_labels(workload)):
            named = {p["name"]: p["containerPort"] for p in container(workload).get("ports", [])}
            target = port.get("targetPort", port["port"])
            return pod_labels(workload), named.get(target, target)
    return None


def kafka_ports(objects: list[dict]) -> list[int]:
    return [
        listener["port"]
        for kafka in of_kind(objects, "Kafka").values()
        for listener in kafka["spec"]["kafka"]["listeners"]
    ]


def egress_problems(objects: list[dict], provider_url: str | None = None) -> list[str]:
    """Every pod is under a default deny and may reach exactly the DNS and the servers it uses."""
    problems = []
    workloads = {**of_kind(objects, "Deployment"), **of_kind(objects, "StatefulSet")}
    services = of_kind(objects, "Service")
    redis = pod_labels(of_kind(objects, "StatefulSet")["sangathan-redis"])
    for name, workload in workloads.items():
        labels, env = pod_labels(workload), environment(workload, objects)
        if not any(not p["spec"].get("egress") for p in _egress_policies(objects, labels)):
            problems.append(f"{name}: no default-deny egress policy selects it")
        for protocol in ("UDP", "TCP"):
            if not egress_allows(objects, labels, DNS_POD, 53, protocol, KUBE_SYSTEM):
                problems.append(f"{name}: no egress to the cluster DNS on 53/{protocol}")
        wanted = []
        if "MONGO_URL" in env:
            wanted.append(("MongoDB", MONGO_POD, 27017))
        if "REDIS_URL" in env:
            wanted.append(("Redis", redis, 6379))
        if "KAFKA_BOOTSTRAP" in env:
            port = int(env["KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
            wanted.append(("Kafka", KAFKA_BROKER_POD, port))
            if port not in kafka_ports(objects):
                problems.append(f"{name}: KAFKA_BOOTSTRAP's port {port} is no listener's")
        for var, service in _called_services(env, services):
            target = _target_port(service, workloads)
            if target:
                wanted.append((f"{var} ({service['metadata']['name']})", *target))
        if "PROVIDER_URL" in env:
            if provider_url and urlsplit(provider_url).hostname in services:
                target = _target_port(services[urlsplit(provider_url).hostname], workloads)
                wanted.append(("PROVIDER_URL (the dev simulator)", *target))
            if not egress_to_internet(objects, labels, 443):
                problems.append(
                    f"{name}: no egress to the messaging provider (443 outside the cluster)"
                )
        problems += [
            f"{name}: no egress to {what} on {port}"
            for what, target, port in wanted
            if not egress_allows(objects, labels, target, port)
        ]
        if "PROVIDER_URL" not in env and egress_to_internet(objects, labels, 443):
            problems.append(f"{name}: egress to the internet it does not need")
    return problems


# ---------------------------------------------------------------- Kafka


def _mounted(workload: dict, path: str) -> tuple[str, str] | None:
    """(Secret name, key) a mounted file path shows, or None."""
    pod = workload["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container(workload).get("volumeMounts", []):
        if path.startswith(mount["mountPath"] + "/") and "secret" in volumes[mount["name"]]:
            source, file = volumes[mount["name"]]["secret"], path[len(mount["mountPath"]) + 1 :]
            return source["secretName"], {i["path"]: i["key"] for i in source.get("items", [])}.get(
                file, file
            )
    return None


def kafka_problems(objects: list[dict]) -> list[str]:
    """Authenticated listeners with ACLs, and each client its own KafkaUser's identity."""
    import gen_kafka_users

    problems = []
    for kafka in of_kind(objects, "Kafka").values():
        for listener in kafka["spec"]["kafka"]["listeners"]:
            if listener.get("authentication", {}).get("type") not in ("scram-sha-512", "tls"):
                problems.append(
                    f"Kafka listener {listener['name']} lets clients in unauthenticated"
                )
        if kafka["spec"]["kafka"].get("authorization", {}).get("type") != "simple":
            problems.append(
                "Kafka: no authorization, so any client may read the urgent lane's codes"
            )
    users = of_kind(objects, "KafkaUser")
    for name, deployment in services_of_code(objects).items():
        env, package = environment(deployment, objects), package_of(deployment)
        if "KAFKA_BOOTSTRAP" not in env:
            continue
        user = env.get("KAFKA_SASL_USERNAME")
        if not env.get("KAFKA_SECURITY_PROTOCOL", "").startswith("SASL_") or user not in users:
            problems.append(f"{name}: its Kafka clients do not authenticate as a KafkaUser")
            continue
        if user != gen_kafka_users.user_name(package):
            problems.append(
                f"{name}: authenticates to Kafka as {user}, not as {package}'s own user"
            )
        if _mounted(deployment, env.get("KAFKA_SASL_PASSWORD_FILE", "")) != (user, "password"):
            problems.append(f"{name}: KAFKA_SASL_PASSWORD_FILE is not its KafkaUser's password")
    return problems


def kafka_code_problems() -> list[str]:
    """A service whose code names a topic, or publishes an event type, its KafkaUser may not
    touch."""
    import gen_kafka_users

    from shared import topics
    from shared.events import types

    by_constant = {
        name: value for name, value in vars(topics).items() if isinstance(value, topics.Topic)
    }
    event_types = {
        name: value
        for name, value in vars(types).items()
        if isinstance(value, str) and name.isupper()
    }
    problems = []
    for service, access in gen_kafka_users.ACCESS.items():
        allowed = {t.name for t in access.reads + access.writes}
        source = "\n".join(f.read_text(encoding="utf-8") for f in _package_files(service))
        named = {
            by_constant[n].name for n in re.findall(r"\b([A-Z_]+)\b", source) if n in by_constant
        }
        published = {
            topics.topic_for(event_types[n]).name
            for n in re.findall(r"\btypes\.([A-Z_]+)\b", source)
            if n in event_types and event_types[n] in topics._BY_EVENT_TYPE
        }
        problems += [
            f"{service}'s code uses {topic}, which its KafkaUser may not touch "
            "(gen_kafka_users.ACCESS)"
            for topic in sorted((named | published) - allowed)
        ]
    return problems


# ---------------------------------------------------------------- the kubelet's $(VAR) expansion


def env_order_problems(objects: list[dict]) -> list[str]:
    """A $(VAR) in an env value expands only if VAR comes earlier in the list
    (else it stays literal)."""
    problems = []
    for workload in [
        *of_kind(objects, "Deployment").values(),
        *of_kind(objects, "StatefulSet").values(),
    ]:
        seen: set[str] = set()
        for var in container(workload).get("env", []):
            problems += [
                f"{workload['metadata']['name']}: {var['name']} uses $({ref}) before it is defined"
                for ref in re.findall(r"\$\(([A-Z0-9_]+)\)", var.get("value", ""))
                if ref not in seen
            ]
            seen.add(var["name"])
    return problems


# ---------------------------------------------------------------- TLS (prod)


def _certificate_names(objects: list[dict]) -> dict[str, list[str]]:
    """Secret name -> the DNS names its cert-manager Certificate covers."""
    return {
        c["spec"]["secretName"]: c["spec"].get("dnsNames", [])
        for c in of_kind(objects, "Certificate").values()
    }


def _covers(names: list[str], host: str) -> bool:
    return any(
        n == host or (n.startswith("*.") and host.split(".", 1)[-1] == n[2:] and "." in host)
        for n in names
    )


def _ca_mounted_from(workload: dict, path: str, secrets: set[str]) -> bool:
    mounted = _mounted(workload, path)
    return mounted is not None and mounted[0] in secrets and mounted[1] == "ca.crt"


def tls_problems(objects: list[dict]) -> list[str]:
    """Every server speaks TLS with a certificate its clients check; every client asks for TLS."""
    problems = []
    certificates = _certificate_names(objects)
    kafka = next(iter(of_kind(objects, "Kafka").values()))
    kafka_ca = f"{kafka['metadata']['name']}-cluster-ca-cert"
    problems += [
        f"Kafka listener {lst['name']} is not TLS"
        for lst in kafka["spec"]["kafka"]["listeners"]
        if not lst.get("tls")
    ]
    mongodb = next(iter(of_kind(objects, "MongoDBCommunity").values()))["spec"]
    mongo_tls = mongodb.get("security", {}).get("tls", {})
    mongo_secret = mongo_tls.get("certificateKeySecretRef", {}).get("name")
    member = "sangathan-mongodb-0.sangathan-mongodb-svc.sangathan.svc.cluster.local"
    if not mongo_tls.get("enabled") or not _covers(certificates.get(mongo_secret, []), member):
        problems.append(
            f"MongoDB: TLS off, or its certificate does not name its members ({member})"
        )
    connection = mongodb.get("additionalConnectionStringConfig", {})
    redis = of_kind(objects, "StatefulSet")["sangathan-redis"]
    args = container(redis).get("args", [])
    flags = dict(zip(args[1::2], args[2::2]))  # after redis.conf, `--name value` pairs
    redis_secret = (_mounted(redis, flags.get("--tls-cert-file", "")) or (None,))[0]
    if "--tls-port" not in flags or flags.get("--port") != "0" or redis_secret not in certificates:
        problems.append(
            "Redis: no TLS port with a certificate, or the clear-text port still open (--port 0)"
        )
    for name, deployment in services_of_code(objects).items():
        env = environment(deployment, objects)
        kafka_tls = env.get("KAFKA_SECURITY_PROTOCOL") in ("SSL", "SASL_SSL")
        kafka_ca_mounted = _ca_mounted_from(
            deployment, env.get("KAFKA_SSL_CA_FILE", ""), {kafka_ca}
        )
        if "KAFKA_BOOTSTRAP" in env and not (kafka_tls and kafka_ca_mounted):
            problems.append(
                f"{name}: Kafka without TLS, or without Strimzi's cluster CA to check the brokers"
            )
        if "MONGO_URL" in env and (
            connection.get("tls") is not True
            or not _ca_mounted_from(deployment, connection.get("tlsCAFile", ""), {mongo_secret})
        ):
            problems.append(f"{name}: MongoDB without TLS, or without the CA of its certificate")
        if "REDIS_URL" in env:
            url = urlsplit(env["REDIS_URL"])
            ca = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p).get(
                "ssl_ca_certs", ""
            )
            if url.scheme != "rediss" or not _ca_mounted_from(deployment, ca, {redis_secret}):
                problems.append(
                    f"{name}: Redis without TLS (rediss://), or without the CA of its certificate"
                )
            elif not _covers(certificates.get(redis_secret, []), url.hostname):
                problems.append(f"{name}: Redis's certificate does not name {url.hostname}")
    return problems


# ---------------------------------------------------------------- images

OWN_IMAGE = "sangathan"
BY_DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def image_problems(objects: list[dict], release: bool = False) -> list[str]:
    """Third-party images by digest always; ours by digest once the release pipeline pinned it."""
    problems = []
    for workload in [
        *of_kind(objects, "Deployment").values(),
        *of_kind(objects, "StatefulSet").values(),
    ]:
        pod = workload["spec"]["template"]["spec"]
        for c in pod["containers"] + pod.get("initContainers", []):
            image = c["image"]
            own = image.split("@")[0].split(":")[0].rsplit("/", 1)[-1] == OWN_IMAGE
            if (release or not own) and not BY_DIGEST.match(image):
                problems.append(
                    f"{workload['metadata']['name']}/{c['name']}: "
                    f"image {image} is not pinned by digest"
                )
    return problems
