"""A HiveServer2-like Thrift server on loopback that answers opening a session and running a
statement, but holds every CloseSession until released: what a Spark 4 Thrift server without
hive-llap-common did (docs/scaling.md), made to happen every time. Built on the TCLIService
code PyHive ships: a thread per connection, as HiveServer2's Thrift pool has."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from TCLIService import TCLIService, ttypes
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket, TTransport

OK = ttypes.TStatus(statusCode=ttypes.TStatusCode.SUCCESS_STATUS)
PROTOCOL = ttypes.TProtocolVersion.HIVE_CLI_SERVICE_PROTOCOL_V6


class HoldingCloses:
    """The handler: sessions open and statements run (without results); closes wait for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closes_asked = 0
        self.statements: list[str] = []

    # Thrift calls the handler's methods by the service's names, with one request argument each.
    def OpenSession(self, _request: Any) -> Any:
        handle = ttypes.TSessionHandle(sessionId=ttypes.THandleIdentifier(guid=b"s" * 16, secret=b"k" * 16))
        return ttypes.TOpenSessionResp(status=OK, serverProtocolVersion=PROTOCOL, sessionHandle=handle)

    def ExecuteStatement(self, request: Any) -> Any:
        self.statements.append(str(request.statement))
        operation = ttypes.TOperationHandle(
            operationId=ttypes.THandleIdentifier(guid=b"o" * 16, secret=b"k" * 16),
            operationType=ttypes.TOperationType.EXECUTE_STATEMENT,
            hasResultSet=False,
        )
        return ttypes.TExecuteStatementResp(status=OK, operationHandle=operation)

    def CloseOperation(self, _request: Any) -> Any:
        return ttypes.TCloseOperationResp(status=OK)

    def CloseSession(self, _request: Any) -> Any:
        self.closes_asked += 1
        self.release.wait(60)
        return ttypes.TCloseSessionResp(status=OK)


@contextmanager
def hive_like_server() -> Iterator[tuple[str, HoldingCloses]]:
    """(a ``hive://`` URL, the handler) of a server on a free loopback port, for the block."""
    handler = HoldingCloses()
    processor = TCLIService.Processor(handler)
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # to see ``stop`` between connections
    port = listener.getsockname()[1]

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            threading.Thread(target=_session, args=(connection, processor), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"hive://127.0.0.1:{port}/default?auth=NOSASL", handler
    finally:
        handler.release.set()
        stop.set()
        thread.join()
        listener.close()


def _session(connection: socket.socket, processor: Any) -> None:
    """One client's calls, in order, until it hangs up."""
    client = TSocket.TSocket()
    client.setHandle(connection)
    transport = TTransport.TBufferedTransport(client)
    protocol = TBinaryProtocol.TBinaryProtocol(transport)
    try:
        while True:
            processor.process(protocol, protocol)
    except (TTransport.TTransportException, OSError):
        pass
    finally:
        transport.close()
