"""The isolation the manifests promise (deploy/k8s/rules.py, run by `make k8s-check`): each rule
holds in every overlay, and each one fails on a manifest that breaks it, so none can pass by
accident.

MongoDB users own only their code's collections; Redis users reach only their code's key prefix;
egress is denied unless needed; Kafka clients authenticate as their own KafkaUser; prod speaks
TLS to every server; images are pinned by digest.
"""

import copy
import re
import sys
from pathlib import Path

import pytest
import yaml

from notifier.settings import NotifierSettings
from otp.settings import OtpSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "k8s"))
import check  # noqa: E402
import gen_kafka_users  # noqa: E402
import rules  # noqa: E402
from rules import of_kind  # noqa: E402

OVERLAYS = check.overlays()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {overlay.name: check.render(overlay) for overlay in OVERLAYS}


@pytest.fixture
def prod(rendered) -> list[dict]:
    return copy.deepcopy(rendered["prod"])


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_rule_holds_in_every_overlay(rendered, overlay):
    assert check.rule_problems(rendered[overlay.name], overlay.name) == []


# ---------------------------------------------------------------- MongoDB


def mongodb(objects) -> dict:
    return next(iter(of_kind(objects, "MongoDBCommunity").values()))["spec"]


def test_the_collections_are_read_from_each_services_code():
    owned, reads = rules.mongo_collections("appointments")
    assert {"booth_teams", "outbox_pending", "president_posts", "erasure_requests"} <= owned
    assert (
        reads
        == rules.org_tree_collections()
        == {"org_units", "org_children", "org_booth_pages", "org_registry_meta"}
    )
    prefix = NotifierSettings.model_fields["collection_prefix"].default
    assert rules.mongo_collections("notifier")[0] == {
        f"{prefix}directives",
        f"{prefix}audit",
        f"{prefix}optouts",
    }
    assert rules.mongo_collections("analytics") == (set(), rules.org_tree_collections())


def test_a_service_with_the_databases_readwrite_role_is_refused(prod):
    user = next(u for u in mongodb(prod)["users"] if u["name"] == "notifier")
    user["roles"] = [{"name": "readWrite", "db": "sangathan"}]
    assert any("built-in role readWrite" in p for p in rules.mongodb_problems(prod))


def test_a_role_reaching_another_services_collection_or_writing_the_org_tree_is_refused(prod):
    roles = {r["role"]: r for r in mongodb(prod)["security"]["roles"]}
    roles["sangathan-analytics"]["privileges"].append(
        {"resource": {"db": "sangathan", "collection": "booth_teams"}, "actions": ["find"]}
    )
    notifier_org = next(
        p
        for p in roles["sangathan-notifier"]["privileges"]
        if p["resource"]["collection"] == "org_units"
    )
    notifier_org["actions"] = ["find", "remove"]
    problems = rules.mongodb_problems(prod)
    assert any("analytics: granted ['booth_teams'] beyond" in p for p in problems)
    assert any("may change org_units, which notifier only reads" in p for p in problems)


def test_a_role_missing_a_collection_the_code_uses_or_granting_the_whole_database_is_refused(prod):
    roles = {r["role"]: r for r in mongodb(prod)["security"]["roles"]}
    privileges = roles["sangathan-appointments"]["privileges"]
    privileges[:] = [p for p in privileges if p["resource"]["collection"] != "erasure_requests"]
    privileges.append({"resource": {"db": "sangathan", "collection": ""}, "actions": ["find"]})
    problems = rules.mongodb_problems(prod)
    assert any("missing ['erasure_requests']" in p for p in problems)
    assert any("not one collection of sangathan" in p for p in problems)


def test_two_services_sharing_a_connection_string_are_refused(prod):
    otp_like = of_kind(prod, "Deployment")["analytics"]
    env = rules.container(otp_like)["env"]
    next(v for v in env if v["name"] == "MONGO_URL")["valueFrom"]["secretKeyRef"]["name"] = (
        "sangathan-mongodb-notifier"
    )
    assert any(
        "MongoDB user notifier is used by ['analytics', 'notifier']" in p
        for p in rules.mongodb_problems(prod)
    )


# ---------------------------------------------------------------- Redis


