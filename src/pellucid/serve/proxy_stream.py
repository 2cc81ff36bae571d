"""The response of a relayed stream: each chunk sent as it arrives, the relay stopped when the client leaves.

Starlette's ``StreamingResponse`` does the same with an anyio task group per response: a task
for the body, another listening for ``http.disconnect``, cancel scopes around both. A proxied
stream pays that once per call on the proxy's hot path, where calls start in bursts (a
batching server answers many at once). :class:`RelayedStream` keeps the body in the
request's own task and starts one plain asyncio task that waits for the disconnect:

- the client reads to the end: the last body message is sent and the listener is cancelled
  before it could see the ``http.disconnect`` that the server reports after a complete
  response;
- the client leaves first: the listener cancels the request's task, so the relay stops where
  it waits (reading the upstream, or sending to a slow client); the relay's own ``finally``
  writes the record and closes the upstream's connection, and the cancellation ends there,
  as a response that finished (``Task.uncancel``), not as an error.

Either way the ``after`` callback runs last (closing the upstream reply, and writing the
record of a stream that never started).

The answer's end reaches the client with its last chunk: when ``complete()`` says the chunk just
received ends the answer (an OpenAI stream's ``data: [DONE]``), it goes out as the response's
final body message (one write fewer per call), so the client holds the whole answer before the
upstream's end of message is read and its connection goes back to the pool. Anything the
upstream sends after the end is read, so the connection can be reused, and not sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class RelayedStream(Response):
    """Send ``chunks`` as ``text/event-stream`` with ``status`` and ``headers``, then await ``after()``.

    ``complete`` (optional) is asked after each chunk arrives whether that chunk ends the answer.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        status: int,
        headers: Mapping[str, str],
        after: Callable[[], Awaitable[None]],
        complete: Callable[[], bool] | None = None,
    ) -> None:
        self.chunks = chunks
        self.status_code = status
        self.after = after
        self.complete = complete
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.current_task()
        assert relay is not None, "an ASGI app runs in a task"
        state = {"sent": False, "left": False}

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["sent"]:
                state["left"] = True
                relay.cancel()

        listener = asyncio.create_task(listen())
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.chunks:
                if state["sent"]:
                    continue  # after the answer's end: read (the connection stays reusable), not sent
                if self.complete is not None and self.complete():
                    await send({"type": "http.response.body", "body": chunk, "more_body": False})
                    state["sent"] = True  # the client has the whole answer; its leaving now is the normal end
                    continue
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not state["sent"]:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not state["left"]:
                raise  # cancelled from outside (shutdown): not ours to absorb
            relay.uncancel()
        finally:
            state["sent"] = True  # from here a disconnect is the normal end of a response, not a reason to cancel
            listener.cancel()
            await self.chunks.aclose()  # a relay stopped at a send runs its finally (the record) now
            await self.after()
