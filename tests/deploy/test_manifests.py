"""The deployment files: schema-valid, and the properties that matter hold.

Offline and fast: Kubernetes manifests are checked in strict mode (unknown fields
fail) with the schemas that ship inside the `kubernetes-validate` wheel, the compose
file with the compose specification's schema vendored in deploy/schemas/.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from alphacut.settings import PLACEHOLDER_SECRET, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "alphacut.conf"
ENV_EXAMPLE = ROOT / "deploy" / "alphacut.env.example"
COMPOSE_SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"

# The oldest Kubernetes the manifests promise to fit (schema of that minor release).
KUBERNETES_VERSION = "1.30.0"

SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD")
MAX_UPLOAD_BYTES: int = Settings.model_fields["max_upload_bytes"].default
UPLOAD_TIMEOUT_S: float = Settings.model_fields["upload_timeout_s"].default
UPLOAD_IDLE_TIMEOUT_S: float = Settings.model_fields["upload_idle_timeout_s"].default
SETTING_NAMES = {f"ALPHACUT_{name.upper()}" for name in Settings.model_fields}


def _k8s_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


K8S_DOCS = [(path, doc) for path in _k8s_files() for doc in _documents(path)]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in K8S_DOCS
             if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _nginx_size(value: str) -> int:
    """An nginx size (`51m`, `1024k`, `100`) in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", value.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _nginx_seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def _nginx_directives() -> dict[str, list[str]]:
    text = re.sub(r"#.*", "", NGINX_CONF.read_text())
    directives: dict[str, list[str]] = {}
    for name, args in re.findall(r"^\s*(\w+)\s+([^;{]*);", text, re.M):
        directives.setdefault(name, []).append(" ".join(args.split()))
    return directives


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _env_example() -> dict[str, str]:
    """KEY=VALUE lines of the env example, the commented-out ones too."""
    pairs = re.findall(r"^#?\s*(ALPHACUT_\w+)=(.*)$", ENV_EXAMPLE.read_text(), re.M)
    return {key: value.strip() for key, value in pairs}


# --- schemas -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc", [doc for _, doc in K8S_DOCS],
    ids=[f"{path.name}:{doc['kind']}/{doc['metadata']['name']}" for path, doc in K8S_DOCS])
def test_manifest_is_valid_in_strict_mode(doc: dict[str, Any]) -> None:
    # A kind without a schema (a CRD, a removed API version) raises SchemaNotFoundError.
    checked = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert checked == "1.30"


def test_strict_mode_rejects_an_unknown_field() -> None:
    deployment = _one("Deployment", "alphacut")
    broken = json.loads(json.dumps(deployment))
    _container(broken)["readinessprobe"] = _container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    # Applying placeholder secrets would overwrite the real ones.
    expected = {p.name for p in _k8s_files()} - {"secret.example.yaml"}
    assert sorted(kustomization["resources"]) == sorted(expected)


def _compose_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema)


def test_compose_file_matches_the_compose_specification() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in _compose_validator().iter_errors(_compose())]
    assert errors == []


def test_compose_schema_rejects_a_typo() -> None:
    broken = _compose()
    broken["services"]["alphacut"]["restrat"] = "always"
    assert not _compose_validator().is_valid(broken)


def test_compose_schema_is_vendored_with_its_licence() -> None:
    licence = (ROOT / "deploy" / "schemas" / "LICENSE-compose-spec").read_text()
    assert "Apache License" in licence


# --- Kubernetes: the servers -------------------------------------------------------------


