"""OpenAPI corpus: apps written once against a framework module, built with FastAPI and with fulmen.

Each ``build_*(fw)`` takes the framework package (``fastapi`` or ``fulmen``) and returns an app; between them
they use every parameter kind, body kind, response option, security scheme and document setting that shows in
the OpenAPI document. ``fw.Models`` picks the model classes: FastAPI always gets pydantic models, fulmen gets
pydantic models or their msgspec Struct / dataclass equivalents (which must document identically).

No ``from __future__ import annotations``: both frameworks must resolve the handlers' annotations.
"""

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import msgspec
import pydantic
from typing_extensions import TypedDict


class Tags(str, enum.Enum):
    items = "items"
    users = "users"


from tests.openapi.enums import Color, Level  # noqa: E402


# ------------------------------------------------------------------------------------------------------------
# Models: pydantic, and the msgspec Struct / dataclass equivalents fulmen must document the same way
# ------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Models:
    """The model classes an app is built with."""

    Item: Any
    Image: Any
    Message: Any
    User: Any


# Field order: required fields first, so that Structs and dataclasses can declare the same order.
def _pydantic_models() -> Models:
    class Image(pydantic.BaseModel):
        url: str
        name: str

    class Item(pydantic.BaseModel):
        """An item for sale.

        Shown in the docs.\fHidden from the docs.
        """

        name: str
        price: float
        description: Optional[str] = None
        tax: Optional[float] = None
        tags: list[str] = []
        images: Optional[list[Image]] = None

    class Message(pydantic.BaseModel):
        message: str

    class User(pydantic.BaseModel):
        username: str
        full_name: Optional[str] = None

    return Models(Item, Image, Message, User)


def _struct_models() -> Models:
    class Image(msgspec.Struct):
        url: str
        name: str

    class Item(msgspec.Struct):
        """An item for sale.

        Shown in the docs.\fHidden from the docs.
        """

        name: str
        price: float
        description: Optional[str] = None
        tax: Optional[float] = None
        tags: list[str] = []
        images: Optional[list[Image]] = None

    class Message(msgspec.Struct):
        message: str

    class User(msgspec.Struct):
        username: str
        full_name: Optional[str] = None

    return Models(Item, Image, Message, User)


def _dataclass_models() -> Models:
    @dataclasses.dataclass
    class Image:
        url: str
        name: str

    @dataclasses.dataclass
    class Item:
        """An item for sale.

        Shown in the docs.\fHidden from the docs.
        """

        name: str
        price: float
        description: Optional[str] = None
        tax: Optional[float] = None
        tags: list[str] = dataclasses.field(default_factory=list)
        images: Optional[list[Image]] = None

    @dataclasses.dataclass
    class Message:
        message: str

    @dataclasses.dataclass
    class User:
        username: str
        full_name: Optional[str] = None

    return Models(Item, Image, Message, User)


#: FastAPI gets pydantic models or the dataclasses themselves (it supports both); fulmen also gets Structs,
#: which must document exactly as the equivalent pydantic models.
PYDANTIC = _pydantic_models()
STRUCTS = _struct_models()
DATACLASSES = _dataclass_models()


# Models with differing input and output schemas, constraints, aliases, enums, nesting and recursion.
class Money(pydantic.BaseModel):
    amount: decimal.Decimal
    currency: Literal["EUR", "USD"] = "EUR"


