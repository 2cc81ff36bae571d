"""The suite itself must never reach the network: only loopback is allowed."""

import socket

import pytest


def test_outbound_connection_is_blocked():
    from pytest_socket import SocketConnectBlockedError

    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1, never routable


def test_offline_environment():
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
