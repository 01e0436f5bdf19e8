"""Cross-check unions of form models, alias choices of form fields, ``Json`` form fields and form defaults.

The app is written once against a framework module (``build_app(fw)``); FastAPI's answers are collected once
in-process, fulmen's come through every front door (``serve``) and must match in status, headers and body.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, Union

import fastapi
import httpx
import pydantic
import pytest

import fulmen
from tests.openapi.compare import assert_same, fastapi_document, fulmen_document
from tests.test_crosscheck_fastapi import Answer, ask, assert_same_as_fastapi
from tests.test_crosscheck_fastapi import _reraise_only_unanswered as reraise_only_unanswered

Case = tuple[str, str, str, dict[str, Any]]


class TextForm(pydantic.BaseModel):
    kind: Literal["text"]
    value: str
    enabled: bool = True


class ListForm(pydantic.BaseModel):
    kind: Literal["list"]
    value: list[str]


class Newsletter(pydantic.BaseModel):
    email: str
    subscribe: bool = False


class Contact(pydantic.BaseModel):
    email: str
    phone: str


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    kind: Literal["strict"]
    name: str = pydantic.Field(validation_alias=pydantic.AliasChoices("name", "full_name"))


class Settings(pydantic.BaseModel):
    kind: Literal["settings"] = "settings"
    tags: list[str] = []


class Person(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    name: str = pydantic.Field(alias="display_name")
    department: str


class Account(pydantic.BaseModel):
    login: str = pydantic.Field(validation_alias=pydantic.AliasChoices("login", "user"))
    plan: str = "free"


def build_app(fw: Any) -> Any:
    """Routes taking unions of form models, discriminated or not, optional or not."""
    app = fw.FastAPI()
    Form = fw.Form
    shared_default = Settings()

    @app.post("/union")
    def union(data: Annotated[Union[TextForm, ListForm], Form()]):
        return {"type": type(data).__name__, "set": sorted(data.model_fields_set), "data": data.model_dump()}

    @app.post("/discriminated")
    def discriminated(data: Annotated[Union[TextForm, ListForm], Form(discriminator="kind")]):
        return {"type": type(data).__name__, "set": sorted(data.model_fields_set), "data": data.model_dump()}

    @app.post("/optional-discriminated")
    def optional_discriminated(
        data: Annotated[Union[TextForm, ListForm, None], Form(discriminator="kind")] = None,
    ):
        return None if data is None else {"type": type(data).__name__, "data": data.model_dump()}

    @app.post("/smart")
    def smart(data: Annotated[Union[Newsletter, Contact], Form()]):
        return {"type": type(data).__name__, "data": data.model_dump()}

    @app.post("/forbid")
    def forbid(data: Annotated[Union[Strict, ListForm], Form()]):
        return {"type": type(data).__name__, "data": data.model_dump()}

    @app.post("/shared-default")
    def shared(data: Annotated[Optional[Union[Settings, TextForm]], Form()] = shared_default):
        assert data is not None
        data.tags.append("handler")
        return data.model_dump()

    choices = pydantic.AliasChoices

    @app.post("/alias-choices")
    def alias_choices(
        value: Annotated[int, Form(validation_alias=choices("primary", "secondary"))] = 10,
        tags: Annotated[list[str], Form(validation_alias=choices("tag", "label"))] = [],  # noqa: B006
        checked: Annotated[bool, Form(validation_alias=choices("on", "checked"))] = False,
        doc: Annotated[Optional[bytes], fw.File(validation_alias=choices("doc", "attachment"))] = None,
    ):
        return {"value": value, "tags": tags, "checked": checked, "doc": doc and doc.decode()}

    @app.post("/alias-required")
    def alias_required(count: Annotated[int, Form(validation_alias=choices("count", "n"))]):
        return {"count": count}

    @app.post("/factory-default")
    def factory_default(data: Annotated[Optional[Union[Settings, TextForm]], Form(default_factory=Settings)]):
        return data and data.model_dump()

    @app.post("/validated-default")
    def validated_default(count: Annotated[int, Form(validate_default=True)] = "x"):  # type: ignore[assignment]
        return {"count": count}

    @app.post("/json-field")
    def json_field(items: Annotated[pydantic.Json[list[str]], Form()]):
        return items

    @app.post("/aliased-models")
    def aliased_models(
        person: Annotated[Person, Form()], account: Annotated[Optional[Account], Form()] = None
    ):
        return {"person": person.model_dump(), "account": account and account.model_dump()}

    @app.post("/aliased-optional")
    def aliased_optional(account: Annotated[Optional[Account], Form()] = None):
        return account and account.model_dump()

    return app


CASES: list[Case] = [
    ("union-text", "POST", "/union", {"data": {"kind": "text", "value": "v"}}),
    ("union-list-one", "POST", "/union", {"data": {"kind": "list", "value": "v"}}),
    ("union-list-many", "POST", "/union", {"data": {"kind": "list", "value": ["a", "b"]}}),
    ("union-checkbox", "POST", "/union", {"data": {"kind": "text", "value": "v", "enabled": "on"}}),
    ("union-empty-value", "POST", "/union", {"data": {"kind": "text", "value": ""}}),
    ("union-empty-multipart", "POST", "/union", {"files": {"kind": (None, "text"), "value": (None, "")}}),
    ("union-nothing", "POST", "/union", {}),
    ("discriminated-text", "POST", "/discriminated", {"data": {"kind": "text", "value": "v"}}),
    ("discriminated-list", "POST", "/discriminated", {"data": {"kind": "list", "value": "v"}}),
    ("discriminated-missing-value", "POST", "/discriminated", {"data": {"kind": "text"}}),
    ("discriminated-no-tag", "POST", "/discriminated", {"data": {"value": "v"}}),
    ("discriminated-bad-tag", "POST", "/discriminated", {"data": {"kind": "other", "value": "v"}}),
    ("optional-absent", "POST", "/optional-discriminated", {}),
    ("optional-unrelated", "POST", "/optional-discriminated", {"data": {"other": "x"}}),
    ("optional-given", "POST", "/optional-discriminated", {"data": {"kind": "list", "value": ["a"]}}),
    ("optional-bad-tag", "POST", "/optional-discriminated", {"data": {"kind": "x"}}),
    ("smart-picks-best", "POST", "/smart", {"data": {"email": "a@b.c", "phone": "123"}}),
    ("smart-default-member", "POST", "/smart", {"data": {"email": "a@b.c"}}),
    ("forbid-second-alias", "POST", "/forbid", {"data": {"kind": "strict", "full_name": "Ann"}}),
    ("forbid-both-aliases", "POST", "/forbid", {"data": {"kind": "strict", "name": "A", "full_name": "B"}}),
    ("choices-first", "POST", "/alias-choices", {"data": {"primary": "1", "tag": ["a", ""], "on": "on"}}),
    (
        "choices-second",
        "POST",
        "/alias-choices",
        {"data": {"secondary": "2", "label": "b", "checked": "yes"}},
    ),
    ("choices-empty-first", "POST", "/alias-choices", {"data": {"primary": "", "secondary": "5"}}),
    ("choices-invalid-second", "POST", "/alias-choices", {"data": {"secondary": "x", "checked": "maybe"}}),
    ("choices-file-second", "POST", "/alias-choices", {"files": {"attachment": ("a.txt", b"content")}}),
    ("choices-none", "POST", "/alias-choices", {}),
    ("required-second", "POST", "/alias-required", {"data": {"n": "3"}}),
    ("required-second-invalid", "POST", "/alias-required", {"data": {"n": "three"}}),
    ("required-missing", "POST", "/alias-required", {}),
    ("aliased-by-name", "POST", "/aliased-models", {"data": {"name": "Ann", "department": "R", "user": "a"}}),
    ("aliased-by-alias", "POST", "/aliased-models", {"data": {"display_name": "Ann", "department": "R"}}),
    ("aliased-optional-second", "POST", "/aliased-optional", {"data": {"user": "u"}}),
    ("aliased-optional-absent", "POST", "/aliased-optional", {}),
    ("factory-default", "POST", "/factory-default", {}),
    ("validated-default-invalid", "POST", "/validated-default", {}),
    ("validated-default-given", "POST", "/validated-default", {"data": {"count": "4"}}),
    ("json-field", "POST", "/json-field", {"data": {"items": '["a", "b"]'}}),
    ("json-field-invalid", "POST", "/json-field", {"data": {"items": "[1,"}}),
    ("json-field-repeated", "POST", "/json-field", {"data": {"items": ['["a"]', '["b"]']}}),
    ("shared-default-1", "POST", "/shared-default", {}),
    ("shared-default-2", "POST", "/shared-default", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    """FastAPI's answer to every case, collected once (in-process, through fulmen's TestClient)."""
    app = reraise_only_unanswered(build_app(fastapi))
    with fulmen.testclient.TestClient(app, raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES}


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every submission is answered exactly as FastAPI answers it (status, body, headers)."""
    client = serve(build_app(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def test_openapi_document_equals_fastapi() -> None:
    """The form bodies document each model under the names the form reads (alias choices, by name)."""
    assert_same(fastapi_document(build_app), fulmen_document(build_app))


def test_fastapi_answers_are_not_trivial(fastapi_answers: dict[str, Answer]) -> None:
    """The comparison covers successes and 422s (a broken app answering 500 everywhere would match)."""
    statuses = {a.status for a in fastapi_answers.values()}
    assert {200, 422} <= statuses
    assert 500 not in statuses