class Product(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    product_id: int = pydantic.Field(alias="productId", ge=1, description="The id")
    title: str = pydantic.Field(min_length=1, max_length=50, examples=["Hammer"])
    color: Color = Color.red
    level: Level = Level.low
    price: Money
    created: datetime.datetime
    day: Optional[datetime.date] = None
    ident: uuid.UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
    ratio: float = pydantic.Field(default=0.5, gt=0, le=1)
    extra: dict[str, int] = {}
    pair: tuple[int, str] = (1, "a")
    unique: set[str] = set()
    kind: Literal["tool"] = "tool"

    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        return self.title.upper()


class Node(pydantic.BaseModel):
    value: int
    children: list["Node"] = []


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", title="StrictThing")

    a: int
    b: Union[int, str] = 0


class Pet(TypedDict):
    name: str
    age: int


# ------------------------------------------------------------------------------------------------------------
# Parameters: every kind and every marker attribute that shows in the document
# ------------------------------------------------------------------------------------------------------------
def build_parameters(fw: Any) -> Any:
    app = fw.FastAPI(title="Parameters", version="2.0")
    Query, Path, Header, Cookie = fw.Query, fw.Path, fw.Header, fw.Cookie

    @app.get("/items/{item_id}")
    async def read_item(
        item_id: Annotated[int, Path(title="The ID", description="Item id", ge=1, le=1000)],
        q: Annotated[Optional[str], Query(min_length=3, max_length=50, pattern="^fixed")] = None,
        size: Annotated[float, Query(gt=0, lt=10.5)] = 1,
        short: bool = False,
    ):
        return {}

    @app.get("/files/{file_path:path}")
    async def read_file(file_path: str):
        return {}

    @app.get("/models/{model_name}")
    async def get_model(model_name: Color, level: Level = Level.low):
        return {}

    @app.get("/typed/{u}")
    async def typed(
        u: uuid.UUID,
        when: datetime.datetime,
        day: Optional[datetime.date] = None,
        amount: Optional[decimal.Decimal] = None,
        mode: Literal["a", "b"] = "a",
        one: Literal["x"] = "x",
        anything: Any = None,
        dur: Optional[datetime.timedelta] = None,
    ):
        return {}

    @app.get("/lists/")
    async def lists(
        q: Annotated[list[str], Query()],
        ids: Annotated[Optional[list[int]], Query(max_length=3)] = None,
        tags: Annotated[list[str], Query(title="Tag list")] = ["a", "b"],  # noqa: B006
        uniq: Annotated[set[int], Query()] = set(),  # noqa: B006
    ):
        return {}

    @app.get("/meta/")
    async def meta(
        item_query: Annotated[str, Query(alias="item-query", description="Aliased")],
        old: Annotated[Optional[str], Query(deprecated=True)] = None,
        hidden: Annotated[Optional[str], Query(include_in_schema=False)] = None,
        ex: Annotated[Optional[int], Query(examples=[1, 2])] = None,
        oex: Annotated[
            Optional[str],
            Query(
                openapi_examples={
                    "normal": {"summary": "A normal one", "value": "foo"},
                    "none": {"value": None},
                }
            ),
        ] = None,
        extra: Annotated[Optional[str], Query(json_schema_extra={"x-thing": 1})] = None,
        titled: Annotated[int, Query(title="Custom Title")] = 5,
        *,
        factory: Annotated[list[int], Query(default_factory=list)],
    ):
        return {}

    @app.get("/default-style/")
    async def default_style(
        a: str = Query("x", max_length=5, description="A"),
        b: Optional[int] = Query(None, ge=0),
        c: int = Query(..., alias="see"),
    ):
        return {}

    @app.get("/headers/")
    async def headers(
        user_agent: Annotated[Optional[str], Header()] = None,
        x_token: Annotated[list[str], Header()] = [],  # noqa: B006
        strange_header: Annotated[Optional[str], Header(convert_underscores=False)] = None,
        aliased: Annotated[Optional[str], Header(alias="X-Custom")] = None,
        plain: str = Header("p"),
    ):
        return {}

    @app.get("/cookies/")
    async def cookies(
        ads_id: Annotated[Optional[str], Cookie()] = None,
        session: Annotated[str, Cookie(description="Session cookie")] = "s",
    ):
        return {}

    @app.get("/no-params")
    async def no_params():
        return {}

    @app.get("/users/{user_id}/items/{item_id}")
    async def nested(user_id: int, item_id: str, q: Optional[str] = None, needy: Optional[str] = None):
        return {}

    return app


def build_param_examples(fw: Any) -> Any:
    """Deprecated ``example=`` (FastAPI warns) kept apart so the warning is expected in one place."""
    app = fw.FastAPI()

    @app.get("/ex/")
    async def ex(q: Annotated[Optional[str], fw.Query(example="an example")] = None):
        return {}

    @app.post("/ex-body/")
    async def ex_body(item: Annotated[dict[str, int], fw.Body(example={"a": 1})]):
        return {}

    return app


class Limits(pydantic.BaseModel):
    ceiling: float = float("inf")
    floor: float = float("-inf")
    unknown: float = float("nan")
    steps: list[float] = [1.0, float("inf")]


def build_non_finite_defaults(fw: Any) -> Any:
    """Infinity and NaN as defaults: JSON can't hold them, so they leave the document (FastAPI drops them)."""
    app = fw.FastAPI()

    @app.get("/items/")
    async def items(max_price: float = float("inf"), min_price: float = float("-inf"), ratio: float = 0.5):
        return {}

    @app.post("/limits/")
    async def limits(body: Limits):
        return {}

    @app.get("/required-old-style/")
    async def required(q: str = ...):  # type: ignore[assignment]
        return {}

    return app


# ------------------------------------------------------------------------------------------------------------
# Request bodies
# ------------------------------------------------------------------------------------------------------------
def build_bodies(fw: Any, m: Models = PYDANTIC) -> Any:
    app = fw.FastAPI()
    Body = fw.Body

    @app.post("/items/")
    async def create_item(item: m.Item):  # type: ignore[name-defined]
        return {}

    @app.put("/items/{item_id}")
    async def update_item(item_id: int, item: m.Item, user: m.User, importance: Annotated[int, Body(gt=0)]):  # type: ignore[name-defined]
        return {}

    @app.put("/embed/{item_id}")
    async def embed_item(item_id: int, item: Annotated[m.Item, Body(embed=True)]):  # type: ignore[name-defined]
        return {}

    @app.post("/optional/")
    async def optional_body(item: Optional[m.Item] = None):  # type: ignore[name-defined]
        return {}

    @app.post("/list/")
    async def list_body(images: list[m.Image]):  # type: ignore[name-defined]
        return {}

    @app.post("/dict/")
    async def dict_body(weights: dict[int, float]):
        return {}

    @app.post("/scalar/")
    async def scalar_body(value: Annotated[int, Body(title="Value", description="A number", ge=0)]):
        return {}

    @app.post("/examples/")
    async def examples_body(
        item: Annotated[
            m.Item,  # type: ignore[name-defined]
            Body(
                openapi_examples={
                    "normal": {"summary": "A normal example", "value": {"name": "Foo", "price": 35.4}},
                    "invalid": {"summary": "Invalid", "value": {"name": "Baz", "price": "x"}},
                }
            ),
        ],
    ):
        return {}

    @app.post("/schema-examples/")
    async def schema_examples(item: Annotated[dict[str, Any], Body(examples=[{"a": 1}])]):
        return {}

    @app.post("/media/")
    async def media_body(data: Annotated[dict[str, Any], Body(media_type="application/vnd.api+json")]):
        return {}

    @app.post("/optional-embed/")
    async def optional_embed(a: Annotated[Optional[int], Body()] = None, b: Annotated[str, Body()] = "x"):
        return {}

    @app.get("/get-with-body/")
    async def get_with_body(item: m.Item):  # type: ignore[name-defined]
        return {}

    @app.delete("/delete-with-body/")
    async def delete_with_body(item: m.Item):  # type: ignore[name-defined]
        return {}

    @app.post("/alias/")
    async def alias_body(
        item: Annotated[m.Item, Body(alias="the-item", embed=True)], n: Annotated[int, Body(alias="N")]
    ):  # type: ignore[name-defined]
        return {}

    return app


def build_rich_models(fw: Any) -> Any:
    """pydantic-only features: input/output split, computed fields, aliases, enums, recursion."""
    app = fw.FastAPI()

    @app.post("/products/", response_model=Product)
    async def create_product(product: Product):
        return product

    @app.get("/products/", response_model=list[Product])
    async def list_products():
        return []

    @app.post("/nodes/")
    async def create_node(node: Node) -> Node:
        return node

    @app.post("/strict/")
    async def strict(value: Strict, pet: Pet):
        return {}

    @app.post("/union/")
    async def union(value: Union[Product, Node]):
        return {}

    return app


# ------------------------------------------------------------------------------------------------------------
# Responses
# ------------------------------------------------------------------------------------------------------------
def build_responses(fw: Any, m: Models = PYDANTIC) -> Any:
    app = fw.FastAPI()
    responses = fw.responses

    @app.get("/model/{item_id}", response_model=m.Item)
    async def read_model(item_id: str):
        return {}

    @app.get("/annotated")
    async def read_annotated() -> m.Item:  # type: ignore[name-defined]
        return {}  # type: ignore[return-value]

    @app.get("/list", response_model=list[m.Item], response_description="The items")
    async def read_list():
        return []

    @app.get("/none", response_model=None)
    async def read_none() -> m.Item:  # type: ignore[name-defined]
        return {}  # type: ignore[return-value]

    @app.post("/created", status_code=201, response_model=m.Message)
    async def created(item: m.Item):  # type: ignore[name-defined]
        return {}

    @app.delete("/gone/{item_id}", status_code=204)
    async def gone(item_id: int):
        return None

    @app.get("/not-modified", status_code=304)
    async def not_modified():
        return None

    @app.get("/html", response_class=responses.HTMLResponse)
    async def html():
        return "<b>x</b>"

    @app.get("/text", response_class=responses.PlainTextResponse)
    async def text():
        return "x"

    @app.get("/orjson", response_class=responses.ORJSONResponse)
    async def orjson_route():
        return {}

    @app.get("/redirect", response_class=responses.RedirectResponse)
    async def redirect():
        return "/html"

    @app.get("/redirect-status", response_class=responses.RedirectResponse, status_code=302)
    async def redirect_status():
        return "/html"

    @app.get("/plain-response", response_class=responses.Response)
    async def plain_response():
        return responses.Response(b"x")

    @app.get("/returns-response")
    async def returns_response() -> responses.JSONResponse:
        return responses.JSONResponse({})

    @app.get(
        "/extra/{item_id}",
        response_model=m.Item,
        responses={
            404: {"model": m.Message, "description": "The item was not found"},
            "4XX": {"description": "Client trouble"},
            200: {
                "content": {"image/png": {}},
                "description": "Return the JSON item or an image.",
            },
            "default": {"description": "Something else"},
            418: {"model": m.Message},
            299: {"description": ""},
            500: {"content": {"application/json": {"schema": {"type": "object", "x-extra": None}}}},
            302: {"headers": {"Location": {"description": "Where", "schema": {"type": "string"}}}},
        },
    )
    async def extra(item_id: str):
        return {}

    @app.get("/extra-html", response_class=responses.HTMLResponse, responses={404: {"model": m.Message}})
    async def extra_html():
        return ""

    @app.get("/no-validation-error", responses={"default": {"description": "All errors"}})
    async def no_validation_error(q: int = 1):
        return {}

    @app.get("/own-422", responses={422: {"description": "Mine", "model": m.Message}})
    async def own_422(q: int = 1):
        return {}

    return app


def build_response_variants(fw: Any) -> Any:
    """Response models with defaults (serialization schemas), unions and scalars."""
    app = fw.FastAPI()

    @app.get("/scalar", response_model=int)
    async def scalar():
        return 1

    @app.get("/dict", response_model=dict[str, list[int]])
    async def dict_route():
        return {}

    @app.get("/union", response_model=Union[Product, Node])
    async def union_route():
        return {}

    @app.get("/optional", response_model=Optional[Node])
    async def optional_route():
        return None

    @app.put("/roundtrip/{n}")
    async def roundtrip(n: int, product: Product) -> Product:
        return product

    return app


def build_separate_schemas_off(fw: Any) -> Any:
    app = fw.FastAPI(separate_input_output_schemas=False)

    @app.put("/roundtrip")
    async def roundtrip(product: Product) -> Product:
        return product

    @app.get("/money")
    async def money() -> Money:
        return Money(amount=decimal.Decimal(1))

    return app


# ------------------------------------------------------------------------------------------------------------
# Operation metadata, routers, callbacks, webhooks, document settings
# ------------------------------------------------------------------------------------------------------------
def build_metadata(fw: Any) -> Any:
    app = fw.FastAPI(
        title="Metadata",
        summary="Every document-level setting",
        description="Longer **description**.",
        version="1.2.3",
        terms_of_service="https://example.com/terms",
        contact={"name": "Deadpool", "url": "https://x-force.example.com", "email": "dp@x-force.example.com"},
        license_info={"name": "Apache 2.0", "identifier": "Apache-2.0"},
        openapi_tags=[
            {"name": "users", "description": "Operations with users."},
            {
                "name": "items",
                "description": "Manage items.",
                "externalDocs": {"description": "Items external docs", "url": "https://fastapi.tiangolo.com"},
            },
        ],
        servers=[
            {"url": "https://stag.example.com", "description": "Staging environment"},
            {"url": "https://prod.example.com/api", "description": "Production environment"},
        ],
        openapi_external_docs={"description": "Docs", "url": "https://example.com/docs"},
    )

    @app.get("/items/", tags=[Tags.items], summary="Read items", description="All the items.")
    async def read_items():
        return []

    @app.get("/users/", tags=["users"], deprecated=True, operation_id="list_all_users")
    async def read_users():
        """List users.

        With **markdown**.
        \f
        :param nothing: hidden from the docs
        """
        return []

    @app.get("/hidden", include_in_schema=False)
    async def hidden():
        return {}

    @app.post(
        "/extra",
        openapi_extra={
            "x-aperture-labs-portal": "blue",
            "requestBody": {
                "content": {"application/x-yaml": {"schema": {"type": "object", "required": ["name"]}}},
                "required": True,
            },
            "parameters": [{"name": "extra", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "Overridden"}},
        },
    )
    async def extra():
        return {}

    @app.get("/multi-tag", tags=["a", "b"], name="custom_name")
    async def multi_tag():
        return {}

    @app.api_route("/any-method", methods=["PATCH"])
    async def any_method():
        return {}

    @app.put("/put")
    async def put():
        return {}

    @app.options("/options")
    async def options():
        return {}

    @app.head("/head")
    async def head():
        return {}

    @app.trace("/trace")
    async def trace():
        return {}

    return app


def build_routers(fw: Any, m: Models = PYDANTIC) -> Any:
    app = fw.FastAPI()
    router = fw.APIRouter(
        prefix="/items",
        tags=["items"],
        responses={404: {"description": "Not found"}},
    )

    def get_token(x_token: Annotated[str, fw.Header()]):
        return x_token

    @router.get("/")
    async def read_items():
        return {}

    @router.get("/{item_id}", tags=["custom"], responses={403: {"description": "Forbidden"}})
    async def read_item(item_id: str):
        return {}

    @router.put("/{item_id}", deprecated=True)
    async def update_item(item_id: str, item: m.Item):  # type: ignore[name-defined]
        return {}

    admin = fw.APIRouter()

    @admin.post("/")
    async def update_admin():
        return {}

    app.include_router(router)
    app.include_router(
        admin,
        prefix="/admin",
        tags=["admin"],
        dependencies=[fw.Depends(get_token)],
        responses={418: {"description": "I'm a teapot"}},
        deprecated=True,
    )
    return app


def custom_unique_id(route: Any) -> str:
    return f"{route.tags[0] if route.tags else 'default'}-{route.name}"


def build_unique_ids(fw: Any) -> Any:
    app = fw.FastAPI(generate_unique_id_function=custom_unique_id)

    @app.get("/items/", tags=["items"])
    async def read_items():
        return {}

    @app.post("/items/", tags=["items"])
    async def create_item(item: dict[str, int]):
        return {}

    @app.get("/route-level", generate_unique_id_function=lambda route: "route-" + route.name)
    async def route_level(q: int = 0):
        return {}

    return app


def build_callbacks(fw: Any, m: Models = PYDANTIC, callback_prefix: str = "/callbacks") -> Any:
    """Callbacks and webhooks. FastAPI's docs write callback paths as ``"{$callback_url}/invoices/..."``."""
    app = fw.FastAPI()

    class Invoice(pydantic.BaseModel):
        id: str
        customer: str
        total: float

    class InvoiceEvent(pydantic.BaseModel):
        description: str
        paid: bool

    class InvoiceEventReceived(pydantic.BaseModel):
        ok: bool

    invoices_callback_router = fw.APIRouter()

    @invoices_callback_router.post(
        callback_prefix + "/invoices/{$request.body.id}", response_model=InvoiceEventReceived
    )
    def invoice_notification(body: InvoiceEvent):
        pass

    @invoices_callback_router.get(callback_prefix + "/status")
    def invoice_status(q: str):
        pass

    @app.post("/invoices/", callbacks=invoices_callback_router.routes)
    def create_invoice(invoice: Invoice, callback_url: Optional[str] = None):
        return {"msg": "Invoice received"}

    status_router = fw.APIRouter()

    @status_router.delete(callback_prefix + "/cancelled", status_code=204)
    def cancelled(reason: Annotated[Optional[str], fw.Header()] = None):
        pass

    @app.get("/plain/", callbacks=status_router.routes)
    def plain():
        return {}

    @app.webhooks.post("new-subscription")
    def new_subscription(body: m.User):  # type: ignore[name-defined]
        """When a new user subscribes to your service we'll send you a POST request."""

    @app.webhooks.get("ping")
    def ping(q: Optional[int] = None):
        pass

    return app


def build_root_path(fw: Any) -> Any:
    app = fw.FastAPI(root_path="/api/v1", servers=[{"url": "https://example.com"}])

    @app.get("/items")
    async def read_items():
        return {}

    return app


def build_minimal(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/")
    async def root():
        return {"message": "Hello World"}

    return app


def build_empty(fw: Any) -> Any:
    return fw.FastAPI(title="Nothing")


# ------------------------------------------------------------------------------------------------------------
# Dependencies and security
# ------------------------------------------------------------------------------------------------------------
def build_dependencies(fw: Any) -> Any:
    app = fw.FastAPI(dependencies=[fw.Depends(lambda: None)])
    Depends, Query, Header = fw.Depends, fw.Query, fw.Header

    async def common(q: Optional[str] = None, skip: int = 0, limit: int = 100):
        return {}

    def token(x_token: Annotated[str, Header()]):
        return x_token

    def key(x_key: Annotated[str, Header()], t: Annotated[str, Depends(token)]):
        return x_key

    class Pager:
        def __init__(self, page: int = 1, size: Annotated[int, Query(le=100)] = 10):
            self.page, self.size = page, size

    def needs_body(extra: Annotated[dict[str, int], fw.Body()]):
        return extra

    @app.get("/items/", dependencies=[Depends(token), Depends(key)])
    async def read_items(commons: Annotated[dict[str, Any], Depends(common)], q: Optional[int] = None):
        return {}

    @app.get("/users/")
    async def read_users(
        commons: Annotated[dict[str, Any], Depends(common)], pager: Annotated[Pager, Depends()]
    ):
        return {}

    @app.post("/with-body/")
    async def with_body(item: dict[str, str], extra: Annotated[dict[str, int], Depends(needs_body)]):
        return {}

    @app.get("/required-wins/")
    async def required_wins(a: Annotated[dict[str, Any], Depends(common)], q: Annotated[str, Query()]):
        return {}

    return app


def build_security(fw: Any) -> Any:
    sec = fw.security
    app = fw.FastAPI()
    Depends, Security = fw.Depends, fw.Security

    oauth2 = sec.OAuth2PasswordBearer(
        tokenUrl="token", scopes={"me": "Read information about the current user.", "items": "Read items."}
    )
    code = sec.OAuth2AuthorizationCodeBearer(
        authorizationUrl="authorize", tokenUrl="token", refreshUrl="refresh", scopes={"a": "A"}
    )
    basic = sec.HTTPBasic(description="Basic auth")
    bearer = sec.HTTPBearer(bearerFormat="JWT", scheme_name="jwt")
    digest = sec.HTTPDigest()
    key_header = sec.APIKeyHeader(name="X-API-Key", description="Header key")
    key_query = sec.APIKeyQuery(name="api_key")
    key_cookie = sec.APIKeyCookie(name="session")
    oidc = sec.OpenIdConnect(openIdConnectUrl="https://example.com/.well-known/openid-configuration")
    flows = sec.OAuth2(
        flows={
            "implicit": {"authorizationUrl": "https://example.com/auth", "scopes": {"read": "Read"}},
            "clientCredentials": {"tokenUrl": "https://example.com/token"},
        },
        description="All flows",
    )

    def current_user(security_scopes: sec.SecurityScopes, token: Annotated[str, Depends(oauth2)]):
        return token

    def active_user(user: Annotated[str, Security(current_user, scopes=["me"])]):
        return user

    @app.get("/users/me/")
    async def me(user: Annotated[str, Depends(active_user)]):
        return {}

    @app.get("/users/me/items/")
    async def my_items(user: Annotated[str, Security(active_user, scopes=["items"])]):
        return {}

    @app.get("/status/")
    async def status(user: Annotated[str, Depends(current_user)]):
        return {}

    @app.get("/code")
    async def code_route(token: Annotated[str, Depends(code)]):
        return {}

    @app.get("/basic")
    async def basic_route(credentials: Annotated[Any, Depends(basic)]):
        return {}

    @app.get("/bearer", dependencies=[Depends(bearer)])
    async def bearer_route():
        return {}

    @app.get("/digest")
    async def digest_route(credentials: Annotated[Any, Depends(digest)]):
        return {}

    @app.get("/keys")
    async def keys(
        a: Annotated[str, Depends(key_header)],
        b: Annotated[str, Depends(key_query)],
        c: Annotated[str, Depends(key_cookie)],
    ):
        return {}

    @app.get("/oidc")
    async def oidc_route(token: Annotated[str, Depends(oidc)]):
        return {}

    @app.get("/flows")
    async def flows_route(token: Annotated[str, Security(flows, scopes=["read"])]):
        return {}

    @app.get("/twice")
    async def twice(
        a: Annotated[str, Security(oauth2, scopes=["me"])],
        b: Annotated[str, Security(oauth2, scopes=["items"])],
    ):
        return {}

    router = fw.APIRouter(dependencies=[Depends(key_header)])

    @router.get("/guarded")
    async def guarded(q: Optional[str] = None):
        return {}

    app.include_router(router, prefix="/r")
    return app


# ------------------------------------------------------------------------------------------------------------
# Forms and files
# ------------------------------------------------------------------------------------------------------------
class LoginForm(pydantic.BaseModel):
    username: str
    password: str
    remember: bool = False


def build_forms(fw: Any) -> Any:
    app = fw.FastAPI()
    Form, File, UploadFile = fw.Form, fw.File, fw.UploadFile

    @app.post("/login/")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form(min_length=8)]):
        return {}

    @app.post("/form-model/")
    async def form_model(data: Annotated[LoginForm, Form()]):
        return {}

    @app.post("/files/")
    async def create_file(file: Annotated[bytes, File(description="A file read as bytes")]):
        return {}

    @app.post("/uploadfile/")
    async def create_upload_file(file: UploadFile):
        return {}

    @app.post("/optional-upload/")
    async def optional_upload(file: Optional[UploadFile] = None):
        return {}

    @app.post("/many-files/")
    async def many_files(files: Annotated[list[UploadFile], File(description="Several")]):
        return {}

    @app.post("/mixed/")
    async def mixed(
        file: Annotated[bytes, File()],
        fileb: Annotated[UploadFile, File()],
        token: Annotated[str, Form()],
        count: Annotated[int, Form(ge=0)] = 0,
        tags: Annotated[list[str], Form()] = [],  # noqa: B006
    ):
        return {}

    @app.post("/form-multipart/")
    async def form_multipart(name: Annotated[str, Form(media_type="multipart/form-data")]):
        return {}

    return app


