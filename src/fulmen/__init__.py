"""fulmen: FastAPI's developer experience on its own high-performance HTTP engine.

Change ``from fastapi import ...`` to ``from fulmen import ...``; the names, parameters and error shapes are
the same. ``app.run()`` serves on fulmen's engine; the app is also an ASGI callable for any ASGI server.
"""

from __future__ import annotations

from fulmen import status
from fulmen.app import APIRouter, FastAPI, Fulmen
from fulmen.background import BackgroundTasks
from fulmen.datastructures import UploadFile
from fulmen.exceptions import FastAPIError, HTTPException, RequestValidationError, WebSocketException
from fulmen.params import Body, Cookie, Depends, File, Form, Header, Path, Query, Security
from fulmen.requests import Request
from fulmen.responses import Response
from fulmen.websockets import WebSocket, WebSocketDisconnect

__version__ = "0.1.0"

__all__ = [
    "APIRouter",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "Depends",
    "FastAPI",
    "FastAPIError",
    "File",
    "Form",
    "Fulmen",
    "HTTPException",
    "Header",
    "Path",
    "Query",
    "Request",
    "RequestValidationError",
    "Response",
    "Security",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "__version__",
    "status",
]