def test_servers_run_unprivileged_with_a_read_only_root() -> None:
    deployment = _one("Deployment", "alphacut")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    # Service links would set ALPHACUT_PORT=tcp://... from the Service named alphacut.
    assert pod["enableServiceLinks"] is False
    context = _container(deployment)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_servers_have_a_writable_tmp() -> None:
    deployment = _one("Deployment", "alphacut")
    mounts = {m["mountPath"]: m["name"] for m in _container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_probes_use_the_right_paths_on_the_served_port() -> None:
    container = _container(_one("Deployment", "alphacut"))
    assert container["ports"] == [{"name": "http", "containerPort": 7000}]
    paths = {probe: container[probe]["httpGet"]["path"]
             for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                     "readinessProbe": "/readyz"}
    assert {container[p]["httpGet"]["port"] for p in paths} == {"http"}


def test_config_is_split_between_configmap_and_secret() -> None:
    container = _container(_one("Deployment", "alphacut"))
    assert container["envFrom"] == [{"configMapRef": {"name": "alphacut"}},
                                    {"secretRef": {"name": "alphacut"}}]
    config = _one("ConfigMap", "alphacut")["data"]
    assert not [key for key in config if SECRET_NAME.search(key)]
    assert set(_one("Secret", "alphacut")["stringData"]) >= {
        "ALPHACUT_SECRET_KEY", "ALPHACUT_ADMIN_TOKEN", "ALPHACUT_STRIPE_WEBHOOK_SECRET"}


def test_termination_grace_covers_an_upload_in_flight() -> None:
    deployment = _one("Deployment", "alphacut")
    config = _one("ConfigMap", "alphacut")["data"]
    shutdown_s = float(config["ALPHACUT_GRACEFUL_SHUTDOWN_S"])
    upload_s = float(config.get("ALPHACUT_UPLOAD_TIMEOUT_S", UPLOAD_TIMEOUT_S))
    pre_stop_s = int(_container(deployment)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert shutdown_s > upload_s
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] \
        > pre_stop_s + shutdown_s


def test_resources_are_requested_and_memory_is_bounded() -> None:
    resources = _container(_one("Deployment", "alphacut"))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert resources["limits"]["memory"] == "2Gi"


def test_prometheus_scrapes_the_pods() -> None:
    annotations = _one("Deployment", "alphacut")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "7000",
                           "prometheus.io/path": "/metrics"}


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget"])
def test_selectors_match_the_server_pods(kind: str) -> None:
    labels = _one("Deployment", "alphacut")["spec"]["template"]["metadata"]["labels"]
    spec = _one(kind, "alphacut")["spec"]
    selector = spec["selector"] if kind == "Service" else spec["selector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_autoscaler_scales_the_deployment_on_cpu() -> None:
    spec = _one("HorizontalPodAutoscaler", "alphacut")["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": "alphacut"}
    assert [m["resource"]["name"] for m in spec["metrics"]] == ["cpu"]
    assert spec["minReplicas"] >= 2


def test_ingress_admits_the_largest_upload_for_the_whole_deadline() -> None:
    annotations = _one("Ingress", "alphacut")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert _nginx_size(annotations[prefix + "proxy-body-size"]) > MAX_UPLOAD_BYTES
    assert int(annotations[prefix + "proxy-read-timeout"]) > UPLOAD_TIMEOUT_S
    assert int(annotations[prefix + "proxy-send-timeout"]) > UPLOAD_IDLE_TIMEOUT_S
    assert "non_idempotent" not in annotations[prefix + "proxy-next-upstream"]
    assert _one("Ingress", "alphacut")["spec"]["ingressClassName"] == "nginx"


def test_redis_persists_and_never_evicts() -> None:
    statefulset = _one("StatefulSet", "redis")
    args = _container(statefulset)["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert [t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]] \
        == [m["name"] for m in _container(statefulset)["volumeMounts"]]
    assert _one("Service", "redis")["spec"]["clusterIP"] == "None"
    assert _one("ConfigMap", "alphacut")["data"]["ALPHACUT_STORE_URL"] == "redis://redis:6379/0"


# --- compose -----------------------------------------------------------------------------


def test_compose_trusts_exactly_the_backend_subnet() -> None:
    compose = _compose()
    alphacut = compose["services"]["alphacut"]
    subnets = [c["subnet"] for c in compose["networks"]["backend"]["ipam"]["config"]]
    assert alphacut["environment"]["ALPHACUT_TRUST_FORWARDED_FOR"] == "true"
    assert alphacut["environment"]["ALPHACUT_TRUSTED_PROXIES"] == ",".join(subnets)
    assert all(ipaddress.ip_network(s).is_private for s in subnets)
    # The servers sit on the backend only and publish nothing: nginx is the one way in.
    assert alphacut["networks"] == ["backend"]
    assert "ports" not in alphacut
    assert sorted(compose["services"]["nginx"]["networks"]) == ["backend", "edge"]


def test_compose_servers_share_redis_and_take_secrets_from_the_env_file() -> None:
    services = _compose()["services"]
    alphacut = services["alphacut"]
    assert alphacut["env_file"] == "alphacut.env"
    assert alphacut["environment"]["ALPHACUT_STORE_URL"] == "redis://redis:6379/0"
    assert not [key for key in alphacut["environment"] if SECRET_NAME.search(key)]
    assert alphacut["deploy"]["replicas"] >= 2
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert services["redis"]["volumes"] == ["redis-data:/data"]


def test_compose_servers_run_read_only_with_tmp_and_a_data_volume() -> None:
    compose = _compose()
    alphacut = compose["services"]["alphacut"]
    assert alphacut["read_only"] is True
    assert "/tmp" in alphacut["tmpfs"]
    data_dir = alphacut["environment"]["ALPHACUT_DATA_DIR"]
    volume = next(v.split(":")[0] for v in alphacut["volumes"] if v.endswith(":" + data_dir))
    assert volume in compose["volumes"]
    grace_s = _nginx_seconds(alphacut["stop_grace_period"])
    assert grace_s > float(alphacut["environment"]["ALPHACUT_GRACEFUL_SHUTDOWN_S"]) \
        > UPLOAD_TIMEOUT_S


@pytest.mark.parametrize("service", ["alphacut", "redis", "nginx"])
def test_compose_services_have_healthchecks(service: str) -> None:
    assert _compose()["services"][service]["healthcheck"]["test"][0] == "CMD"


def test_compose_healthcheck_asks_readiness() -> None:
    assert "/readyz" in " ".join(_compose()["services"]["alphacut"]["healthcheck"]["test"])


# --- nginx -------------------------------------------------------------------------------


def test_nginx_admits_the_largest_upload_for_the_whole_deadline() -> None:
    directives = _nginx_directives()
    assert _nginx_size(directives["client_max_body_size"][0]) > MAX_UPLOAD_BYTES
    assert _nginx_seconds(directives["proxy_read_timeout"][0]) > UPLOAD_TIMEOUT_S
    assert _nginx_seconds(directives["client_body_timeout"][0]) > UPLOAD_IDLE_TIMEOUT_S
    assert directives["proxy_request_buffering"] == ["off"]


def test_nginx_appends_the_forwarded_headers() -> None:
    headers = _nginx_directives()["proxy_set_header"]
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in headers
    assert "X-Forwarded-Proto $scheme" in headers


def test_nginx_never_retries_a_post() -> None:
    (next_upstream,) = _nginx_directives()["proxy_next_upstream"]
    assert "non_idempotent" not in next_upstream.split()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    # `nginx -t` resolves upstream names: point the compose service name at loopback.
    site = tmp_path / "site.conf"
    site.write_text(NGINX_CONF.read_text().replace("server alphacut:7000", "server 127.0.0.1:7000"))
    main = tmp_path / "nginx.conf"
    temp_paths = " ".join(f"{name}_temp_path {name};"
                          for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(f"pid nginx.pid; error_log stderr;\nevents {{}}\n"
                    f"http {{ access_log off; {temp_paths} include {site}; }}\n")
    result = subprocess.run(["nginx", "-t", "-q", "-e", "stderr", "-p", str(tmp_path),
                             "-c", str(main)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


# --- settings and secrets across every file ----------------------------------------------


def _settings_in_use() -> dict[str, dict[str, str]]:
    """Every ALPHACUT_* name each file sets, with its value."""
    config = _one("ConfigMap", "alphacut")["data"]
    secret = _one("Secret", "alphacut")["stringData"]
    compose_env = _compose()["services"]["alphacut"]["environment"]
    return {"configmap.yaml": config, "secret.example.yaml": secret,
            "compose.yaml": compose_env, "alphacut.env.example": _env_example()}


@pytest.mark.parametrize("source", ["configmap.yaml", "secret.example.yaml", "compose.yaml",
                                    "alphacut.env.example"])
def test_every_setting_named_exists(source: str) -> None:
    assert set(_settings_in_use()[source]) - SETTING_NAMES == set()


@pytest.mark.parametrize("source", ["secret.example.yaml", "alphacut.env.example"])
def test_committed_secrets_are_placeholders(source: str) -> None:
    values = _settings_in_use()[source]
    secrets = {key: value for key, value in values.items() if SECRET_NAME.search(key)}
    assert secrets
    assert {key: v for key, v in secrets.items() if "change-me" not in v} == {}
    # The server refuses this one in production, so a forgotten copy cannot go live.
    assert values["ALPHACUT_SECRET_KEY"] == PLACEHOLDER_SECRET


def test_env_example_and_secret_name_the_same_secrets() -> None:
    example = {key for key in _env_example() if SECRET_NAME.search(key)}
    secret = set(_one("Secret", "alphacut")["stringData"])
    assert secret <= example


def test_no_secret_value_in_plain_settings() -> None:
    committed = "\n".join(p.read_text() for p in [COMPOSE, NGINX_CONF, *_k8s_files()])
    assert not re.search(r"whsec_(?!change-me)\w+|sk_(live|test)_\w+", committed)
    for source in ("configmap.yaml", "compose.yaml"):
        assert not [k for k in _settings_in_use()[source] if SECRET_NAME.search(k)], source