# ------------------------------------------------------------------------------------------------------------
# Plain-type models in depth: constraints, enums, decimals (input/output split), recursion, renamed fields
# ------------------------------------------------------------------------------------------------------------
from tests.openapi import rich_dataclasses, rich_pydantic, rich_structs  # noqa: E402

RICH = {"pydantic": rich_pydantic, "structs": rich_structs, "dataclasses": rich_dataclasses}


def build_plain_models(fw: Any, m: Models = PYDANTIC) -> Any:
    """``m`` picks the flavour (``PYDANTIC``, ``STRUCTS`` or ``DATACLASSES``) of the richer models too."""
    flavour = "pydantic" if m is PYDANTIC else "structs" if m is STRUCTS else "dataclasses"
    r = RICH[flavour]
    Customer, Tree, Closed = r.Customer, r.Tree, r.Closed
    app = fw.FastAPI()

    @app.post("/customers/", response_model=Customer, status_code=201)
    async def create_customer(customer: Customer):  # type: ignore[valid-type]
        return customer

    @app.get("/customers/", response_model=list[Customer])
    async def list_customers(limit: Annotated[int, fw.Query(ge=1, le=100)] = 10):
        return []

    @app.put("/closed/{key}")
    async def put_closed(key: int, closed: Closed) -> Closed:  # type: ignore[valid-type]
        return closed

    @app.get("/trees/{tree_id}")
    async def get_tree(tree_id: int) -> Tree:  # type: ignore[valid-type]
        return Tree(value=tree_id)

    @app.post("/pets/")
    async def create_pet(pet: Pet, colors: Annotated[list[Color], fw.Body()] = []):  # noqa: B006
        return {}

    return app


