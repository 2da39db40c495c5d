"""
The broker of `make run` when REDIS_URL is not set (`localfiles://`): kombu's
filesystem transport, with each message written whole before it appears.

Kombu's own transport creates a message's file and then writes into it, and
a worker takes any message file it lists: one listed between the two is read
empty, and the worker crashes on it (seen when two processes published at
once). Here a message is written under a name that workers skip, then renamed
into place, which is atomic within one filesystem.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        # Workers take only names ending in ".<queue>.msg".
        partial = f"{path}.part"
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
