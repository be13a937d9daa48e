#!/usr/bin/env python3
"""Single-image pulls, side by side in one run: `preflight check --depth blobs` against what the
node would do — `ctr images pull` (containerd, the runtime's own pull: manifest, config, every
layer, unpack) and `podman pull` (containers/image, CRI-O's library) — on a plain-HTTP
docker-registry on loopback, for a small image and for one with a 16 MiB layer, cold each time
(the runtime's content and the image are removed between runs; preflight keeps nothing between
runs). Then a batch: N distinct small images, preflight over all of them at once against ctr
pulling them with xargs -P.

Prints a table with the median of --runs runs and the ratios against issue 13's targets (a single
image at --depth blobs at least 5x faster than containerd's pull of a small image, 20x for a
16 MiB layer). Needs root (containerd and podman run as root here) and the Debian packages
docker-registry, containerd and podman (scripts/test.sh installs them).

Usage: scripts/bench-pull.py [--runs N] [--batch N]
PREFLIGHT_BIN=path uses that binary instead of building target/release/preflight.
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(url, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    sys.exit(f"{what} did not start")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, dict(r.headers)


def push_blob(base, repo, data):
    digest = sha(data)
    _, h = http("POST", f"{base}/v2/{repo}/blobs/uploads/")
    loc = h["Location"]
    if not loc.startswith("http"):
        loc = base + loc
    sep = "&" if "?" in loc else "?"
    http("PUT", f"{loc}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
    return digest


def push_image(base, repo, tag, layer):
    """An OCI image with one gzip-free tar layer (the bytes of `layer` as the tar)."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        }
    ).encode()
    cfg = push_blob(base, repo, config)
    lay = push_blob(base, repo, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": lay, "size": len(layer)}],
        }
    ).encode()
    http("PUT", f"{base}/v2/{repo}/manifests/{tag}", manifest,
         {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})


def tar_of(name, size):
    """A tar archive holding one file of `size` pseudo-random bytes (incompressible, like a real layer)."""
    import io
    import random
    import tarfile

    rng = random.Random(size)
    payload = rng.randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = 0
        t.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def timed(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout.decode()}\n{r.stderr.decode()}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    for tool in ("docker-registry", "containerd", "ctr", "podman"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install docker-registry containerd podman")
    binary = os.environ.get("PREFLIGHT_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "preflight-cli"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", "target"), "release", "preflight")

    work = tempfile.mkdtemp(prefix="bench-pull-")
    procs = []
    try:
        port = free_port()
        with open(f"{work}/registry.yml", "w") as f:
            f.write(f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {work}/data}}}}\n"
                    f"http: {{addr: 127.0.0.1:{port}, secret: bench}}\n")
        reg = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(reg)
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/v2/", reg, "docker-registry")

        sock = f"{work}/containerd.sock"
        with open(f"{work}/containerd.toml", "w") as f:
            f.write(f'version = 2\nroot = "{work}/ctr-root"\nstate = "{work}/ctr-state"\n'
                    f'[grpc]\n  address = "{sock}"\n'
                    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", '
                    '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", '
                    '"io.containerd.snapshotter.v1.aufs"]\n')
        ctrd = subprocess.Popen(["containerd", "--config", f"{work}/containerd.toml"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{work}/containerd.log", "w"))
        procs.append(ctrd)
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        ctr = ["ctr", "--address", sock, "-n", "bench"]

        print(f"seeding {base}…", file=sys.stderr)
        images = {"small": tar_of("hello", 4 * 1024), "16 MiB layer": tar_of("big", 16 * 1024 * 1024)}
        for i, (label, layer) in enumerate(images.items()):
            push_image(base, f"bench/img{i}", "v1", layer)
        small = images["small"]
        for i in range(args.batch):
            # Distinct layers, so no pull is served from what an earlier one fetched.
            push_image(base, f"bench/batch{i}", "v1", small + i.to_bytes(4, "big"))

        host = f"127.0.0.1:{port}"
        pf = [binary, "check", "-q", "-o", "json", "--depth", "blobs", "--plain-http", host]

        def ctr_cold(ref):
            subprocess.run(ctr + ["images", "rm", "--sync", ref], capture_output=True)
            # Drop every blob the image left, so the next pull fetches them all again.
            out = subprocess.run(ctr + ["content", "ls", "-q"], capture_output=True, text=True).stdout.split()
            if out:
                subprocess.run(ctr + ["content", "rm"] + out, capture_output=True)

        def podman_cmd(root):
            return ["podman", "--root", f"{root}/r", "--runroot", f"{root}/rr", "--tmpdir", f"{root}/t",
                    "--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs"]

        conf = f"{work}/registries.conf"
        with open(conf, "w") as f:
            f.write(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
        penv = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf)

        rows = []
        for i, label in enumerate(images):
            ref = f"{host}/bench/img{i}:v1"
            t_pf, t_ctr, t_pod = [], [], []
            for run in range(args.runs):
                t_pf.append(timed(pf + [ref]))
                ctr_cold(ref)
                t_ctr.append(timed(ctr + ["images", "pull", "--plain-http", ref]))
                root = f"{work}/podman-{i}-{run}"
                t_pod.append(timed(podman_cmd(root) + ["pull", "-q", ref], env=penv))
                shutil.rmtree(root, ignore_errors=True)
            rows.append((label, statistics.median(t_pf), statistics.median(t_ctr), statistics.median(t_pod)))

        batch = [f"{host}/bench/batch{i}:v1" for i in range(args.batch)]
        t0 = time.perf_counter()
        timed(pf + batch)
        t_pf_batch = time.perf_counter() - t0
        with open(f"{work}/batch.txt", "w") as f:
            f.write("\n".join(batch) + "\n")
        t_ctr_batch = timed(["sh", "-c", f"xargs -a {work}/batch.txt -P 8 -n 1 "
                             + " ".join(ctr) + " images pull --plain-http >/dev/null"])

        print(f"\nsingle image, median of {args.runs} cold runs (seconds)")
        print(f"{'image':<14} {'preflight --depth blobs':>24} {'ctr images pull':>16} {'podman pull':>12} {'ctr/preflight':>14} target")
        for label, p, c, d in rows:
            target = 5 if label == "small" else 20
            ratio = c / p
            print(f"{label:<14} {p:>24.3f} {c:>16.3f} {d:>12.3f} {ratio:>13.1f}x  >= {target}x {'met' if ratio >= target else 'MISSED'}")
        print(f"\nbatch of {args.batch} distinct small images")
        print(f"preflight --depth blobs, all at once: {t_pf_batch:.3f} s")
        print(f"ctr images pull, xargs -P 8:          {t_ctr_batch:.3f} s  ({t_ctr_batch / t_pf_batch:.1f}x)")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