def build_app_settings(fw: Any) -> Any:
    """Router settings given to the app itself: they apply to every operation."""
    import http

    cb = fw.APIRouter()

    @cb.post("/hooks/audit")
    def audit(event: dict[str, str]):
        pass

    app = fw.FastAPI(
        responses={401: {"description": "Unauthorised"}, 500: {"model": dict[str, str]}},
        deprecated=True,
        callbacks=cb.routes,
    )

    @app.get("/items/", status_code=http.HTTPStatus.ACCEPTED)
    async def read_items():
        return []

    router = fw.APIRouter(prefix="/users")

    @router.get("/{user_id}", responses={404: {"description": "No such user"}})
    async def read_user(user_id: int):
        return {}

    app.include_router(router)
    hidden = fw.FastAPI(include_in_schema=False)

    @hidden.get("/secret")
    async def secret():
        return {}

    app.mount("/hidden", hidden)
    return app


def build_streams(fw: Any) -> Any:
    """Generator endpoints: JSON Lines by default, Server-Sent Events with ``EventSourceResponse``."""
    from collections.abc import AsyncIterable, AsyncIterator, Iterator

    app = fw.FastAPI()
    sse = fw.sse

    @app.get("/sse", response_class=sse.EventSourceResponse)
    async def events() -> AsyncIterator[Image]:  # type: ignore[valid-type]
        yield PYDANTIC.Image(url="u", name="n")

    @app.post("/sse-plain", response_class=sse.EventSourceResponse)
    async def events_plain(q: int = 0):
        yield {"a": q}

    @app.get("/sse-events", response_class=sse.EventSourceResponse)
    async def raw_events() -> AsyncIterable[sse.ServerSentEvent]:
        yield sse.ServerSentEvent(data=1)

    @app.get("/jsonl")
    def lines() -> Iterator[int]:
        yield 1

    @app.get("/jsonl-plain")
    async def lines_plain():
        yield {"a": 1}

    return app


