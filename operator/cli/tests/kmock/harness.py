"""The `portcullis` binary as a black box against kmock, a mock Kubernetes API server from
PyPI, with a real Envoy bootstrapped to it.

It checks what the in-process stand-in cannot vouch for by itself: the real HTTP client stack
of the binary (kubeconfig, list and watch over HTTP, reconnection) against a server written
by someone else. kmock keeps objects in memory and serves list, watch, get, create, patch and
delete. What it does not do, so what this harness does not claim: resourceVersions (every list
says "...", so each watch replays everything), uid and generation (observedGeneration stays
unset), server-side apply (a patch is a JSON merge), status as a subresource, schemas.

Environment: PORTCULLIS_BIN (the portcullis binary), PORTCULLIS_ENVOY, PORTCULLIS_WASM_DIR.
Exit 0 when every check passed.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp
import aiohttp.web
import kmock

ISTIO = "networking.istio.io/v1"
FILTERS = "portcullis.dev/v1alpha1"
RESOURCES = [
    "networking.istio.io/v1/gateways",
    "networking.istio.io/v1/virtualservices",
    "networking.istio.io/v1/serviceentries",
    "networking.istio.io/v1/destinationrules",
    "portcullis.dev/v1alpha1/gatewayfilters",
    "coordination.k8s.io/v1/leases",
    "events.k8s.io/v1/events",
    "v1/secrets",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def virtual_service(upstream_host: str) -> dict:
    return {
        "apiVersion": ISTIO, "kind": "VirtualService",
        "metadata": {"name": "dev", "namespace": "default"},
        "spec": {"hosts": ["dev.example.com"], "gateways": ["gw"],
                 "http": [{"route": [{"destination": {"host": upstream_host}}]}]},
    }


def service_entry(name: str, port: int) -> dict:
    return {
        "apiVersion": ISTIO, "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"hosts": [f"{name}.demo.local"], "location": "MESH_INTERNAL",
                 "resolution": "STATIC",
                 "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                 "endpoints": [{"address": "127.0.0.1", "ports": {"http": port}}]},
    }


async def upstream(name: str) -> int:
    async def answer(_request):
        return aiohttp.web.json_response({"upstream": name})
    app = aiohttp.web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    return port


async def eventually(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def routed_to(session: aiohttp.ClientSession, port: int) -> str | None:
    try:
        async with session.get(f"http://127.0.0.1:{port}/", headers={"Host": "dev.example.com"}) as r:
            if r.status != 200:
                return None
            return (await r.json(content_type=None)).get("upstream")
    except (aiohttp.ClientError, json.JSONDecodeError, asyncio.TimeoutError):
        return None


async def main() -> int:
    binary = os.environ["PORTCULLIS_BIN"]
    envoy = os.environ["PORTCULLIS_ENVOY"]
    workdir = tempfile.mkdtemp(prefix="portcullis-kmock-")
    dev, test = await upstream("dev"), await upstream("test")
    gateway_port, xds_port = free_port(), free_port()

    emulator = kmock.KubernetesEmulator()
    for resource in RESOURCES:
        emulator.resources[resource] = kmock.ResourceInfo()
    objects = [
        ("networking.istio.io/v1/gateways", {
            "apiVersion": ISTIO, "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "default"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": gateway_port, "name": "http", "protocol": "HTTP"},
                                  "hosts": ["dev.example.com"]}]}}),
        ("networking.istio.io/v1/serviceentries", service_entry("dev", dev)),
        ("networking.istio.io/v1/serviceentries", service_entry("test", test)),
        ("networking.istio.io/v1/virtualservices", virtual_service("dev.demo.local")),
        ("portcullis.dev/v1alpha1/gatewayfilters", {
            "apiVersion": FILTERS, "kind": "GatewayFilter",
            "metadata": {"name": "ingress", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"istio": "ingressgateway"}}}}),
    ]
    for resource, body in objects:
        emulator.objects[kmock.resource(resource), "default", body["metadata"]["name"]] = body

    async with kmock.Server(emulator, host="127.0.0.1") as server:
        api = f"http://127.0.0.1:{server.port}"
        kubeconfig = os.path.join(workdir, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters: [{{name: kmock, cluster: {{server: "{api}"}}}}]
users: [{{name: kmock, user: {{token: kmock}}}}]
contexts: [{{name: kmock, context: {{cluster: kmock, user: kmock, namespace: default}}}}]
current-context: kmock
""")
        controller_log = open(os.path.join(workdir, "controller.log"), "w")
        controller = subprocess.Popen(
            [binary, "controller", "--listen", f"127.0.0.1:{xds_port}",
             "--bind-address", "127.0.0.1", "--access-log", ""],
            env={**os.environ, "KUBECONFIG": kubeconfig, "RUST_LOG": "info"},
            stdout=subprocess.DEVNULL, stderr=controller_log)
        bootstrap = subprocess.run(
            [binary, "bootstrap", "--xds-address", f"127.0.0.1:{xds_port}",
             "--node-id", "kmock-gateway", "--admin-port", str(free_port()),
             "--gateway-labels", "istio=ingressgateway", "--gateway-namespace", "default"],
            check=True, capture_output=True).stdout
        bootstrap_path = os.path.join(workdir, "bootstrap.json")
        with open(bootstrap_path, "wb") as f:
            f.write(bootstrap)
        envoy_proc = subprocess.Popen(
            [envoy, "-c", bootstrap_path, "--concurrency", "1", "--disable-hot-restart",
             "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "envoy.log"), "w"))
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async def served_by(name):
                    return await routed_to(session, gateway_port) == name

                await eventually("dev.example.com routed to dev", lambda: served_by("dev"))
                print("ok: the resources listed from kmock serve through Envoy")

                async def filter_status():
                    async with session.get(
                            f"{api}/apis/portcullis.dev/v1alpha1/namespaces/default/gatewayfilters/ingress") as r:
                        status = (await r.json()).get("status") or {}
                    return status if status.get("proxies") == "1/1" else None

                status = await eventually("GatewayFilter status 1/1", filter_status)
                assert status["compiledHash"].startswith("sha256:"), status
                conditions = {c["type"]: c["status"] for c in status["conditions"]}
                assert conditions == {"Accepted": "True", "Programmed": "True", "Degraded": "False"}, conditions
                print(f"ok: GatewayFilter status {status['proxies']}, {status['compiledHash'][:19]}")

                # A change through the API (a merge patch, as kmock does them) is watched and served.
                patch = {"spec": virtual_service("test.demo.local")["spec"]}
                async with session.patch(
                        f"{api}/apis/networking.istio.io/v1/namespaces/default/virtualservices/dev",
                        json=patch, headers={"Content-Type": "application/merge-patch+json"}) as r:
                    assert r.status == 200, await r.text()
                await eventually("dev.example.com routed to test", lambda: served_by("test"))
                print("ok: a VirtualService patched through kmock is followed")

                async def status_follows():
                    s = await filter_status()
                    return s if s and s["compiledHash"] != status["compiledHash"] else None

                await eventually("the status to follow the change", status_follows)
                print("ok: the status follows the change")
        except AssertionError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            controller_log.flush()
            with open(os.path.join(workdir, "controller.log")) as f:
                print(f.read()[-4000:], file=sys.stderr)
            return 1
        finally:
            envoy_proc.kill()
            controller.kill()
            envoy_proc.wait()
            controller.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