def acl_text(objects) -> dict:
    return next(
        c for n, c in of_kind(objects, "ConfigMap").items() if n.startswith("sangathan-redis")
    )["data"]


def test_the_notifiers_redis_keys_never_include_an_otp_counter(rendered):
    otp_prefix = OtpSettings.model_fields["redis_prefix"].default  # the code's own constant
    for overlay, objects in rendered.items():
        users = rules.redis_acl(objects)
        notifier = rules.key_patterns(users["notifier"])
        assert notifier and not any(rules.could_match(p, otp_prefix) for p in notifier), overlay
        assert any(rules.could_match(p, otp_prefix) for p in rules.key_patterns(users["otp"])), (
            overlay
        )
        assert users["default"][0] == "off"


@pytest.mark.parametrize(
    "pattern, prefix, reaches",
    [
        ("notifier:*", "otp:", False),
        ("*", "otp:", True),
        ("otp:calls:*", "otp:", True),
        ("o*", "otp:", True),
        ("otp:decoy", "otp:", True),
        ("notifier:otp:*", "otp:", False),
        ("?tp:*", "otp:", True),
        ("[o]tp:*", "otp:", True),
    ],
)
def test_a_key_glob_reaches_a_prefix_when_some_key_of_it_matches(pattern, prefix, reaches):
    assert rules.could_match(pattern, prefix) is reaches


@pytest.mark.parametrize(
    "change, says",
    [
        (
            lambda acl: acl.replace(
                "user notifier on ~notifier:*", "user notifier on ~notifier:* ~otp:*"
            ),
            "reaches otp's keys",
        ),
        (
            lambda acl: acl.replace("user notifier on ~notifier:*", "user notifier on allkeys"),
            "reaches otp's keys",
        ),
        (
            lambda acl: acl.replace("user default off", "user default on nopass"),
            "default user is not off",
        ),
        (
            lambda acl: acl.replace("user otp on ~otp:* -@all", "user otp on ~otp:* +@all"),
            "'+@all' is too wide",
        ),
        (
            lambda acl: acl.replace("user otp on ~otp:*", "user otp on ~otps:*"),
            "cannot reach its own keys",
        ),
        (
            lambda acl: acl.replace(
                "user probe on -@all +ping", "user probe on >hunter2 -@all +ping"
            ),
            "a password in",
        ),
    ],
)
def test_a_redis_acl_that_lets_a_service_out_of_its_keys_is_refused(prod, change, says):
    data = acl_text(prod)
    data["users.acl"] = change(data["users.acl"])
    assert any(says in p for p in rules.redis_problems(prod)), rules.redis_problems(prod)


def test_a_service_connecting_as_another_redis_user_is_refused(prod):
    notifier = of_kind(prod, "Deployment")["notifier"]
    url = next(v for v in rules.container(notifier)["env"] if v["name"] == "REDIS_URL")
    url["value"] = url["value"].replace("//notifier:", "//otp:")
    problems = rules.redis_problems(prod)
    assert "notifier: Redis user otp cannot reach its own keys (notifier:*)" in problems
    assert "notifier: Redis user otp's 'otp:*' reaches otp's keys (otp:*)" in problems


# ---------------------------------------------------------------- egress


def without_policy(objects, name) -> list[dict]:
    return [
        o for o in objects if not (o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == name)
    ]


@pytest.mark.parametrize(
    "policy, says",
    [
        ("default-deny-egress", "otp: no default-deny egress policy selects it"),
        ("egress-dns", "dashboard: no egress to the cluster DNS on 53/UDP"),
        ("egress-redis", "otp: no egress to Redis on 6379"),
        ("egress-kafka", "analytics: no egress to Kafka on 9093"),
        ("egress-mongodb", "notifier-workers: no egress to MongoDB on 27017"),
        ("egress-otp-to-notifier", "otp: no egress to NOTIFIER_URL (notifier) on 8080"),
        ("egress-notifier-to-provider", "notifier: no egress to the messaging provider"),
    ],
)
def test_every_pod_needs_an_egress_rule_for_each_server_it_uses(prod, policy, says):
    assert any(p.startswith(says) for p in rules.egress_problems(without_policy(prod, policy)))