Image = PYDANTIC.Image


def build_router_unique_ids(fw: Any) -> Any:
    """``generate_unique_id_function`` on an APIRouter and on ``include_router`` (FastAPI's client recipe)."""
    app = fw.FastAPI()
    router = fw.APIRouter(generate_unique_id_function=custom_unique_id)

    @router.get("/items/", tags=["items"])
    async def read_items():
        return {}

    app.include_router(router)
    return app


def build_custom_oauth2(fw: Any) -> Any:
    """FastAPI's "OAuth2 with a cookie" recipe: a scheme built on ``OAuth2`` with ``OAuthFlows`` from the
    OpenAPI models module."""
    from importlib import import_module

    flows_model = import_module(f"{fw.__name__}.openapi.models").OAuthFlows
    password_flow = import_module(f"{fw.__name__}.openapi.models").OAuthFlowPassword

    class OAuth2PasswordBearerWithCookie(fw.security.OAuth2):
        def __init__(
            self, tokenUrl: str, scheme_name: Optional[str] = None, scopes: Optional[dict[str, str]] = None
        ):
            flows = flows_model(password={"tokenUrl": tokenUrl, "scopes": scopes or {}})
            super().__init__(flows=flows, scheme_name=scheme_name, auto_error=True)

    cookie_scheme = OAuth2PasswordBearerWithCookie(tokenUrl="token", scopes={"read": "Read"})
    typed_scheme = fw.security.OAuth2(
        flows=flows_model(password=password_flow(tokenUrl="login", scopes={"w": "Write"})),
        scheme_name="typed",
    )
    app = fw.FastAPI()

    @app.get("/me")
    async def me(token: Annotated[str, fw.Security(cookie_scheme, scopes=["read"])]):
        return {}

    @app.get("/typed")
    async def typed(token: Annotated[str, fw.Depends(typed_scheme)]):
        return {}

    return app


