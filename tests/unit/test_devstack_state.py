"""The stack's state file and kubeconfig."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from shadowgate.devstack import certs, kubeconfig, state
from shadowgate.devstack.layout import StackLayout
from shadowgate.devstack.processes import ProcessRecord


def test_state_round_trip(tmp_path: pathlib.Path) -> None:
    layout = StackLayout(tmp_path)
    assert state.load(layout) == state.StackState()
    rec = ProcessRecord("etcd", 10, 20, ("/bin/etcd", "--x"), "/l/etcd.log")
    saved = state.StackState("id", {"etcd": 1}, "/bin", "/usr/bin/prometheus").with_component(rec)
    state.save(layout, saved)
    assert state.load(layout) == saved
    assert state.load(layout).stopped() == state.StackState("", {"etcd": 1}, "/bin", "/usr/bin/prometheus")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param('{"components": {"etcd": {"pid": 1}}}', id="missing-fields"),
        pytest.param('{"ports": {"etcd": "x"}}', id="bad-port"),
    ],
)
def test_corrupt_state_names_the_file(tmp_path: pathlib.Path, text: str) -> None:
    layout = StackLayout(tmp_path)
    layout.state_file.write_text(text)
    with pytest.raises(state.StateError, match=r"stack\.json"):
        state.load(layout)


def test_kubeconfig_embeds_admin_credentials(tmp_path: pathlib.Path) -> None:
    layout = StackLayout(tmp_path)
    certs.ensure_pki(layout)
    path = kubeconfig.write(layout, "https://127.0.0.1:6443")
    assert path.stat().st_mode & 0o077 == 0
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert doc["users"][0]["user"]["client-key-data"]
    assert doc["current-context"] == kubeconfig.CLUSTER
    # The official client accepts it.
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(path))
    assert isinstance(api, client.ApiClient)
    assert api.configuration.host == "https://127.0.0.1:6443"
