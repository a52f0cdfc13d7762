"""A real moto server on a free loopback port, and the environment that points boto3 at it.

`moto_server` (one per test module) runs ThreadedMotoServer on 127.0.0.1:0; `moto` (per test) resets its
state, sets AWS_ENDPOINT_URL and fake credentials through monkeypatch, and hides any real AWS config.
The server stops itself at the end of the module.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

ACCOUNT_A = "123456789012"  # moto's default account: the default credential chain lands here
ACCOUNT_B = "210987654321"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/reconciler-readonly"


@dataclass
class Moto:
    url: str

    def post(self, path: str, body: bytes = b"") -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + path, data=body, method="POST",
                                                           headers={"Content-Type": "text/plain"}), timeout=10)

    def reset(self) -> None:
        self.post("/moto-api/reset")

    def enable_iam_auth(self) -> None:
        """From now on moto checks every request's signature and IAM policies (as AWS does)."""
        self.post("/moto-api/reset-auth", b"0")

    def disable_iam_auth(self) -> None:
        self.post("/moto-api/reset-auth", b"inf")

    def session(self, account: str = ACCOUNT_A, region: str = "eu-west-1") -> boto3.Session:
        """A session seeding `account`: the default chain for A, an assumed role for any other."""
        if account == ACCOUNT_A:
            return boto3.Session(region_name=region)
        role = f"arn:aws:iam::{account}:role/reconciler-readonly"
        creds = boto3.client("sts", region_name=region).assume_role(RoleArn=role, RoleSessionName="seed")
        c = creds["Credentials"]
        return boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                             aws_session_token=c["SessionToken"], region_name=region)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[Moto]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Moto(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto(moto_server: Moto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """The moto server, emptied, with boto3's environment pointing at it for a whole test module."""
    moto_server.disable_iam_auth()
    moto_server.reset()
    home = tmp_path_factory.mktemp("aws-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(home / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        patch.setenv("AWS_ENDPOINT_URL", moto_server.url)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never wait for an instance-metadata service
        yield moto_server
    moto_server.disable_iam_auth()
