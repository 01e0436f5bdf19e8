"""A dependency-heavy app written once against a framework module, built with FastAPI and with fulmen.

It follows FastAPI's dependency tutorial (functions, classes, sub-dependencies, caching,
``dependencies=[...]`` on routes/routers/app, ``yield`` dependencies, overrides, scopes) plus the corners
around it: errors in sub-dependencies, body parameters declared by dependencies, responses and background
tasks touched by dependencies. Effects that happen after a response is sent are recorded in an event log
that ``GET /log`` returns (and clears), so their order is compared too.

No ``from __future__ import annotations``: both frameworks must resolve the handlers' local annotations.
"""

import asyncio
import contextvars
from typing import Annotated, Any, Optional

import pydantic

Case = tuple[str, str, str, dict[str, Any]]


class Item(pydantic.BaseModel):
    name: str
    price: float = 0


class Owner(pydantic.BaseModel):
    login: str


class Boom(Exception):
    """Raised by a handler; a yield dependency turns it into a 418."""


#: Set by a dependency and a handler, read by what runs after the response (its exit code, background tasks,
#: a streamed body): under FastAPI all of that runs in the request's context and sees the values.
REQUEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_VAR", default="unset")


def build_dependencies(fw: Any) -> Any:
    Depends, Security, HTTPException = fw.Depends, fw.Security, fw.HTTPException
    Header, Cookie, Body = fw.Header, fw.Cookie, fw.Body
    Request, Response, BackgroundTasks = fw.Request, fw.Response, fw.BackgroundTasks
    from_security = __import__(f"{fw.__name__}.security", fromlist=["SecurityScopes"])
    SecurityScopes = from_security.SecurityScopes
    StreamingResponse = __import__(f"{fw.__name__}.responses", fromlist=["x"]).StreamingResponse

    log: list[str] = []
    calls: dict[str, int] = {}

    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    async def global_dep(x_trace: Annotated[Optional[str], Header()] = None) -> None:
        if x_trace == "reject":
            raise HTTPException(status_code=400, detail="rejected by the app dependency")

    app = fw.FastAPI(dependencies=[Depends(global_dep)])

    @app.get("/log")
    async def read_log() -> Any:
        await asyncio.sleep(0.02)  # let post-response work (yield exits, background tasks) finish
        out = {"log": list(log), "calls": dict(calls)}
        log.clear()
        calls.clear()
        return out

    # -- functions, classes, Annotated -----------------------------------------------------------------------
    async def common_parameters(q: Optional[str] = None, skip: int = 0, limit: int = 100) -> Any:
        return {"q": q, "skip": skip, "limit": limit}

    CommonsDep = Annotated[dict, Depends(common_parameters)]

    @app.get("/items/")
    async def read_items(commons: CommonsDep) -> Any:
        return commons

    @app.get("/users/")
    def read_users(commons: dict = Depends(common_parameters)) -> Any:
        return {"users": commons}

    class CommonQueryParams:
        def __init__(self, q: Optional[str] = None, skip: int = 0, limit: int = 100):
            self.q = q
            self.skip = skip
            self.limit = limit

    @app.get("/class/")
    async def read_class(commons: Annotated[CommonQueryParams, Depends()]) -> Any:
        return {"q": commons.q, "skip": commons.skip, "limit": commons.limit}

    @app.get("/class-default/")
    async def read_class_default(commons: CommonQueryParams = Depends(CommonQueryParams)) -> Any:
        return {"q": commons.q, "skip": commons.skip}

    class FixedContentQueryChecker:
        def __init__(self, fixed_content: str):
            self.fixed_content = fixed_content

        def __call__(self, q: str = "") -> bool:
            return self.fixed_content in q

    checker = FixedContentQueryChecker("bar")

    @app.get("/query-checker/")
    async def read_query_check(fixed_content_included: Annotated[bool, Depends(checker)]) -> Any:
        return {"fixed_content_in_query": fixed_content_included}

    class AsyncChecker:
        async def __call__(self, token: Annotated[str, Header()]) -> str:
            return token.upper()

    @app.get("/async-callable/")
    async def read_async_callable(token: Annotated[str, Depends(AsyncChecker())]) -> Any:
        return {"token": token}

    # -- sub-dependencies and caching ------------------------------------------------------------------------
    def query_extractor(q: Optional[str] = None) -> Optional[str]:
        count("query_extractor")
        return q

    def query_or_cookie_extractor(
        q: Annotated[Optional[str], Depends(query_extractor)],
        last_query: Annotated[Optional[str], Cookie()] = None,
    ) -> Optional[str]:
        count("query_or_cookie_extractor")
        return q or last_query

    @app.get("/sub/")
    async def read_sub(
        query_or_default: Annotated[Optional[str], Depends(query_or_cookie_extractor)],
        again: Annotated[Optional[str], Depends(query_extractor)],
        fresh: Annotated[Optional[str], Depends(query_extractor, use_cache=False)],
    ) -> Any:
        return {"q_or_cookie": query_or_default, "again": again, "fresh": fresh}

    # -- validation errors in the tree -----------------------------------------------------------------------
    def needs_int(n: int, tag: Annotated[str, Header()]) -> int:
        count("needs_int")
        return n

    def sibling(s: str = "s") -> str:
        count("sibling")
        return s

    @app.get("/errors/")
    async def read_errors(
        n: Annotated[int, Depends(needs_int)],
        s: Annotated[str, Depends(sibling)],
        page: int,
    ) -> Any:
        return {"n": n, "s": s, "page": page}

    # -- dependencies=[...] on routes and routers ------------------------------------------------------------
    async def verify_token(x_token: Annotated[str, Header()]) -> None:
        if x_token != "fake-super-secret-token":
            raise HTTPException(status_code=400, detail="X-Token header invalid")

    async def verify_key(x_key: Annotated[str, Header()]) -> str:
        if x_key != "fake-super-secret-key":
            raise HTTPException(status_code=400, detail="X-Key header invalid")
        return x_key

    @app.get("/guarded/", dependencies=[Depends(verify_token), Depends(verify_key)])
    async def read_guarded() -> Any:
        return [{"item": "Foo"}, {"item": "Bar"}]

    def router_dep() -> None:
        log.append("router_dep")

    def include_dep() -> None:
        log.append("include_dep")

    def route_dep() -> None:
        log.append("route_dep")

    router = fw.APIRouter(prefix="/r", dependencies=[Depends(router_dep)])

    @router.get("/thing", dependencies=[Depends(route_dep)])
    async def read_thing() -> Any:
        log.append("handler")
        return {"ok": True}

    app.include_router(router, prefix="/inc", dependencies=[Depends(include_dep)])

    # -- yield dependencies ----------------------------------------------------------------------------------
    async def async_resource() -> Any:
        log.append("async enter")
        try:
            yield "async-resource"
        except Boom:
            log.append("async saw Boom")
            raise HTTPException(status_code=418, detail="converted by the dependency") from None
        finally:
            log.append("async exit")

    def sync_resource(a: Annotated[str, Depends(async_resource)]) -> Any:
        log.append("sync enter")
        try:
            yield f"sync({a})"
        finally:
            log.append("sync exit")

    @app.get("/yield/")
    async def read_yield(
        r: Annotated[str, Depends(sync_resource)], background_tasks: BackgroundTasks, fail: int = 0
    ) -> Any:
        log.append("handler")
        background_tasks.add_task(log.append, "background")
        if fail == 1:
            raise Boom()
        if fail == 2:
            raise HTTPException(status_code=404, detail="handler says no")
        return {"resource": r}

    def swallower() -> Any:
        try:
            yield "s"
        except Exception:
            log.append("swallowed")

    @app.get("/swallow/")
    def read_swallow(s: Annotated[str, Depends(swallower)]) -> Any:
        raise HTTPException(status_code=400, detail="never seen")

    def function_scoped() -> Any:
        log.append("function enter")
        yield "f"
        log.append("function exit")

    def request_scoped() -> Any:
        log.append("request enter")
        yield "r"
        log.append("request exit")

    @app.get("/scopes/")
    async def read_scopes(
        r: Annotated[str, Depends(request_scoped)],
        f: Annotated[str, Depends(function_scoped, scope="function")],
    ) -> Any:
        log.append("handler")
        return {"r": r, "f": f}

    # -- bodies, responses and tasks from dependencies -------------------------------------------------------
    def owner_dep(owner: Owner) -> str:
        return owner.login

    @app.post("/owned-items/")
    async def create_owned(item: Item, login: Annotated[str, Depends(owner_dep)]) -> Any:
        return {"item": item.model_dump(), "login": login}

    def single_body_dep(item: Item) -> str:
        return item.name

    @app.post("/single-body-dep/")
    async def create_single(name: Annotated[str, Depends(single_body_dep)]) -> Any:
        return {"name": name}

    def embedded_dep(importance: Annotated[int, Body()]) -> int:
        return importance

    @app.put("/embedded/{item_id}")
    async def update_embedded(
        item_id: int, item: Item, importance: Annotated[int, Depends(embedded_dep)]
    ) -> Any:
        return {"item_id": item_id, "item": item.model_dump(), "importance": importance}

    def path_dep(item_id: int) -> int:
        return item_id * 10

    @app.get("/path-dep/{item_id}")
    async def read_path_dep(item_id: int, scaled: Annotated[int, Depends(path_dep)]) -> Any:
        return {"item_id": item_id, "scaled": scaled}

    def header_setter(response: Response, request: Request) -> None:
        response.headers["x-from-dependency"] = request.url.path
        response.set_cookie("dep", "yes")

    def task_adder(tasks: BackgroundTasks) -> None:
        tasks.add_task(log.append, "task from dependency")

    @app.get("/side-effects/", dependencies=[Depends(header_setter), Depends(task_adder)])
    async def read_side_effects(response: Response, tasks: BackgroundTasks) -> Any:
        response.status_code = 201
        tasks.add_task(log.append, "task from handler")
        return {"ok": True}

    # -- security scopes -------------------------------------------------------------------------------------
    def scoped_user(security_scopes: SecurityScopes, user: str = "alice") -> Any:
        count("scoped_user")
        return {"user": user, "scopes": security_scopes.scopes, "scope_str": security_scopes.scope_str}

    def reader(u: Annotated[Any, Security(scoped_user, scopes=["items"])]) -> Any:
        return u

    @app.get("/scoped/")
    async def read_scoped(
        a: Annotated[Any, Security(reader, scopes=["me"])],
        b: Annotated[Any, Security(scoped_user, scopes=["admin"])],
        c: Annotated[Any, Depends(scoped_user)],
    ) -> Any:
        return {"a": a, "b": b, "c": c}

    # -- contextvars: the request's context reaches yield exits, background tasks and streamed bodies ---
    async def context_dep() -> Any:
        log.append(f"dep sees {REQUEST_VAR.get()}")
        REQUEST_VAR.set("from-dep")
        yield "d"
        log.append(f"dep exit sees {REQUEST_VAR.get()}")

    async def context_task(where: str) -> None:
        log.append(f"{where} task sees {REQUEST_VAR.get()}")

    @app.get("/context/")
    async def read_context(d: Annotated[str, Depends(context_dep)], tasks: BackgroundTasks) -> Any:
        seen = REQUEST_VAR.get()
        REQUEST_VAR.set("from-handler")
        tasks.add_task(context_task, "background")
        return {"handler sees": seen}

    @app.get("/context-stream/")
    async def stream_context(d: Annotated[str, Depends(context_dep)]) -> Any:
        REQUEST_VAR.set("from-handler")

        async def body() -> Any:
            yield f"stream sees {REQUEST_VAR.get()}"

        after = BackgroundTasks()
        after.add_task(context_task, "after-stream")
        return StreamingResponse(body(), background=after)

    # -- overrides -------------------------------------------------------------------------------------------
    async def real_settings() -> Any:
        return {"env": "prod"}

    @app.get("/settings/")
    async def read_settings(settings: Annotated[dict, Depends(real_settings)]) -> Any:
        return settings

    def fake_settings(env: str = "test") -> Any:
        return {"env": env, "overridden": True}

    @app.get("/override/{on}")
    async def toggle_override(on: int) -> Any:
        if on:
            app.dependency_overrides[real_settings] = fake_settings
        else:
            app.dependency_overrides.clear()
        return {"overrides": len(app.dependency_overrides)}

    return app


