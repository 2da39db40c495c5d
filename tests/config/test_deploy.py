"""
deploy/k8s/ and deploy/systemd/: validated offline (kubernetes-validate against
a pinned Kubernetes version, systemd-analyze verify) and checked against the
settings and docker-compose.yml, so the three ways of running the app agree.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.config.compose import compose_file, option
from tests.processes import BASE_DIR

K8S = BASE_DIR / "deploy" / "k8s"
SYSTEMD = BASE_DIR / "deploy" / "systemd"
KUBERNETES_VERSION = "1.30.0"
QUEUES = [queue.name for queue in settings.CELERY_TASK_QUEUES]


def documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def deployments() -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: doc
        for name in ("web.yaml", "workers.yaml", "beat.yaml")
        for doc in documents(name)
        if doc["kind"] == "Deployment"
    }


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


# Kubernetes


def test_every_manifest_is_valid_for_the_pinned_kubernetes_version():
    files = sorted(path.name for path in K8S.glob("*.yaml") if path.name != "keda.yaml")
    assert files == [
        "beat.yaml",
        "config.yaml",
        "migrate-job.yaml",
        "web.yaml",
        "workers.yaml",
    ]
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [validate, "-k", KUBERNETES_VERSION, "--strict", *files],
        cwd=K8S,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == 11


def test_the_validator_would_catch_a_mistake(tmp_path):
    broken = (
        (K8S / "web.yaml")
        .read_text()
        .replace("replicas: 2", "replicas: 2\n  replicaz: 2")
    )
    (tmp_path / "web.yaml").write_text(broken)
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [validate, "-k", KUBERNETES_VERSION, "--strict", "web.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "'replicaz' was unexpected" in result.stdout + result.stderr


def test_one_worker_deployment_per_queue_and_nothing_else():
    workers = {
        name: deployment
        for name, deployment in deployments().items()
        if deployment["metadata"]["labels"]["role"] == "worker"
    }
    queues = {
        name: option(container(deployment)["command"], "--queues")
        for name, deployment in workers.items()
    }
    assert queues == {f"jobs-demo-worker-{queue}": queue for queue in QUEUES}
    for deployment in workers.values():
        queue = option(container(deployment)["command"], "--queues")
        spec = deployment["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] > longest_unresumable(queue), queue
        assert spec["securityContext"]["fsGroup"] == 1000  # The image's user.
        probe = container(deployment)["livenessProbe"]["exec"]["command"]
        assert "inspect ping" in probe[-1]


def longest_unresumable(queue: str) -> int:
    """The longest hard time limit of a task on `queue` that cannot go on
    from where it was cut off (a resumable job is handed on instead)."""
    from apps.core.job_task import JobTask
    from config.celery import app

    app.loader.import_default_modules()
    limits = [settings.CELERY_TASK_TIME_LIMIT]
    for name, task in app.tasks.items():
        if name.startswith("celery.") or name.startswith("tests."):
            continue
        if app.amqp.router.route({}, name)["queue"].name != queue:
            continue
        if isinstance(task, JobTask) and task.model.resumable:
            continue
        limits.append(task.time_limit or settings.CELERY_TASK_TIME_LIMIT)
    return max(limits)


# The gunicorn options every way of deploying must give as compose does.
GUNICORN_FLAGS = (
    "--workers",
    "--worker-class",
    "--threads",
    "--timeout",
    "--graceful-timeout",
)


def test_web_runs_composes_command_with_health_and_readiness_probes():
    web = container(deployments()["jobs-demo-web"])
    compose_command = compose_file()["services"]["web"]["command"]
    for flag in GUNICORN_FLAGS:
        assert option(web["command"], flag) == option(compose_command, flag), flag
    (config_map,) = [d for d in documents("config.yaml") if d["kind"] == "ConfigMap"]
    hosts = config_map["data"]["ALLOWED_HOSTS"].split(",")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = web[probe]["httpGet"]
        assert get["path"] == path
        # Django answers only its own host names; the kubelet sends the pod IP.
        assert get["httpHeaders"] == [{"name": "Host", "value": hosts[0]}]
        assert path.strip("/") in str(settings.SECURE_REDIRECT_EXEMPT)
    (service,) = [doc for doc in documents("web.yaml") if doc["kind"] == "Service"]
    assert (
        service["spec"]["selector"]
        == deployments()["jobs-demo-web"]["spec"]["selector"]["matchLabels"]
    )


def test_beat_is_one_replica_recreated_and_checked_as_compose_checks_it():
    beat = deployments()["jobs-demo-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    compose_check = compose_file()["services"]["beat"]["healthcheck"]["test"][1:]
    assert container(beat)["livenessProbe"]["exec"]["command"] == compose_check


def test_every_app_container_reads_the_config_and_the_secret():
    (config_map,) = [
        doc for doc in documents("config.yaml") if doc["kind"] == "ConfigMap"
    ]
    for deployment in deployments().values():
        assert container(deployment)["envFrom"] == [
            {"configMapRef": {"name": "jobs-demo"}},
            {"secretRef": {"name": "jobs-demo"}},
        ]
    # What the settings refuse in production is set right.
    data = config_map["data"]
    assert (data["DEBUG"], data["DEMO_MODE"], data["HTTPS"]) == (
        "False",
        "False",
        "True",
    )


def test_keda_scales_each_worker_on_its_own_queue():
    """kubernetes-validate has no schema for KEDA's ScaledObject: its required
    fields, and what they must name, are checked here."""
    objects = documents("keda.yaml")
    (config_map,) = [
        doc for doc in documents("config.yaml") if doc["kind"] == "ConfigMap"
    ]
    targets = {}
    for scaled in objects:
        assert (scaled["apiVersion"], scaled["kind"]) == (
            "keda.sh/v1alpha1",
            "ScaledObject",
        )
        assert scaled["metadata"]["name"]
        spec = scaled["spec"]
        target = spec["scaleTargetRef"]["name"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert int(metadata["listLength"]) > 0
        assert metadata["addressFromEnv"] in config_map["data"]
        targets[target] = metadata["listName"]
    worker_queues = {
        name: option(container(deployment)["command"], "--queues")
        for name, deployment in deployments().items()
        if deployment["metadata"]["labels"]["role"] == "worker"
    }
    # Every worker scaled, each on the Redis list of the queue it consumes
    # (kombu keeps a queue as a list of the same name).
    assert targets == worker_queues


# systemd


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    env_file = tmp_path / "env"
    env_file.write_text("DEBUG=False\n")
    for unit in SYSTEMD.glob("jobs-demo*"):
        # Where the units point, made real here: this checkout and its venv.
        text = unit.read_text().replace("/srv/jobs-demo", str(BASE_DIR))
        (tmp_path / unit.name).write_text(
            text.replace("/etc/jobs-demo/env", str(env_file))
        )
    worker = (tmp_path / "jobs-demo-worker@.service").read_text()
    units = ["jobs-demo-web.service", "jobs-demo-beat.service", "jobs-demo.target"]
    for queue in QUEUES:
        (tmp_path / f"jobs-demo-worker@{queue}.service").write_text(worker)
        units.append(f"jobs-demo-worker@{queue}.service")
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(f"./{unit}" for unit in units)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Warnings (a bad time value, an unknown key) exit 0: fail on any output.
    assert result.returncode == 0 and not result.stdout + result.stderr, (
        result.stdout + result.stderr
    )


def test_systemd_runs_what_compose_runs():
    web = (SYSTEMD / "jobs-demo-web.service").read_text()
    worker = (SYSTEMD / "jobs-demo-worker@.service").read_text()
    compose_web = compose_file()["services"]["web"]["command"]
    for flag in GUNICORN_FLAGS:
        assert f"{flag} {option(compose_web, flag)}" in web, flag
    assert "--queues=%i" in worker
    from apps.reports.models import Report

    stop = int(worker.split("TimeoutStopSec=")[1].split()[0])
    assert stop > Report.time_limit  # The longest task that cannot resume.
    target = (SYSTEMD / "jobs-demo.target").read_text()
    assert "WantedBy=multi-user.target" in target  # Started at boot.
    readme = (SYSTEMD / "README.md").read_text()
    for queue in QUEUES:
        assert f"jobs-demo-worker@{queue}" in readme
