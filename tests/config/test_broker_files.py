"""The file broker of `make run` (config/broker_files.py): a worker never
reads a message that is still being written."""

import os
import sys
from queue import Empty

import pytest
from kombu import Connection


@pytest.fixture
def channel(tmp_path):
    folder = tmp_path / "messages"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    with Connection("localfiles://", transport_options=options) as connection:
        yield connection.default_channel


def test_a_message_is_invisible_to_workers_until_written_whole(channel, monkeypatch):
    # Look for messages at the worst moment: the message's file is created,
    # its content not yet written. Kombu's own transport shows a worker the
    # empty file then, and the worker crashes reading it.
    module = sys.modules[type(channel).__module__]
    dumps, looks = module.dumps, []

    def dumps_after_a_look(payload):
        try:
            looks.append(channel._get("quick"))
        except Empty:
            looks.append("nothing")
        return dumps(payload)

    monkeypatch.setattr(module, "dumps", dumps_after_a_look)
    channel._put("quick", {"body": "x" * 100_000})

    assert looks == ["nothing"]
    assert channel._get("quick") == {"body": "x" * 100_000}
    with pytest.raises(Empty):
        channel._get("quick")


def test_make_run_uses_it_when_there_is_no_redis():
    from config.celery import app

    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is set")
    assert app.connection().transport_cls == "localfiles"
    assert type(app.connection().transport).__module__ == "config.broker_files"
