"""
The redis service's command and healthcheck, run as a real redis-server.
"""

import redis

from tests.config.container_commands import SERVICES, clean_env, run, started
from tests.processes import free_port, wait_until

# redis


def test_redis_command_keeps_an_append_only_file_and_never_evicts(tmp_path):
    port = free_port()
    command = [
        *SERVICES["redis"]["command"],
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)),
    ]
    program, *arguments = SERVICES["redis"]["healthcheck"]["test"][1:]
    ping = [program, "-p", str(port), *arguments]
    env = clean_env()
    with started(command, cwd=tmp_path, env=env, log=tmp_path / "redis.log") as server:
        wait_until(
            lambda: (
                server.running()
                and run(ping, cwd=tmp_path, env=env).stdout.strip() == "PONG"
            ),
            timeout=10,
            interval=0.1,
        )
        client = redis.Redis(port=port)
        config = {
            name: client.config_get(name)[name]
            for name in ("appendonly", "appendfsync", "maxmemory-policy")
        }
        client.close()
    assert config == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",
    }
    assert (tmp_path / "appendonlydir").is_dir()
