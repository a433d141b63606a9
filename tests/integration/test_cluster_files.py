"""Files through a real Dask cluster (two TLS workers, hostops.testing.dask_cluster):
``put``, ``get`` and a playbook's ``put:``/``template:``/``script:``, compared byte for
byte with the same commands run locally, and a 50 MB upload with the memory of the
controller and of the shard processes bounded.

The fleet's hosts are all this machine (one user): a put to one path is done on one
host, a playbook puts to a path of each host's own (``{{ inventory_hostname }}``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.fleet import SshdFleet
from hostops.testing.pytest_plugin import child_pids, json_results, run_hostops, start_hostops

pytestmark = pytest.mark.integration


TIMINGS = {"duration_s", "connect_s", "started", "t"}


def env_of(cluster: DaskCluster) -> dict[str, str]:
    return {**os.environ, **cluster.certs.client_environment()}


def tree(root: Path) -> dict[str, bytes | None]:
    """Every entry below ``root``: a file's bytes, None for a directory."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def make_source(root: Path) -> Path:
    """A tree of files: nested, empty, binary, a link to a file (its content is sent)."""
    src = root / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "empty-dir").mkdir()
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    (src / "sub" / "deeper" / "c").write_bytes(b"")
    (src / "link").symlink_to(src / "a.txt")
    return src


def cluster_args(cluster: DaskCluster) -> list[str]:
    return ["--cluster", cluster.address]


