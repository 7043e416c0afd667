"""Health checks that make a real protocol call to each daemon, and the pipeline's consumer groups.

Each daemon's check takes the arguments of the service's `health` mapping and returns
(healthy, detail). None of them raises: a refused connection is an answer too.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Callable

from labctl import demo, supervisor
from pipeline import lag
from pipeline.settings import Settings, pipeline_command

TIMEOUT_S = 5.0
DEMO_INGEST = "demo-ingest"  # the supervisor program of the demo's consumers


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return json.load(response)


def _jmx_bean(base_url: str, query: str) -> dict:
    beans = _get_json(f"{base_url}/jmx?qry={query}").get("beans", [])
    if not beans:
        raise LookupError(f"JMX bean {query} not published yet")
    return beans[0]


def _four_letter_word(host: str, port: int, word: bytes) -> str:
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as sock:
        sock.sendall(word)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def zookeeper(host: str, port: int) -> tuple[bool, str]:
    """`ruok` must answer `imok`; `srvr` tells the mode."""
    if _four_letter_word(host, port, b"ruok") != "imok":
        return False, "ruok not answered with imok"
    modes = [line.split(":", 1)[1].strip() for line in _four_letter_word(host, port, b"srvr").splitlines()
             if line.startswith("Mode:")]
    if not modes:
        return False, "imok, but srvr says it is not serving requests"
    return True, f"imok, mode {modes[0]}"


NAMENODE_INFO = "Hadoop:service=NameNode,name=NameNodeInfo"


def namenode(url: str) -> tuple[bool, str]:
    """WebHDFS LISTSTATUS of / must answer."""
    listing = _get_json(f"{url}/webhdfs/v1/?op=LISTSTATUS")
    entries = len(listing["FileStatuses"]["FileStatus"])
    return True, f"WebHDFS lists {entries} entries in /"


def datanode(url: str) -> tuple[bool, str]:
    """The NameNode must see a live DataNode and be out of safe mode."""
    info = _jmx_bean(url, NAMENODE_INFO)
    live = len(json.loads(info.get("LiveNodes") or "{}"))
    if live < 1:
        return False, "no live DataNode registered with the NameNode"
    if info.get("Safemode"):
        return False, "NameNode is in safe mode"
    return True, f"{live} live DataNode, safe mode off"


HBASE_MASTER_SERVER = "Hadoop:service=HBase,name=Master,sub=Server"


def hbase_master(url: str) -> tuple[bool, str]:
    """The master's JMX must report it active."""
    bean = _jmx_bean(url, HBASE_MASTER_SERVER)
    if str(bean.get("tag.isActiveMaster")).lower() != "true":
        return False, "master is not active yet"
    return True, "active master"


def hbase_regionserver(url: str) -> tuple[bool, str]:
    """The active master must count at least one live region server."""
    bean = _jmx_bean(url, HBASE_MASTER_SERVER)
    live = int(bean.get("numRegionServers", 0))
    if live < 1:
        return False, "no live region server registered with the master"
    return True, f"{live} live region server"


def hbase_thrift(host: str, port: int) -> tuple[bool, str]:
    """Thrift v1 `getTableNames` must answer (happybase's default transport and protocol)."""
    import happybase

    connection = happybase.Connection(host, int(port), timeout=int(TIMEOUT_S * 1000), autoconnect=True)
    try:
        tables = connection.tables()
    finally:
        connection.close()
    return True, f"getTableNames: {len(tables)} tables"


def kafka(bootstrap: str) -> tuple[bool, str]:
    """A metadata request must list the brokers."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT_S * 1000),
                             client_id="lab-status")
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    return True, f"{len(cluster['brokers'])} broker, controller {cluster['controller_id']}"


def spark_master(url: str) -> tuple[bool, str]:
    """The master's JSON status must say ALIVE."""
    status = _get_json(f"{url}/json").get("status")
    return status == "ALIVE", f"master {status}"


def spark_worker(url: str) -> tuple[bool, str]:
    """The master's JSON must list an ALIVE worker."""
    workers = [w for w in _get_json(f"{url}/json").get("workers", []) if w.get("state") == "ALIVE"]
    if not workers:
        return False, "no ALIVE worker registered with the master"
    cores = sum(w.get("cores", 0) for w in workers)
    return True, f"{len(workers)} ALIVE worker, {cores} cores"


def http(url: str) -> tuple[bool, str]:
    """A web application's health URL must answer 200 with JSON {"status": "ok"}."""
    status = _get_json(url).get("status")
    return status == "ok", f"status {status}"


CHECKS: dict[str, Callable[..., tuple[bool, str]]] = {
    "zookeeper": zookeeper,
    "namenode": namenode,
    "datanode": datanode,
    "hbase_master": hbase_master,
    "hbase_regionserver": hbase_regionserver,
    "hbase_thrift": hbase_thrift,
    "kafka": kafka,
    "spark_master": spark_master,
    "spark_worker": spark_worker,
    "http": http,
}


def check(health: dict) -> tuple[bool, str]:
    """Run the check a service's `health` mapping names; failures become (False, reason)."""
    args = dict(health)
    kind = args.pop("kind", None)
    if kind not in CHECKS:
        return False, f"no health check of kind {kind!r}"
    try:
        return CHECKS[kind](**args)
    except Exception as error:  # noqa: BLE001 - any failure of a probe means "unhealthy"
        return False, f"{type(error).__name__}: {error}".strip()[:160]


def consumer_groups(settings: Settings) -> list[dict]:
    """The pipeline's consumer groups of ``settings``' namespace (HBase sink, HDFS landing) on its raw topic: lag,
    and healthy unless records wait while the group commits nothing for ``lag.PROGRESS_WINDOW_S`` seconds (then
    ``fix`` says what makes it consume again). In the demo's namespace while the demo's ingest is stopped on
    purpose (`lab demo stop`), waiting records are no fault. Raises ``KafkaError`` when Kafka cannot tell."""
    demo_stopped = settings.namespace == demo.config().get("namespace") and not _demo_ingest_running()
    rows = []
    for group in lag.group_progress(settings, [settings.hbase_sink_group, settings.landing_group]):
        stuck = group.stuck and not demo_stopped
        if group.stuck and demo_stopped:
            detail = f"{group.lag:,} records wait; the demo is stopped (`lab demo start`)"
        elif stuck:
            detail = f"{group.lag:,} records wait; no commit in {lag.PROGRESS_WINDOW_S:g} s"
        else:
            detail = f"{group.lag:,} records behind, committing" if group.lag else "caught up"
        rows.append({"group": group.group, "topic": settings.raw_topic, "partitions": len(group.partitions),
                     "committed": group.committed, "lag": group.lag, "healthy": not stuck, "detail": detail,
                     "fix": ingest_fix(settings) if stuck else None})
    return rows


def _demo_ingest_running() -> bool:
    state = supervisor.states().get(DEMO_INGEST)
    return state is not None and state.state == "RUNNING"


def ingest_fix(settings: Settings) -> str:
    """The command that makes the consumers of ``settings``' namespace consume again: the demo's ingest in the demo's
    namespace (started even while the rest of the demo is off), else `lab pipeline ingest`."""
    if settings.namespace == demo.config().get("namespace"):
        return f"lab restart {DEMO_INGEST}"
    return pipeline_command(settings, "ingest")
