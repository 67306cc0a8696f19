"""The partitioned link build in the chart: an Indexed Job of linkBuild.partitions pods, off by default, run
locked down and wired as the migration Job is, each pod's `link build --partitions N` reading its partition from
JOB_COMPLETION_INDEX. Rendered by Helm's own SDK and validated against Kubernetes' schemas
(tests/deploy/test_chart.py); what the pods are given is parsed by the command's own parser and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest

from hub.cli import build_parser
from hub.cli.link import partition_from
from hub.config import Settings
from hub.ops.linking import Partition
from tests.deploy.test_chart import FEDERATED, K8S_VERSION, PRODUCTION, by_kind, hub_environ, render, render_notes

MODEL = {"secretName": "welfare-hub-link-model", "key": "fs-model.json"}
ON: dict[str, Any] = {**PRODUCTION, "linkBuild": {"enabled": True, "partitions": 3, "model": MODEL}}


def jobs(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The migration Job, and the link build's (None when there is none)."""
    found = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in by_kind(objects, "Job")}
    assert set(found) <= {"migrations", "link-build"}
    return found["migrations"], found.get("link-build")


def environ(container: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The container's variables, each from a Secret given as ``secrets[key]``."""
    out = {}
    for e in container["env"]:
        out[e["name"]] = e["value"] if "value" in e else secrets[e["valueFrom"]["secretKeyRef"]["key"]]
    return out


def test_there_is_no_link_build_unless_asked_for() -> None:
    for values in ({}, PRODUCTION):
        objects = render(values)
        assert jobs(objects)[1] is None
        assert not [o for o in objects if "link-build" in o["metadata"]["name"]]


def test_an_indexed_job_of_n_pods_each_building_its_own_partition() -> None:
    objects = render(ON)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    migrate, job = jobs(objects)
    assert job is not None
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    assert job["metadata"]["name"] == "wh-welfare-hub-link-build-1"  # by revision: a Job cannot be changed
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})  # an install does not wait hours for it
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    # Each pod's command, as the command line parses it, with the index Kubernetes gives each pod.
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.link_command) == ("link", "build")
    assert [partition_from(args.partition, args.partitions, {"JOB_COMPLETION_INDEX": str(i)}) for i in range(3)] == [
        Partition(0, 3),
        Partition(1, 3),
        Partition(2, 3),
    ]
    assert (args.workers, args.chunk, args.full, args.restart) == (2, 2000, False, False)
    # Locked down and scheduled as the migration Job is.
    (migration,) = migrate["spec"]["template"]["spec"]["containers"]
    for key in ("securityContext", "automountServiceAccountToken", "restartPolicy"):
        assert pod[key] == migrate["spec"]["template"]["spec"][key]
    assert container["securityContext"] == migration["securityContext"]
    assert container["image"] == migration["image"]
    assert container["resources"]["limits"]
    assert (
        pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == (spec["template"]["metadata"]["labels"])
    )
    # The owner's URL, from the migration Job's key, writes the index; the sources are read with the hub's URLs.
    owner = next(e for e in container["env"] if e["name"] == "DATABASE_URL")
    assert owner == next(e for e in migration["env"] if e["name"] == "DATABASE_URL")
    secrets = {
        "admin-url": "postgresql://owner@db.council.internal/hub",
        "hub-url": "postgresql://hub_service@db.council.internal/hub",
        "dwp-url": "postgresql://dwp_reader@db.council.internal/src_dwp",
        "hb-url": "postgresql://hb_reader@db.council.internal/src_hb",
        "social-care-url": "postgresql://sc_reader@db.council.internal/src_social_care",
    }
    env = environ(container, secrets)
    settings = Settings.from_environ(env)  # what the pod starts with: nothing missing, nothing refused
    assert settings.database_url == secrets["admin-url"]
    assert set(settings.store_urls) == {"hub", "src_dwp", "src_hb", "src_social_care"}
    assert settings.service_url("src_hb") == secrets["hb-url"]
    # The key ring and the model, from their Secrets' mounts; the bands the hub links with.
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for variable, volume, secret, key in (
        ("WELFARE_HUB_KEYS", "key-ring", "welfare-hub-key-ring", "key-ring.json"),
        ("WELFARE_HUB_LINK_MODEL", "link-model", MODEL["secretName"], MODEL["key"]),
    ):
        assert Path(env[variable]) == Path(mounts[volume]["mountPath"]) / key
        assert mounts[volume]["readOnly"] is True
        assert volumes[volume]["secret"] == {"secretName": secret, "defaultMode": 0o400}
    assert "audit-keys" not in volumes  # it signs nothing
    hub = hub_environ(objects)
    for variable in ("WELFARE_HUB_LINK_THRESHOLD", "WELFARE_HUB_REVIEW_THRESHOLD", "WELFARE_HUB_LINK_ABSENT"):
        assert env[variable] == hub[variable]
    assert settings.thresholds() == Settings.from_environ({**hub, "DATABASE_URL": "postgresql://x@h/db"}).thresholds()


def test_the_link_build_pods_reach_only_the_databases_and_dns() -> None:
    objects = render(ON)
    _, job = jobs(objects)
    assert job is not None
    (policy,) = [p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-link-build")]
    assert policy["spec"]["podSelector"]["matchLabels"] == job["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["ingress"] == []
    databases, dns = policy["spec"]["egress"]
    assert [p["ipBlock"]["cidr"] for p in databases["to"]] == PRODUCTION["database"]["cidrs"]
    assert databases["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert {p["port"] for p in dns["ports"]} == {53}
    # The hub's own policy does not select them.
    (hub_policy,) = [p for p in by_kind(objects, "NetworkPolicy") if p is not policy]
    assert hub_policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "hub"
    off = render({**ON, "networkPolicy": {"enabled": False}})
    assert by_kind(off, "NetworkPolicy") == []


def test_the_notes_name_the_job_and_its_model_secret() -> None:
    notes = render_notes(ON)
    assert "Job/wh-welfare-hub-link-build-1: `welfare-hub link build` in 3 partitions" in notes
    assert "logs -l batch.kubernetes.io/job-name=wh-welfare-hub-link-build-1" in notes
    assert f"Secret {MODEL['secretName']}, key {MODEL['key']}: the linkage model" in notes
    assert "admin-url (the owner role, for the migration Job and the link build only)" in notes
    assert "link build" not in render_notes(PRODUCTION)


@pytest.mark.parametrize(
    ("description", "values", "message"),
    [
        (
            "no model",
            {**PRODUCTION, "linkBuild": {"enabled": True}},
            r"linkBuild\.model\.secretName: every pod of the link build decides with one model",
        ),
        (
            "a source over its subgraph",
            {**FEDERATED, "linkBuild": {"enabled": True, "model": MODEL}},
            r"the DWP source is answered by its subgraph \(hub\.subgraphs\.dwp\.url\)",
        ),
    ],
)
def test_a_link_build_that_could_not_work_fails_the_install(
    description: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render(values)


@pytest.mark.parametrize(
    "link_build",
    [
        {"enabled": True, "model": MODEL, "partitions": 0},
        {"enabled": True, "model": MODEL, "partitions": 2000},
        {"enabled": True, "model": MODEL, "workers": 0},
        {"enabled": True, "model": MODEL, "partition": 2},  # misspelt
        {"enabled": True, "model": {"secretName": "m", "key": ""}},
    ],
    ids=["no partitions", "too many partitions", "no workers", "unknown key", "empty model key"],
)
def test_the_values_schema_refuses_a_bad_link_build(link_build: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="linkBuild"):
        render({**PRODUCTION, "linkBuild": link_build})
