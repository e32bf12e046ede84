"""deploy/k8s run for real with `podman kube play`: the base kustomization
(rendered by deploy/k8s/render.py) as it is, but for what a single podman
host needs, then a booking through its gateway. docs/deploy.md, "What was
proven here".

What is changed for podman, and why:
- host networking (`hostNetwork: true`), so the ports come from the
  ConfigMap: free ports, and the services reach each other at 127.0.0.1
  (HC_<SERVICE>_HOST) instead of through Kubernetes Services and DNS;
- one gateway replica (two would share one host port), and no container
  `ports` (podman refuses port mappings with host networking; the probes
  name the port by number instead of by name);
- HC_PAYMENT_TIMEOUT_MS=5000, as in the end-to-end harness;
- every name gets a per-run prefix, so a run never meets another's pods,
  volume or secret;
- the Secret's files come from a host directory (a `hostPath` volume in
  place of the `secret` volume): podman 4.3 fills the volume it makes for a
  Secret only after the first container that mounts it has started, so that
  pod (order, in a failed run) read an empty HC_SECRETS_DIR, made its own
  keys, and payment refused its signed calls (403 -> 503 payment_unavailable).
  What HC_SECRETS_DIR holds is the same: one file per secret.

The overlay kafka-postgres is played the same way against a Kafka broker
and a PostgreSQL server the test starts (scripts/kafka.sh, scripts/postgres.sh).

Played: the ConfigMap (env with envFrom), the PersistentVolumeClaim (a podman
volume the four service pods share, as on one node), the Secret's keys as
files under HC_SECRETS_DIR, the Deployments with their security contexts (user 10001,
read-only root file system, emptyDir run directories) and probes. Not played,
validated only (make deploy-check): Services, HorizontalPodAutoscalers,
PodDisruptionBudgets, NetworkPolicies, the Namespace."""

import base64
import os
import secrets
import uuid

import yaml

import hc
import render
from conftest import ROOT, podman

PLAYED = {"ConfigMap", "PersistentVolumeClaim", "Deployment"}


def podman_manifests(prefix, ports, image, kustomization="base", settings=None,
                     secrets_dir=None):
    """A kustomization of deploy/k8s, rendered, as podman plays it (see
    above), with settings (HC_*: value) added to its ConfigMap and the
    Secret's volume a host directory (secrets_dir) holding its files."""
    docs = [d for d in render.render(os.path.join(ROOT, "deploy", "k8s", kustomization))
            if d["kind"] in PLAYED]
    for d in docs:
        d["metadata"].pop("namespace", None)
        d["metadata"]["name"] = prefix + d["metadata"]["name"]
        if d["kind"] == "ConfigMap":
            data = d["data"]
            data.update({"HC_BIND_ADDR": "127.0.0.1",
                         "HC_PUBLIC_URL": "http://localhost:%d" % ports["gateway"],
                         "HC_ORDER_URL": "http://127.0.0.1:%d" % ports["order"],
                         "HC_PAYMENT_URL": "http://127.0.0.1:%d" % ports["payment"]})
            for name, port in ports.items():
                data["HC_%s_PORT" % name.upper()] = str(port)
                if name != "gateway":
                    data["HC_%s_HOST" % name.upper()] = "127.0.0.1"
            # as the e2e harness: 610 ms (the original's) is for a quiet
            # machine; a first booking in pods just started on a busy one
            # took longer and was refused (503 payment_unavailable)
            data["HC_PAYMENT_TIMEOUT_MS"] = "5000"
            data.update(settings or {})
        if d["kind"] == "Deployment":
            spec = d["spec"]["template"]["spec"]
            spec["hostNetwork"] = True
            d["spec"]["replicas"] = 1
            for c in spec["containers"]:
                c["image"] = image
                for ef in c.get("envFrom", []):
                    ef["configMapRef"]["name"] = prefix + ef["configMapRef"]["name"]
                name = d["metadata"]["name"][len(prefix):]
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe in c:
                        c[probe]["httpGet"]["port"] = ports[name]
                # podman maps container ports only on its own networks
                del c["ports"]
            for v in spec["volumes"]:
                if "persistentVolumeClaim" in v:
                    v["persistentVolumeClaim"]["claimName"] = \
                        prefix + v["persistentVolumeClaim"]["claimName"]
                if "secret" in v:
                    del v["secret"]
                    v["hostPath"] = {"path": str(secrets_dir), "type": "Directory"}
    return docs


