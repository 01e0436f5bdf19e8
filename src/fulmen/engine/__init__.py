"""fulmen's own HTTP/1.1 engine: uvloop transport, llhttp parsing, workers and graceful shutdown."""

from fulmen.engine.config import Config, ConfigError
from fulmen.engine.protocol import HttpProtocol, ServerState
from fulmen.engine.server import Server, compiled, run, serve

__all__ = ["Config", "ConfigError", "HttpProtocol", "Server", "ServerState", "compiled", "run", "serve"]
