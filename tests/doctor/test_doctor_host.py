"""Checks 5-8 on real sockets, folders, mounts and disk readings of this machine."""
import os
import shutil
import socket
import subprocess

import pytest

from doctor_fakes import GIB, MIB, context, deploy
from vllm_compile.doctor import Context
from vllm_compile.doctor.host import check_cache, check_port, check_shm, check_tokens, port_holders


@pytest.fixture
def listener():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); yields a mounter taking mount options."""
    mounted = []

    def mount(options):
        target = tmp_path / f"mnt{len(mounted)}"
        target.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", str(target)], check=False)


# ---------------------------------------------------------------------------------------------
# 5. Port


def test_port_held_by_this_process_is_named(listener):
    finding = check_port(context(deploy(port=listener)))
    assert finding.status == "fail"
    assert f"port {listener} is in use by" in finding.found and f"(pid {os.getpid()})" in finding.found
    assert "server.port" in finding.fix


def test_free_port_passes():
    port = free_port()
    finding = check_port(context(deploy(port=port)))
    assert (finding.status, finding.found) == ("ok", f"port {port} is free")


def test_port_is_checked_on_the_address_it_is_published_on():
    """A server on another address of the host (here 127.0.0.2) does not hold the port on
    127.0.0.1, where a deployment without an API key publishes it; one with a key publishes
    on every interface, which that server does block."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert check_port(context(deploy(port=port))).status == "ok"
        keyed = check_port(context(deploy(port=port, api_key_env="KEY")))
        assert keyed.status == "fail" and f"port {port} is in use" in keyed.found


def test_without_spec_port_8000_is_checked():
    assert "port 8000" in check_port(Context()).found


def test_port_holders_from_a_proc_tree(tmp_path):
    # Hand-written /proc: port 8000 = 0x1F40 listening (state 0A) on inode 4242, held by pid 77.
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (tmp_path / "net" / "tcp").write_text(
        header
        + "   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n"
        + "   1: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1\n")
    (tmp_path / "net" / "tcp6").write_text(header)
    for pid, target, comm in ((77, "socket:[4242]", "docker-proxy"), (78, "socket:[5555]", "other")):
        fd = tmp_path / str(pid) / "fd"
        fd.mkdir(parents=True)
        os.symlink(target, fd / "3")
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    assert port_holders(8000, str(tmp_path)) == [(77, "docker-proxy")]
    assert port_holders(8001, str(tmp_path)) == [(78, "other")]
    assert port_holders(8002, str(tmp_path)) == []


# ---------------------------------------------------------------------------------------------
# 6. Tokens


def test_gated_model_without_token_fails():
    finding = check_tokens(context(deploy(model_id="meta-llama/Llama-3.1-8B-Instruct", gated=True)))
    assert finding.status == "fail" and "gated and HF_TOKEN is not set" in finding.found
    assert "export HF_TOKEN=" in finding.fix


def test_token_value_is_never_shown():
    secret = "hf_Sup3rSecretValue"
    finding = check_tokens(context(deploy(gated=True), environ={"HF_TOKEN": secret}))
    assert finding.status == "ok" and secret not in str(finding) and "value not shown" in finding.found
    odd = check_tokens(context(deploy(gated=True), environ={"HF_TOKEN": "not-a-token "}))
    assert odd.status == "warn" and "not-a-token" not in str(odd)


def test_public_or_local_model_needs_no_token():
    assert check_tokens(context(deploy(gated=False))).status == "ok"
    local = check_tokens(context(deploy(path="models/llama", gated=True)))
    assert local.status == "ok" and "local folder" in local.found


def test_api_key_variable_must_be_set():
    missing = check_tokens(context(deploy(api_key_env="VLLM_KEY")))
    assert missing.status == "fail" and "VLLM_KEY" in missing.found
    assert check_tokens(context(deploy(api_key_env="VLLM_KEY"), environ={"VLLM_KEY": "k"})).status == "ok"


# ---------------------------------------------------------------------------------------------
# 7. Hugging Face cache


def test_writable_cache_passes_and_leaves_nothing_behind(tmp_path):
    finding = check_cache(Context(environ={"HF_HOME": str(tmp_path)}))
    assert (finding.status, finding.found) == ("ok", f"{tmp_path} is writable")
    assert list(tmp_path.iterdir()) == []