def play_and_book(image, tmp_path, kustomization="base", settings=None):
    """Plays the kustomization under podman with a fresh prefix, checks
    every pod ready, the probes public, the gateway's health over all pods,
    then books with a token signed by the Secret's key and waits for the
    booking's events to reach mypage; removes everything it played."""
    prefix = "hct%s-" % uuid.uuid4().hex[:6]
    names = ["gateway", "order", "reservation", "payment", "notification"]
    ports = dict(zip(names, hc.free_ports(len(names))))
    # the Secret's keys, one file each, readable by the pods' user 10001
    jwt = base64.b64encode(secrets.token_bytes(48)).decode()
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    secrets_dir.chmod(0o755)
    for name, value in (("HC_JWT_SECRET", jwt),
                        ("HC_SERVICE_SECRET", base64.b64encode(secrets.token_bytes(48)).decode())):
        (secrets_dir / name).write_text(value)
        (secrets_dir / name).chmod(0o644)
    play_file = tmp_path / "play.yaml"
    play_file.write_text(yaml.safe_dump_all(
        podman_manifests(prefix, ports, image, kustomization, settings, secrets_dir)))
    try:
        podman("kube", "play", str(play_file), timeout=300)
        gw = "http://127.0.0.1:%d" % ports["gateway"]

        def ready():
            try:
                return hc.request("GET", gw + "/actuator/health", timeout=3).status == 200
            except OSError:
                return False
        try:
            hc.wait_until(ready, timeout=90, what="every pod ready behind the gateway")
        except hc.WaitTimeout:
            ps = podman("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=False).stdout
            logs = "".join("--- %s\n%s" % (n, podman("logs", "--tail", "20", n, check=False).stderr)
                           for n in ps.split() if n.startswith(prefix))
            raise AssertionError("not ready:\n%s\n%s" % (ps, logs))

        # the probes the Deployments name are public, on every service's port
        for name in names[1:]:
            for path in ("/actuator/health/readiness", "/actuator/health/liveness"):
                r = hc.request("GET", "http://127.0.0.1:%d%s" % (ports[name], path))
                assert r.status == 200 and r.json["status"] == "UP", (name, path, r)
        health = hc.request("GET", gw + "/actuator/health").json
        assert {k: v["status"] for k, v in health["components"].items()} == dict.fromkeys(
            names, "UP")

        # the secret came from the mounted file: a token signed with it passes
        customer = hc.Client(gw, token=hc.customer_token(secret=jwt))
        r = customer.post("/orders", hc.booking())
        assert r.status == 201, r
        oid = r.json["id"]
        hc.wait_until(lambda: customer.get("/mypages/%d" % oid).status == 200,
                      what="mypage: the events crossed pods (the shared log, or Kafka)")
        assert hc.Client(gw, token=hc.customer_token()).get("/orders/%d" % oid).status == 401

        # the settings as the service sees them: secrets from the files
        out = podman("exec", prefix + "order-pod-0-order", "healthcenter", "config").stdout
        assert "HC_JWT_SECRET='********'" in out and "# file, hidden" in out
        # and every service started with them: none made keys of its own
        for name in names[1:]:
            made = podman("exec", "%s%s-pod-0-%s" % (prefix, name, name), "ls",
                          "/data").stdout.split()
            assert not {"service.key", "jwt.key"} & set(made), (name, made)
    finally:
        podman("kube", "down", str(play_file), check=False, timeout=120)
        # the PVC's volume
        podman("volume", "rm", "-f", prefix + "healthcenter-data", check=False)
        left = [n for n in podman("ps", "-a", "--format", "{{.Names}}").stdout.split() +
                podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
                if n.startswith(prefix)]
        assert not left, "left behind: %s" % left


def test_kube_play_the_base_and_book(image, tmp_path):
    play_and_book(image, tmp_path)


def test_kube_play_the_kafka_postgres_overlay_and_book(image, tmp_path, kafka_broker, pg_server):
    """The overlay on the test session's Kafka broker and PostgreSQL server
    (its PVC gone, /data an emptyDir). HC_DB_URL goes into the ConfigMap here,
    not the Secret: the test server trusts local connections (no password),
    and podman 4.3 cannot take a Secret value that is not base64."""
    db = pg_server.new_database("kube-play-overlay")
    tag = uuid.uuid4().hex[:8]
    play_and_book(image, tmp_path, "overlays/kafka-postgres", {
        "HC_DB_URL": pg_server.url(db), "HC_KAFKA_BROKERS": kafka_broker.brokers,
        "HC_KAFKA_REPLICATION_FACTOR": "1", "HC_TOPIC": "hc-kube-" + tag,
        "HC_KAFKA_GROUP_PREFIX": "k%s-" % tag})
