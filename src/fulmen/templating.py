"""Jinja2 templates, as Starlette's: ``templates.TemplateResponse(request, "page.html", {"x": 1})``.

Needs jinja2 (``pip install "fulmen[templates]"``). The request is in every template's context, and
``url_for(name, **path_params)`` gives a route's absolute URL (``request.url_for``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any, overload

from fulmen.datastructures import URL
from fulmen.responses import HTMLResponse

try:
    import jinja2
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('fulmen.templating needs jinja2: pip install "fulmen[templates]"') from exc

if TYPE_CHECKING:
    from fulmen.background import BackgroundTask
    from fulmen.requests import Request

ContextProcessor = Callable[["Request"], dict[str, Any]]


class _TemplateResponse(HTMLResponse):
    """An HTML response rendered from a template; keeps ``template`` and ``context`` for tests."""

    __slots__ = ("context", "template")
    has_debug_info = True

    def __init__(
        self,
        template: jinja2.Template,
        context: dict[str, Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.template = template
        self.context = context
        super().__init__(template.render(context), status_code, headers, media_type, background)


class Jinja2Templates:
    """Templates from ``directory`` (one or several) or from a ready ``env``; ``context_processors`` add to
    every context."""

    @overload
    def __init__(
        self,
        directory: str | PathLike[str] | Sequence[str | PathLike[str]],
        *,
        context_processors: list[ContextProcessor] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        env: jinja2.Environment,
        context_processors: list[ContextProcessor] | None = None,
    ) -> None: ...

    def __init__(
        self,
        directory: str | PathLike[str] | Sequence[str | PathLike[str]] | None = None,
        *,
        context_processors: list[ContextProcessor] | None = None,
        env: jinja2.Environment | None = None,
    ) -> None:
        if bool(directory) == bool(env):
            raise ValueError("either 'directory' or 'env' arguments must be passed")
        self.context_processors = context_processors or []
        if env is None:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(directory),  # type: ignore[arg-type]
                autoescape=jinja2.select_autoescape(),
            )
        self.env = env
        self._setup_env_defaults(env)

    def _setup_env_defaults(self, env: jinja2.Environment) -> None:
        @jinja2.pass_context
        def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
            request: Request = context["request"]
            return request.url_for(name, **path_params)

        env.globals.setdefault("url_for", url_for)

    def get_template(self, name: str) -> jinja2.Template:
        """The template called ``name``."""
        return self.env.get_template(name)

    def TemplateResponse(  # Starlette's name
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse:
        """Render template ``name`` with ``context`` (plus ``request`` and the context processors' values)."""
        context = context or {}
        context.setdefault("request", request)
        for processor in self.context_processors:
            context.update(processor(request))
        return _TemplateResponse(
            self.get_template(name),
            context,
            status_code=status_code,
            headers=headers,
            media_type=media_type,
            background=background,
        )