def test_missing_cache_that_can_be_created(tmp_path):
    cache = tmp_path / "a" / "huggingface"
    finding = check_cache(Context(environ={"HF_HOME": str(cache)}))
    assert finding.status == "ok" and "does not exist yet and can be created" in finding.found
    assert list(tmp_path.iterdir()) == []


def test_default_cache_is_under_home(tmp_path):
    finding = check_cache(Context(environ={}, home=str(tmp_path)))
    assert str(tmp_path / ".cache" / "huggingface") in finding.found


def test_cache_whose_parent_is_a_file_fails(tmp_path):
    (tmp_path / "file").write_text("x")
    finding = check_cache(Context(environ={"HF_HOME": str(tmp_path / "file" / "hf")}))
    assert finding.status == "fail" and "is not a folder" in finding.found and "HF_HOME" in finding.fix


def test_read_only_mount_fails(tmpfs):
    # A read-only mount refuses writes even to root, whatever the permission bits say.
    target = tmpfs("ro,size=1m")
    finding = check_cache(Context(environ={"HF_HOME": str(target)}))
    assert finding.status == "fail" and "is not writable" in finding.found and "Read-only file system" in finding.found
    below = check_cache(Context(environ={"HF_HOME": str(target / "hf")}))
    assert below.status == "fail" and f"cannot be created in {target}" in below.found


def test_immutable_folder_fails(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        finding = check_cache(Context(environ={"HF_HOME": str(folder)}))
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert finding.status == "fail" and "Operation not permitted" in finding.found


def test_disk_too_small_for_the_weights(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    short = check_cache(context(deploy(weight_bytes=free + 2 * GIB), environ={"HF_HOME": str(tmp_path)}))
    assert short.status == "fail" and "the weights need" in short.found and "free" in short.fix
    fits = check_cache(context(deploy(weight_bytes=1 * GIB), environ={"HF_HOME": str(tmp_path)}))
    assert fits.status == "ok" and "weights need 1.0 GiB more" in fits.found


def test_cached_weights_need_no_more_disk(tmp_path):
    # 3 GiB of the model are already in the cache (a sparse blob: its size, not its disk use, counts).
    blobs = tmp_path / "hub" / "models--org--big" / "blobs"
    blobs.mkdir(parents=True)
    with open(blobs / "0123abcd", "wb") as f:
        f.truncate(3 * GIB)
    (blobs / "4567.incomplete").write_bytes(b"x" * MIB)  # a broken download does not count
    free = shutil.disk_usage(tmp_path).free
    finding = check_cache(context(deploy(model_id="org/big", weight_bytes=free + 1 * GIB),
                                  environ={"HF_HOME": str(tmp_path)}))
    assert finding.status == "ok"


def test_small_tmpfs_disk(tmpfs):
    target = tmpfs("size=8m")
    finding = check_cache(context(deploy(weight_bytes=16 * MIB), environ={"HF_HOME": str(target)}))
    assert finding.status == "fail" and "8 MiB free and the weights need 16 MiB more" in finding.found


# ---------------------------------------------------------------------------------------------
# 8. Shared memory


def test_single_gpu_needs_no_shm():
    assert check_shm(context(deploy(gpus=1))).status == "ok"
    assert check_shm(Context()) is None


def test_small_shm_fails_for_tensor_parallel(tmpfs):
    # Docker's default /dev/shm is 64 MiB: too small for TP workers.
    target = tmpfs("size=64m")
    finding = check_shm(context(deploy(gpus=2), shm_path=str(target)))
    assert finding.status == "fail" and "need at least 1.0 GiB" in finding.found and "remount" in finding.fix
    bare = check_shm(context(deploy(gpus=2), shm_path=str(target), formats=("serve",)))
    assert "vllm serve uses it directly" in bare.found


def test_large_shm_passes(tmpfs):
    target = tmpfs("size=2g")  # tmpfs reserves nothing up front
    finding = check_shm(context(deploy(gpus=2), shm_path=str(target)))
    assert finding.status == "ok" and "2.0 GiB free of 2.0 GiB" in finding.found and "ipc: host" in finding.found


def test_missing_shm_fails(tmp_path):
    finding = check_shm(context(deploy(gpus=4), shm_path=str(tmp_path / "shm")))
    assert finding.status == "fail" and "is missing" in finding.found
