"""The Kubernetes manifests of deploy/: valid for the API server, and true to the code.

Every document is validated offline against the Kubernetes JSON schemas (kubernetes-validate,
strict: an unknown or misspelt field fails) of the oldest and newest versions we claim; then
the manifests are checked against what they must agree with: the daphne command line
(config/serve.py), the health endpoints of the web (config/health.py) and the worker, the
catalogue, the GPU workers of docker-compose.yml, and the settings config/settings.py reads.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from config.health import LIVE_PATH, READY_PATH
from config.serve import daphne_command
from tests.test_docker_compose import catalogue_thresholds, metered, parse_serve, settings_env_names

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
EXAMPLES = DEPLOY / "examples"
PRODUCTION = ROOT / "fixtures" / "catalogue" / "production.yaml"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The oldest Kubernetes we claim (autoscaling/v2, policy/v1 and Job TTLs are all older) and the
# newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version() + ".0")
NAMESPACE = "arena"
WEB_IMAGE = "registry.example.org/arena/web:latest"
GPU_IMAGE = "registry.example.org/arena/worker-gpu:latest"
CONFIG_MAP = "arena-config"
APP_SECRET = "arena-secrets"
SECRET_KEYS = {"SECRET_KEY", "ARENA_IP_HASH_SALT", "DATABASE_URL", "REDIS_URL", "ARENA_WORKER_TOKEN"}
WORKER_TOKEN = "ARENA_WORKER_TOKEN"  # the workers' shared secret (inference_workers --api-key's default)
WORKER_PORT = 8000


def _documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def applied_files() -> list[Path]:
    """What `kubectl apply -f deploy/` applies, in its (name) order; examples/ is not applied."""
    return sorted(DEPLOY.glob("*.yaml"))


def all_files() -> list[Path]:
    return sorted(DEPLOY.rglob("*.yaml"))


def manifests() -> list[dict]:
    return [doc for path in applied_files() for doc in _documents(path)]


def example_secrets() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in _documents(EXAMPLES / "secrets.yaml") if doc["kind"] == "Secret"}


def of_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict, name: str | None = None) -> dict:
    containers = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1, workload["metadata"]["name"]
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def argv(c: dict) -> list[str]:
    return [*c.get("command", []), *c.get("args", [])]


def config_map() -> dict[str, str]:
    return of_kind("ConfigMap")[CONFIG_MAP]["data"]


def production() -> list[dict]:
    """The production models a worker serves (a remote API entry has none)."""
    return metered(yaml.safe_load(PRODUCTION.read_text(encoding="utf-8")))


def workers() -> dict[str, dict]:
    """GPU worker Deployments by the model slug they serve."""
    found = {}
    for name, deployment in of_kind("Deployment").items():
        if name.startswith("worker-"):
            found[deployment["metadata"]["labels"]["arena/model"]] = deployment
    return found


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- Schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", all_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_it_passes_the_kubernetes_schemas(path, version):
    documents = _documents(path)
    assert documents, f"{path.name} holds no manifest"
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {error.message}") from None


def test_it_finds_a_schema_error():
    """The validator is not a rubber stamp: a misspelt probe and a string count fail."""
    web = yaml.safe_load(yaml.safe_dump(of_kind("Deployment")["web"]))
    container(web)["readinesProbe"] = container(web).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSIONS[-1], strict=True)
    web = yaml.safe_load(yaml.safe_dump(of_kind("Deployment")["web"]))
    web["spec"]["replicas"] = "2"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSIONS[-1], strict=True)


def test_it_keeps_everything_in_one_namespace_created_first():
    files = applied_files()
    assert [d["kind"] for d in _documents(files[0])] == ["Namespace"], "kubectl applies files in name order"
    for doc in manifests():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    seen = set()
    for doc in manifests():
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{key} defined twice"
        seen.add(key)


# --- The web, Celery and the migrations -------------------------------------------------------


def test_it_runs_the_web_with_the_daphne_command_line_of_config_serve():
    web = of_kind("Deployment")["web"]
    assert argv(container(web, "web")) == daphne_command("0.0.0.0", WORKER_PORT)
    assert container(web, "web")["image"] == WEB_IMAGE
    assert container(web, "web")["ports"] == [{"name": "http", "containerPort": WORKER_PORT}]


def test_it_scales_the_web_with_a_horizontal_pod_autoscaler():
    hpa = of_kind("HorizontalPodAutoscaler")["web"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
    # Utilization is measured against the request: without one the autoscaler does nothing.
    for name in resources:
        assert name in container(of_kind("Deployment")["web"], "web")["resources"]["requests"], name


def test_it_probes_the_web_on_its_health_endpoints():
    web = container(of_kind("Deployment")["web"], "web")
    assert web["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    assert web["livenessProbe"]["httpGet"] == {"path": LIVE_PATH, "port": "http"}


def test_it_runs_celery_worker_and_beat_from_the_web_image():
    deployments = of_kind("Deployment")
    worker, beat = container(deployments["celery-worker"]), container(deployments["celery-beat"])
    assert argv(worker) == ["celery", "-A", "config", "worker", "-l", "info"]
    assert argv(beat)[:6] == ["celery", "-A", "config", "beat", "-l", "info"]
    schedule = argv(beat)[argv(beat).index("--schedule") + 1]
    mounts = [m["mountPath"] for m in beat.get("volumeMounts", [])]
    assert any(schedule.startswith(m + "/") for m in mounts), "beat's schedule file must be on a writable volume"
    assert worker["image"] == beat["image"] == WEB_IMAGE
    # Two beats would run every periodic task twice.
    assert deployments["celery-beat"]["spec"]["replicas"] == 1
    assert deployments["celery-beat"]["spec"]["strategy"] == {"type": "Recreate"}
    assert "celery -A config inspect ping" in " ".join(worker["livenessProbe"]["exec"]["command"])
    assert "celery-beat" not in of_kind("HorizontalPodAutoscaler")


def test_it_migrates_in_a_job_that_the_pods_wait_for():
    job = of_kind("Job")["arena-migrate"]
    script = " ".join(argv(container(job)))
    assert "python manage.py migrate --noinput && python manage.py load_catalogue" in script
    assert container(job)["image"] == WEB_IMAGE
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")
    for name in ("web", "celery-worker", "celery-beat"):
        init = pod_spec(of_kind("Deployment")[name])["initContainers"]
        assert [c["name"] for c in init] == ["wait-for-migrations"], name
        assert "python manage.py migrate --check" in " ".join(argv(init[0])), name
        assert init[0]["image"] == WEB_IMAGE


def test_it_gives_the_web_processes_the_settings_and_secrets():
    for workload in [
        *(of_kind("Deployment")[n] for n in ("web", "celery-worker", "celery-beat")),
        *of_kind("Job").values(),
    ]:
        spec = pod_spec(workload)
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            refs = c["envFrom"]
            assert {"configMapRef": {"name": CONFIG_MAP}} in refs, workload["metadata"]["name"]
            assert {"secretRef": {"name": APP_SECRET}} in refs, workload["metadata"]["name"]


def test_it_sets_only_settings_that_the_web_reads():
    read = settings_env_names()
    unread = {k for k in config_map() if not k.startswith("WORKER_URL_")} - read
    assert not unread, f"arena-config sets variables config/settings.py never reads: {sorted(unread)}"
    assert config_map()["ARENA_CATALOGUE"] == "/app/fixtures/catalogue/production.yaml"
    for name, value in catalogue_thresholds(PRODUCTION).items():
        assert float(config_map()[name]) == float(value), name
    # Secrets stay out of the ConfigMap.
    assert not SECRET_KEYS & set(config_map())


def test_it_names_postgres_and_redis_by_url_only():
    kinds = {doc["kind"] for doc in manifests()}
    assert "StatefulSet" not in kinds, "PostgreSQL and Redis are external services"
    images = {c["image"] for d in of_kind("Deployment").values() for c in pod_spec(d)["containers"]}
    assert not any(i.split("/")[-1].startswith(("postgres", "redis")) for i in images)


# --- Secrets ----------------------------------------------------------------------------------


def test_it_never_applies_a_secret_from_the_repository():
    assert "Secret" not in {doc["kind"] for doc in manifests()}, "secrets are created by hand, see examples/"


def test_it_documents_every_secret_it_reads():
    secrets = example_secrets()
    assert set(secrets[APP_SECRET]["stringData"]) == SECRET_KEYS
    for doc in manifests():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = pod_spec(doc)
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            for ref in c.get("envFrom", []):
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] in secrets
            for env in c.get("env", []):
                key_ref = env.get("valueFrom", {}).get("secretKeyRef")
                if key_ref:
                    assert key_ref["key"] in secrets[key_ref["name"]]["stringData"], env["name"]


# --- GPU workers ------------------------------------------------------------------------------


def compose_worker_args(slug: str) -> list[str]:
    import shlex

    service = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"][f"worker-{slug}"]
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_it_runs_one_gpu_worker_per_catalogue_model():
    models = {m["slug"]: m for m in production()}
    assert set(workers()) == set(models)
    for slug, deployment in workers().items():
        c = container(deployment)
        assert c["image"] == GPU_IMAGE, slug
        command = argv(c)
        assert command[:4] == ["python", "-m", "inference_workers", "serve"], slug
        args = parse_serve(command[4:])
        assert (args.engine, args.model, args.served_model_name) == ("vllm", models[slug]["hf_id"], slug)
        assert (args.host, args.port) == ("0.0.0.0", WORKER_PORT), f"{slug} must listen beyond the pod"
        assert args.ready_timeout >= 1800, "the first start downloads the weights"
        # The same worker as docker-compose.yml's, GPU layout included.
        assert command == compose_worker_args(slug), slug


def test_it_requests_the_gpus_each_worker_lists():
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    for slug, deployment in workers().items():
        c = container(deployment)
        args = parse_serve(argv(c)[4:])
        requested = c["resources"]["requests"]["nvidia.com/gpu"]
        assert requested == c["resources"]["limits"]["nvidia.com/gpu"], slug
        # The device plugin numbers a pod's GPUs from 0: --gpus must list exactly those.
        assert args.gpus == list(range(requested)), slug
        device = compose[f"worker-{slug}"]["deploy"]["resources"]["reservations"]["devices"][0]
        assert len(device["device_ids"]) == requested, slug
        if requested > 1:  # tensor parallelism needs shared memory beyond the container default
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
            assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory", slug
        # Each new pod needs the GPUs and the volume the old one holds.
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}, slug


def test_it_keeps_the_weights_and_the_token_of_each_worker():
    claims = of_kind("PersistentVolumeClaim")
    for slug, deployment in workers().items():
        c = container(deployment)
        env = {e["name"]: e for e in c["env"]}
        assert env["HF_HUB_OFFLINE"]["value"] == "0", f"{slug}: the engine would not download its weights"
        assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True, slug
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        cache = [name for name, path in mounts.items() if path == env["HF_HOME"]["value"]]
        assert len(cache) == 1, slug
        claim = volumes[cache[0]]["persistentVolumeClaim"]["claimName"]
        assert claim in claims, slug


def test_it_gives_the_web_and_every_worker_the_same_worker_token(monkeypatch):
    """The web sends ARENA_WORKER_TOKEN (from arena-secrets, envFrom); each worker requires it."""
    import argparse

    from inference_workers.__main__ import serve_parser

    for slug, deployment in workers().items():
        env = {e["name"]: e for e in container(deployment)["env"]}
        ref = env[WORKER_TOKEN]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (APP_SECRET, WORKER_TOKEN), slug
        assert not ref.get("optional"), f"{slug} would serve without a token"
    assert {"secretRef": {"name": APP_SECRET}} in container(of_kind("Deployment")["web"], "web")["envFrom"]
    # The worker takes its --api-key from that variable when its command line gives none.
    monkeypatch.setenv(WORKER_TOKEN, "s3cret")
    parser = argparse.ArgumentParser()
    serve_parser(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["serve", "--engine", "vllm", "--model", "m"]).api_key == "s3cret"


def test_it_probes_the_workers_on_their_health_endpoint():
    from inference_workers.app import router

    assert "/health" in {route.path for route in router.routes}
    for slug, deployment in workers().items():
        c = container(deployment)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}, (slug, probe)
        startup = c["startupProbe"]
        args = parse_serve(argv(c)[4:])
        assert startup["periodSeconds"] * startup["failureThreshold"] >= args.ready_timeout, (
            f"{slug}: the startup probe gives up before the weights can download"
        )


def test_it_points_every_worker_url_at_the_service_of_its_model():
    from urllib.parse import urlsplit

    models = {m["worker"]["env"]: m["slug"] for m in production()}
    urls = {k: v for k, v in config_map().items() if k.startswith("WORKER_URL_")}
    assert set(urls) == set(models), "one WORKER_URL_* per catalogue model, none other"
    services = of_kind("Service")
    for variable, url in urls.items():
        parts = urlsplit(url)
        service = services[parts.hostname]
        assert parts.hostname == f"worker-{models[variable]}"
        assert [p["port"] for p in service["spec"]["ports"]] == [parts.port], url
        deployment = workers()[models[variable]]
        assert matches(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]), url


def test_it_selects_each_deployment_by_its_own_labels_only():
    deployments = of_kind("Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert matches(selector, deployment["spec"]["template"]["metadata"]["labels"]), name
        others = [
            n
            for n, d in deployments.items()
            if n != name and matches(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert not others, f"{name}'s selector also takes the pods of {others}"
    for name, service in of_kind("Service").items():
        targets = [
            n
            for n, d in deployments.items()
            if matches(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert targets == [name], f"Service {name} selects {targets}"


def test_it_mounts_only_claims_it_declares():
    claims = set(of_kind("PersistentVolumeClaim"))
    used = {
        v["persistentVolumeClaim"]["claimName"]
        for d in [*of_kind("Deployment").values(), *of_kind("Job").values()]
        for v in pod_spec(d).get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    assert used == claims


def test_it_routes_the_ingress_to_the_web_service():
    ingress = of_kind("Ingress")["arena"]
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == set(config_map()["ALLOWED_HOSTS"].split(","))
    assert {f"https://{h}" for h in hosts} == set(config_map()["CSRF_TRUSTED_ORIGINS"].split(","))
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"] == {"name": "web", "port": {"name": "http"}}
    assert config_map()["ARENA_HTTPS"] == "true" and ingress["spec"]["tls"]
