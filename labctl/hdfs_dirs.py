"""Create the HDFS directories the services need, through WebHDFS as the HDFS superuser."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from labctl.services import Service


def _put(base_url: str, path: str, superuser: str, **params: str) -> None:
    query = urllib.parse.urlencode({"user.name": superuser, **params})
    url = f"{base_url}/webhdfs/v1{urllib.parse.quote(path)}?{query}"
    request = urllib.request.Request(url, method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        json.loads(response.read() or b"{}")


def ensure(service: Service, namenode_url: str, superuser: str) -> None:
    """mkdir -p, chown and chmod each of the service's hdfs_dirs (idempotent)."""
    for spec in service.hdfs_dirs:
        path = spec["path"]
        _put(namenode_url, path, superuser, op="MKDIRS")
        _put(namenode_url, path, superuser, op="SETOWNER", owner=spec.get("owner", superuser))
        _put(namenode_url, path, superuser, op="SETPERMISSION", permission=spec.get("mode", "0755").lstrip("0") or "0")
