"""Run a command against an emulated AWS account: a moto server on a free loopback port, seeded with the
example project's cloud resources, reached through AWS_ENDPOINT_URL with throwaway credentials.

    python examples/emulated_aws.py -- reconcile run

The server stops when the command ends; the command's exit code is passed through. Nothing leaves this
machine: the endpoint is 127.0.0.1, and the credentials are moto's dummy ones.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import boto3
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
AMI = "ami-12c6146b"  # one of moto's built-in images


def seed(endpoint: str) -> None:
    session = boto3.Session(region_name=REGION)
    s3 = session.client("s3", endpoint_url=endpoint)
    where = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    for bucket in ("acme-web-assets", "acme-logs", "acme-finance-archive", "tmp-export-2024"):
        s3.create_bucket(Bucket=bucket, **where)
    s3.put_bucket_versioning(Bucket="acme-logs", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket="acme-web-assets", VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_tagging(Bucket="tmp-export-2024", Tagging={"TagSet": [{"Key": "Owner", "Value": "dana"}]})
    ec2 = session.client("ec2", endpoint_url=endpoint)
    group = ec2.create_security_group(GroupName="web", Description="web servers")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        for port in (22, 443)])
    ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.small", SecurityGroupIds=[group],
                      TagSpecifications=[{"ResourceType": "instance",
                                          "Tags": [{"Key": "Name", "Value": "web-frontend"}]}])
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100, VolumeType="gp3",
                      TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Team", "Value": "data"}]}])


def main(command: list[str]) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    env.pop("AWS_PROFILE", None)
    try:
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
        seed(endpoint)
        return subprocess.run(command, env=env, check=False).returncode  # its exit code is the answer
    finally:
        server.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[1:] if args[:1] == ["--"] else args))
