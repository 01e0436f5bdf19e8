"""Jinja2Templates: TemplateResponse with the request in the context, url_for, context processors, env=."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest
from starlette.requests import Request as StarletteRequest

from fulmen import FastAPI, Request
from fulmen.background import BackgroundTask
from fulmen.responses import HTMLResponse
from fulmen.templating import Jinja2Templates


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    (tmp_path / "page.html").write_text(
        "<p>{{ greeting }}, {{ name }}! path={{ request.url.path }} "
        "item={{ url_for('item', item_id=7) }} user={{ user }}</p>"
    )
    (tmp_path / "plain.txt").write_text("{{ name }}")
    return tmp_path


def _app(templates: Jinja2Templates, log: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    async def page(request: Request, name: str = "<b>you</b>") -> Any:
        return templates.TemplateResponse(request, "page.html", {"greeting": "Hello", "name": name})

    @app.get("/items/{item_id}", name="item")
    async def item(item_id: int) -> Any:
        return {"item_id": item_id}

    @app.get("/text")
    def text(request: Request) -> Any:
        return templates.TemplateResponse(
            request,
            "plain.txt",
            {"name": "x"},
            status_code=202,
            headers={"x-t": "1"},
            media_type="text/plain",
            background=BackgroundTask(log.append, "bg"),
        )

    return app


def test_template_response(serve: Callable[..., httpx.Client], template_dir: Path) -> None:
    templates = Jinja2Templates(
        directory=template_dir, context_processors=[lambda request: {"user": request.headers.get("x-user")}]
    )
    client = serve(_app(templates, []))
    base = str(client.base_url).rstrip("/")
    r = client.get("/page", headers={"x-user": "ann"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    # autoescape is on for .html; the request and url_for are available to the template
    assert r.text == f"<p>Hello, &lt;b&gt;you&lt;/b&gt;! path=/page item={base}/items/7 user=ann</p>"


def test_template_response_options(serve: Callable[..., httpx.Client], template_dir: Path) -> None:
    log: list[str] = []
    client = serve(_app(Jinja2Templates(directory=str(template_dir)), log))
    r = client.get("/text")
    assert (r.status_code, r.text, r.headers["x-t"]) == (202, "x", "1")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    deadline = time.monotonic() + 5
    while not log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log == ["bg"]


def test_env_and_response_attributes(template_dir: Path) -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"t.html": "{{ a }}-{{ request.method }}"}))
    templates = Jinja2Templates(env=env)
    assert templates.env is env
    assert "url_for" in env.globals
    request = Request("GET", b"/", b"", [])
    response = templates.TemplateResponse(request, "t.html", {"a": 1})
    assert isinstance(response, HTMLResponse)
    assert response.body == b"1-GET"
    assert response.template.name == "t.html"
    assert response.context == {"a": 1, "request": request}


def test_directory_xor_env(template_dir: Path) -> None:
    with pytest.raises(ValueError, match="either 'directory' or 'env'"):
        Jinja2Templates()
    with pytest.raises(ValueError, match="either 'directory' or 'env'"):
        Jinja2Templates(directory=template_dir, env=jinja2.Environment())


def test_several_directories(tmp_path: Path, template_dir: Path) -> None:
    (tmp_path / "other.html").write_text("other")
    templates = Jinja2Templates(directory=[tmp_path, template_dir])
    assert templates.get_template("other.html").render() == "other"
    assert templates.get_template("plain.txt").render(name="n") == "n"


def _template_app(fw: Any, templates: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/plain/{name}")
    async def plain(request: StarletteRequest, name: str) -> Any:  # Starlette's class: both take it
        return templates.TemplateResponse(request, "plain.txt", {"name": name})

    @app.get("/json")
    async def json() -> Any:
        return {"a": 1}

    return app


def test_testclient_exposes_template_and_context(template_dir: Path) -> None:
    """As under FastAPI's (Starlette's) TestClient: ``response.template`` and ``response.context``, whichever
    client drives the app; a plain response has neither."""
    import warnings

    import fastapi
    import fastapi.templating

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette 1.10's TestClient asks for httpx2 when it runs on httpx
        from fastapi.testclient import TestClient as StarletteClient

    import fulmen
    import fulmen.templating
    from fulmen.testclient import TestClient

    seen = []
    for fw, templating, client_class in (
        (fastapi, fastapi.templating, StarletteClient),
        (fulmen, fulmen.templating, TestClient),
        (fulmen, fulmen.templating, StarletteClient),
    ):
        app = _template_app(fw, templating.Jinja2Templates(directory=str(template_dir)))
        client = client_class(app)
        r = client.get("/plain/ann")
        seen.append((r.text, r.template.name, sorted(r.context), r.context["name"]))
        assert not hasattr(client.get("/json"), "template")
    assert seen[0] == ("ann", "plain.txt", ["name", "request"], "ann")
    assert seen[1] == seen[0]
    assert seen[2] == seen[0]
