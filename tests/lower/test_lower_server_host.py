"""server.host: the published port's bind address, secure by default, and the warnings it brings."""
from __future__ import annotations

import lower_builders as b
import pytest
from vllm_compile.lower.container import NVIDIA_ULIMITS


def test_no_api_key_binds_loopback_and_warns():
    low = b.lowered()
    assert low.bind_host == "127.0.0.1"
    [(key, text)] = low.notes
    assert key == "server.api_key_env"
    assert "port 8000 is published on 127.0.0.1 only" in text and "set server.api_key_env" in text


def test_api_key_binds_every_interface_without_a_warning():
    low = b.lowered(dep=b.deployment(server={"api_key_env": "KEY"}))
    assert low.bind_host is None and low.notes == ()


@pytest.mark.parametrize("host, where", [("0.0.0.0", "every interface"), ("::", "every interface"),
                                         ("192.168.1.20", "192.168.1.20")])
def test_publishing_beyond_this_host_without_a_key_still_warns(host, where):
    low = b.lowered(dep=b.deployment(server={"host": host}))
    assert low.bind_host == host
    [(key, text)] = low.notes
    assert key == "server.host"
    assert f"port 8000 is published on {where} without an API key" in text


def test_kubernetes_only_publishes_nothing_on_the_host():
    low = b.lowered(dep=b.deployment(output={"formats": ["kubernetes"]}))
    assert low.notes == ()


def test_nvidia_containers_get_ncclulimits_amd_ones_do_not():
    assert b.lowered().ulimits == NVIDIA_ULIMITS
    assert {(u.name, u.soft, u.hard) for u in NVIDIA_ULIMITS} == {("memlock", -1, -1), ("stack", 67108864, 67108864)}
    assert b.lowered(gpu=b.MI300X, dep=b.deployment(engine={"version": "0.33.0"})).ulimits == ()