def test_put_and_get_through_the_cluster_write_what_local_runs_write(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:4])
    src = make_source(tmp_path)
    env = env_of(dask_cluster)
    results = {}
    for where, extra in (("local", []), ("cluster", cluster_args(dask_cluster))):
        remote = tmp_path / f"remote-{where}"
        remote.mkdir()
        for what in (src, src / "a.txt"):
            r = run_hostops(
                "put", str(what), f"{remote}/", "-i", str(inv), "-l", "host01", "-o", "json",
                *extra, env=env,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
            results[(where, "put", what.name)] = json_results(r.stdout)["host01"]
        assert tree(remote) == tree(src) | {"a.txt": b"alpha\n"}
        fetched = tmp_path / f"fetched-{where}"
        for round_ in (1, 2):  # the second: nothing changed
            r = run_hostops(
                "get", str(remote), str(fetched), "-i", str(inv), "-o", "json", *extra, env=env
            )
            assert r.returncode == 0, r.stderr
            got = json_results(r.stdout)
            assert len(got) == 4
            results[(where, "get", round_)] = got
        assert len(tree(fetched)) > 4 * len(tree(src))
    assert tree(tmp_path / "fetched-local").keys() == {
        k.replace("remote-cluster", "remote-local") for k in tree(tmp_path / "fetched-cluster")
    }
    local_files = tree(tmp_path / "fetched-local")
    for name, content in tree(tmp_path / "fetched-cluster").items():
        assert local_files[name.replace("remote-cluster", "remote-local")] == content, name

    def same(key: tuple[str, str, object]) -> None:
        def facts(found: dict[str, object]) -> str:  # not its timings
            kept = {k: v for k, v in sorted(found.items()) if k not in TIMINGS}
            return str(kept).replace("-cluster", "-local")

        here, there = results[("local", *key)], results[("cluster", *key)]
        if key[0] == "get":  # per host
            assert there.keys() == here.keys()
            for host in here:
                assert facts(there[host]) == facts(here[host]), (key, host)
        else:
            assert facts(there) == facts(here), key

    for key in (("put", "src"), ("put", "a.txt"), ("get", 1), ("get", 2)):
        same(key)
    assert {r["changed"] for r in results[("cluster", "get", 1)].values()} == {True}
    assert {r["changed"] for r in results[("cluster", "get", 2)].values()} == {False}


def test_a_playbooks_put_template_and_script_through_the_cluster(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:4])
    src = make_source(tmp_path)
    (tmp_path / "conf.j2").write_text("host={{ inventory_hostname }} n={{ 6 * 7 }}\n")
    (tmp_path / "script.sh").write_text('echo "script $1 on $(basename "$PWD")"\n')
    book = tmp_path / "book.yaml"
    book.write_text(
        "- hosts: all\n  tasks:\n"
        "    - name: dir\n      run: mkdir -p {{ out }}/{{ inventory_hostname }}\n"
        f"    - name: tree\n      put: {{src: {src}, dest: '{{{{ out }}}}/{{{{ inventory_hostname }}}}/'}}\n"
        f"    - name: conf\n      template: {{src: {tmp_path}/conf.j2,"
        " dest: '{{ out }}/{{ inventory_hostname }}/conf'}\n"
        "    - name: script\n      script: script.sh arg1\n"
        "      cwd: '{{ out }}/{{ inventory_hostname }}'\n"
    )
    outs = {}
    for where, extra in (("local", []), ("cluster", cluster_args(dask_cluster))):
        out = tmp_path / f"out-{where}"
        r = run_hostops(
            "play", str(book), "-i", str(inv), "-e", f"out={out}", "--no-record", *extra,
            env=env_of(dask_cluster),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        outs[where] = r.stdout.replace(str(out), "OUT")
        assert tree(out) == tree(tmp_path / "out-local")
    assert outs["cluster"].count("script arg1 on host") == 4
    assert sorted(outs["cluster"].splitlines()) == sorted(outs["local"].splitlines())
    assert (tmp_path / "out-cluster" / "host03" / "conf").read_text() == "host=host03 n=42\n"


def _shards(workers: list[int]) -> list[int]:
    found = []
    stack = list(workers)
    while stack:
        pid = stack.pop()
        for child in child_pids(pid):
            stack.append(child)
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"hostops.cluster.shard" in cmdline:
                found.append(child)
    return found


def _hwm_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # None for a process that has exited and not been reaped yet (a zombie has no VmHWM):
    # the sampler thread died on it once (StopIteration) and stopped sampling the rest.
    return next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:")), None)


def _put_peaks(cluster: DaskCluster, inv: Path, src: Path, dest: str) -> dict[str, int]:
    """Put ``src``; the peak RSS (VmHWM, KiB) of the controller's processes and of the
    shard processes, the last read before each ended."""
    workers = [w.process.pid for w in cluster.workers.values() if w.process is not None]
    p = start_hostops(
        "put", str(src), dest, "-i", str(inv), "-o", "json", "--no-record",
        *cluster_args(cluster), env=env_of(cluster),
    )  # fmt: skip
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            for pid in [p.pid, *child_pids(p.pid), *_shards(workers)]:
                hwm = _hwm_kib(pid)
                if hwm is not None:
                    peaks[pid] = max(peaks.get(pid, 0), hwm)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out, err = p.communicate(timeout=300)
    finally:
        done.set()
        sampler.join()
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert {r["status"] for r in json_results(out).values()} == {"ok"}
    shards = [pid for pid in peaks if pid != p.pid and pid not in child_pids(p.pid)]
    return {
        "controller": peaks[p.pid],
        "shard": max((peaks[s] for s in shards if s in peaks), default=0),
    }


def test_a_50_mb_put_keeps_the_controller_and_the_shards_bounded(
    dask_cluster: DaskCluster, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """The same put of a 1 KB file and of a 50 MB file: the peak memory of the
    controller and of the shard processes grows by far less than the file (chunks and a
    window of 4 MB in flight), and the file arrives whole."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(os.urandom(1024))
    with open(big, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    dest = tmp_path / "remote"
    dest.mkdir()
    base = _put_peaks(dask_cluster, inv, small, f"{dest}/")
    peak = _put_peaks(dask_cluster, inv, big, f"{dest}/")
    assert (dest / "big").read_bytes() == big.read_bytes()
    print({k: (base[k] // 1024, peak[k] // 1024) for k in base}, "MiB")
    assert base["shard"] > 0 and peak["shard"] > 0, (base, peak)
    for hop in ("controller", "shard"):
        assert peak[hop] - base[hop] < 24 * 1024, (hop, base, peak)