_TOKEN, _KEY = "fake-super-secret-token", "fake-super-secret-key"
_JSON = {"content-type": "application/json"}

#: (case id, method, url, httpx keyword arguments); ``/log`` right after a case checks its effects and order.
CASES_DEPENDENCIES: list[Case] = [
    ("common-default", "GET", "/items/", {}),
    ("common-values", "GET", "/items/?q=x&skip=2&limit=5", {}),
    ("common-invalid", "GET", "/items/?skip=a&limit=b", {}),
    ("sync-handler-dep", "GET", "/users/?q=u", {}),
    ("class-dep", "GET", "/class/?q=c&skip=1", {}),
    ("class-dep-invalid", "GET", "/class/?limit=x", {}),
    ("class-default", "GET", "/class-default/", {}),
    ("callable-instance-yes", "GET", "/query-checker/?q=foobar", {}),
    ("callable-instance-no", "GET", "/query-checker/?q=foo", {}),
    ("async-callable", "GET", "/async-callable/", {"headers": {"token": "abc"}}),
    ("async-callable-missing", "GET", "/async-callable/", {}),
    ("sub-cookie", "GET", "/sub/", {"headers": {"cookie": "last_query=from-cookie"}}),
    ("sub-query", "GET", "/sub/?q=zz", {}),
    ("sub-log", "GET", "/log", {}),
    ("errors-all", "GET", "/errors/", {}),
    ("errors-log", "GET", "/log", {}),
    ("errors-some", "GET", "/errors/?n=x&page=2", {"headers": {"tag": "t"}}),
    ("errors-some-log", "GET", "/log", {}),
    ("errors-none", "GET", "/errors/?n=3&page=2&s=q", {"headers": {"tag": "t"}}),
    (
        "guarded-ok",
        "GET",
        "/guarded/",
        {"headers": {"x-token": "fake-super-secret-token", "x-key": "fake-super-secret-key"}},
    ),
    (
        "guarded-bad-token",
        "GET",
        "/guarded/",
        {"headers": {"x-token": "no", "x-key": "fake-super-secret-key"}},
    ),
    (
        "guarded-bad-key",
        "GET",
        "/guarded/",
        {"headers": {"x-token": "fake-super-secret-token", "x-key": "no"}},
    ),
    ("guarded-missing", "GET", "/guarded/", {}),
    ("app-dep-rejects", "GET", "/items/", {"headers": {"x-trace": "reject"}}),
    ("router-order", "GET", "/inc/r/thing", {}),
    ("router-order-log", "GET", "/log", {}),
    ("yield-ok", "GET", "/yield/", {}),
    ("yield-ok-log", "GET", "/log", {}),
    ("yield-boom", "GET", "/yield/?fail=1", {}),
    ("yield-boom-log", "GET", "/log", {}),
    ("yield-http", "GET", "/yield/?fail=2", {}),
    ("yield-http-log", "GET", "/log", {}),
    ("yield-invalid", "GET", "/yield/?fail=x", {}),
    ("yield-invalid-log", "GET", "/log", {}),
    ("swallow", "GET", "/swallow/", {}),
    ("swallow-log", "GET", "/log", {}),
    ("scopes", "GET", "/scopes/", {}),
    ("scopes-log", "GET", "/log", {}),
    (
        "owned-ok",
        "POST",
        "/owned-items/",
        {"json": {"item": {"name": "a", "price": 1}, "owner": {"login": "me"}}},
    ),
    ("owned-missing", "POST", "/owned-items/", {"json": {"item": {"name": "a"}}}),
    ("owned-not-embedded", "POST", "/owned-items/", {"json": {"name": "a"}}),
    (
        "owned-bad-json",
        "POST",
        "/owned-items/?x=1",
        {"content": b"{nope", "headers": {"content-type": "application/json"}},
    ),
    ("owned-empty", "POST", "/owned-items/", {}),
    ("single-body-dep", "POST", "/single-body-dep/", {"json": {"name": "n", "price": 2}}),
    ("single-body-dep-invalid", "POST", "/single-body-dep/", {"json": {"price": "x"}}),
    ("embedded-ok", "PUT", "/embedded/3", {"json": {"item": {"name": "a"}, "importance": 5}}),
    ("embedded-invalid", "PUT", "/embedded/x", {"json": {"item": {}, "importance": "high"}}),
    ("path-dep", "GET", "/path-dep/4", {}),
    ("path-dep-invalid", "GET", "/path-dep/four", {}),
    ("side-effects", "GET", "/side-effects/", {}),
    ("side-effects-log", "GET", "/log", {}),
    ("scoped", "GET", "/scoped/?user=bob", {}),
    ("scoped-log", "GET", "/log", {}),
    ("contextvars", "GET", "/context/", {}),
    ("contextvars-log", "GET", "/log", {}),
    ("contextvars-again", "GET", "/context/", {}),
    ("contextvars-again-log", "GET", "/log", {}),
    ("contextvars-stream", "GET", "/context-stream/", {}),
    ("contextvars-stream-log", "GET", "/log", {}),
    ("settings-real", "GET", "/settings/", {}),
    ("override-on", "GET", "/override/1", {}),
    ("settings-overridden", "GET", "/settings/?env=dev", {}),
    ("override-off", "GET", "/override/0", {}),
    ("settings-real-again", "GET", "/settings/", {}),
]