def test_only_the_notifier_may_leave_the_cluster(prod):
    policy = of_kind(prod, "NetworkPolicy")["egress-notifier-to-provider"]
    policy["spec"]["podSelector"]["matchExpressions"][0]["values"].append("dashboard")
    assert "dashboard: egress to the internet it does not need" in rules.egress_problems(prod)


def test_the_dev_notifier_reaches_the_provider_simulator(rendered):
    import dev_secrets

    objects = without_policy(rendered["dev"], "egress-notifier-to-provider-simulator")
    problems = rules.egress_problems(objects, dev_secrets.DEV_PROVIDER_URL)
    assert any("PROVIDER_URL (the dev simulator)" in p for p in problems)


# ---------------------------------------------------------------- Kafka


def test_the_committed_kafka_users_are_what_the_generator_writes():
    assert gen_kafka_users.TARGET.read_text(encoding="utf-8") == gen_kafka_users.render(), (
        "regenerate: .venv/bin/python deploy/k8s/gen_kafka_users.py"
    )


def readers(objects, topic: str) -> set[str]:
    return {
        u["metadata"]["name"]
        for u in of_kind(objects, "KafkaUser").values()
        for acl in u["spec"]["authorization"]["acls"]
        if acl["resource"] == {"type": "topic", "name": topic, "patternType": "literal"}
        and "Read" in acl["operations"]
    }


def test_only_the_notifier_reads_the_urgent_lane_and_only_otp_the_codes_to_send(rendered):
    from shared import topics

    for objects in rendered.values():
        assert readers(objects, topics.DELIVERY_TASKS_URGENT.name) == {"sangathan-notifier"}
        assert readers(objects, topics.OTP_REQUESTS.name) == {"sangathan-otp"}
        assert all(
            acl["resource"]["type"] != "cluster" and acl["resource"]["name"] not in ("*", "")
            for u in of_kind(objects, "KafkaUser").values()
            for acl in u["spec"]["authorization"]["acls"]
        )


def test_a_service_whose_code_uses_a_topic_its_user_may_not_touch_is_refused(monkeypatch):
    from shared import topics

    notifier = gen_kafka_users.ACCESS["notifier"]
    monkeypatch.setitem(
        gen_kafka_users.ACCESS,
        "notifier",
        gen_kafka_users.Access(
            reads=tuple(t for t in notifier.reads if t is not topics.ERASURES),
            writes=notifier.writes,
        ),
    )
    assert any(
        f"notifier's code uses {topics.ERASURES.name}" in p for p in rules.kafka_code_problems()
    )


@pytest.mark.parametrize(
    "change, says",
    [
        (
            lambda o: of_kind(o, "Kafka")["sangathan"]["spec"]["kafka"]["listeners"][0].pop(
                "authentication"
            ),
            "lets clients in unauthenticated",
        ),
        (
            lambda o: of_kind(o, "Kafka")["sangathan"]["spec"]["kafka"].pop("authorization"),
            "no authorization",
        ),
        (
            lambda o: of_kind(o, "ConfigMap")[
                next(n for n in of_kind(o, "ConfigMap") if n.startswith("otp-"))
            ]["data"].update(KAFKA_SASL_USERNAME="sangathan-notifier"),
            "otp: authenticates to Kafka as sangathan-notifier",
        ),
        (
            lambda o: next(
                c for n, c in of_kind(o, "ConfigMap").items() if n.startswith("sangathan-platform")
            )["data"].update(KAFKA_SECURITY_PROTOCOL="SSL"),
            "do not authenticate as a KafkaUser",
        ),
    ],
)
def test_a_kafka_client_or_listener_without_its_own_identity_is_refused(prod, change, says):
    change(prod)
    assert any(says in p for p in rules.kafka_problems(prod)), rules.kafka_problems(prod)


# ---------------------------------------------------------------- TLS


def test_dev_is_in_the_clear_so_the_tls_rule_can_fail(rendered):
    problems = rules.tls_problems(rendered["dev"])
    assert any("Kafka listener scram is not TLS" in p for p in problems)
    assert any("otp: Redis without TLS" in p for p in problems)
    assert any("MongoDB: TLS off" in p for p in problems)