def build_form_models(fw: Any, m: Models = PYDANTIC) -> Any:
    """Form models alone, optional, and next to other form fields and files (FastAPI's ``allOf`` shape)."""
    flavour = "pydantic" if m is PYDANTIC else "structs" if m is STRUCTS else "dataclasses"
    r = RICH[flavour]
    Credentials, Profile = r.Credentials, r.Profile
    Form, UploadFile = fw.Form, fw.UploadFile
    app = fw.FastAPI()

    @app.post("/login/")
    async def login(data: Annotated[Credentials, Form()]):  # type: ignore[valid-type]
        return {}

    @app.post("/optional-profile/")
    async def optional_profile(data: Annotated[Optional[Profile], Form()] = None):  # type: ignore[valid-type]
        return {}

    @app.post("/model-and-field/")
    async def model_and_field(data: Annotated[Profile, Form()], note: Annotated[str, Form(max_length=9)]):  # type: ignore[valid-type]
        return {}

    @app.post("/model-and-file/")
    async def model_and_file(data: Annotated[Profile, Form(title="The profile")], file: UploadFile):  # type: ignore[valid-type]
        return {}

    @app.post("/closed-optional/")
    async def closed_optional(
        data: Annotated[Optional[Credentials], Form()] = None,  # type: ignore[valid-type]
        token: Annotated[Optional[str], Form()] = None,
    ):
        return {}

    return app