def plain_redis_url(objects, deployment: str) -> None:
    env = rules.container(of_kind(objects, "Deployment")[deployment])["env"]
    var = next(v for v in env if v["name"] == "REDIS_URL")
    var["value"] = var["value"].replace("rediss://", "redis://").split("?")[0]


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda o: plain_redis_url(o, "otp"), "otp: Redis without TLS"),
        (
            lambda o: of_kind(o, "Certificate")["sangathan-redis-tls"]["spec"].__setitem__(
                "dnsNames", ["redis.example"]
            ),
            "Redis's certificate does not name sangathan-redis",
        ),
        (
            lambda o: of_kind(o, "MongoDBCommunity")["sangathan-mongodb"]["spec"][
                "additionalConnectionStringConfig"
            ].pop("tls"),
            "analytics: MongoDB without TLS",
        ),
        (
            lambda o: next(
                c for n, c in of_kind(o, "ConfigMap").items() if n.startswith("sangathan-platform")
            )["data"].pop("KAFKA_SSL_CA_FILE"),
            "dashboard: Kafka without TLS",
        ),
        (
            lambda o: rules.container(of_kind(o, "StatefulSet")["sangathan-redis"])[
                "args"
            ].__setitem__(2, "6379"),
            "clear-text port still open",
        ),
    ],
)
def test_a_prod_server_or_client_in_the_clear_is_refused(prod, change, says):
    change(prod)
    assert any(says in p for p in rules.tls_problems(prod)), rules.tls_problems(prod)


def test_a_url_using_a_variable_defined_after_it_is_refused(rendered):
    objects = copy.deepcopy(rendered["dev"])
    env = rules.container(of_kind(objects, "Deployment")["otp"])["env"]
    env.append(env.pop(next(i for i, v in enumerate(env) if v["name"] == "REDIS_PASSWORD")))
    assert "otp: REDIS_URL uses $(REDIS_PASSWORD) before it is defined" in rules.env_order_problems(
        objects
    )


# ---------------------------------------------------------------- images and the supply chain


def test_third_party_images_are_pinned_by_digest_and_ours_once_released(prod):
    assert rules.image_problems(prod) == []
    assert {p.split(":")[0] for p in rules.image_problems(prod, release=True)} == {
        f"{n}/{n}" for n in of_kind(prod, "Deployment")
    }, "our own image: by digest in a release"
    rules.container(of_kind(prod, "StatefulSet")["sangathan-redis"])["image"] = "redis:7.4-alpine"
    assert any("redis:7.4-alpine is not pinned by digest" in p for p in rules.image_problems(prod))


def test_the_image_builds_from_a_base_pinned_by_digest_and_installs_only_hashed_packages():
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert bases and all(rules.BY_DIGEST.match(b) for b in bases)
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in i or "--no-deps" in i for i in installs)


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a pip-compile --generate-hashes file."""
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8")):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            entries[match.group(1).lower()] = (
                match.group(2),
                re.findall(r"--hash=sha256:([0-9a-f]{64})", block),
            )
    return entries


def test_every_locked_package_has_hashes_and_the_venv_installs_only_those():
    full, runtime = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-runtime.lock")
    assert full and all(hashes for _, hashes in full.values())
    assert all(full[name] == entry for name, entry in runtime.items()), (
        "the image's lock is a subset"
    )
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes -r requirements.lock" in recipe
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs)


def test_the_build_dependencies_are_pinned_and_come_from_the_lock():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requires = pyproject["build-system"]["requires"]
    full = locked(ROOT / "requirements.lock")
    for requirement in requires:
        name, _, version = requirement.partition("==")
        assert version and full[name.lower()][0] == version, requirement
    for name, version in (
        line.split("==")
        for line in (ROOT / "requirements-build.in").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    ):
        assert full[name][0] == version
    direct = [
        d
        for d in pyproject["project"]["dependencies"]
        + pyproject["project"]["optional-dependencies"]["test"]
    ]
    for dependency in direct:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", dependency).groups()
        assert full[name.lower().replace("_", "-")][0] == version, dependency


def test_the_kustomize_images_block_pins_redis_by_digest():
    kustomization = yaml.safe_load(
        (ROOT / "deploy" / "k8s" / "base" / "redis" / "kustomization.yaml").read_text()
    )
    [redis] = kustomization["images"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", redis["digest"])
