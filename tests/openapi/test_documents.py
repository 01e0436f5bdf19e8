"""The OpenAPI document of every corpus app equals FastAPI's for the same app, to the byte.

Each app (``tests/openapi/apps.py``, plus the apps of the other cross-check suites) is built with FastAPI and
with fulmen; ``app.openapi()`` of both must serialise to the same JSON text (key order included). msgspec
Structs must document exactly as the equivalent pydantic models; the pydantic-free backend (a core-only
install) must give the same documents for apps without pydantic models.
"""

import json
import warnings
from collections.abc import Callable
from typing import Any

import fastapi
import pytest

import fulmen
import fulmen.exceptions
from tests import crosscheck_apps, crosscheck_deps_apps
from tests.openapi import apps
from tests.openapi.compare import assert_same, fastapi_document, fulmen_document
from tests.test_crosscheck_forms import build_forms as build_crosscheck_forms
from tests.test_crosscheck_security import build_forms as build_security_forms
from tests.test_crosscheck_security import build_security as build_crosscheck_security

CORPUS: dict[str, Callable[..., Any]] = {
    "parameters": apps.build_parameters,
    "param-examples": apps.build_param_examples,
    "bodies": apps.build_bodies,
    "rich-models": apps.build_rich_models,
    "responses": apps.build_responses,
    "response-variants": apps.build_response_variants,
    "separate-schemas-off": apps.build_separate_schemas_off,
    "metadata": apps.build_metadata,
    "routers": apps.build_routers,
    "unique-ids": apps.build_unique_ids,
    "callbacks": apps.build_callbacks,
    "root-path": apps.build_root_path,
    "minimal": apps.build_minimal,
    "empty": apps.build_empty,
    "dependencies": apps.build_dependencies,
    "security": apps.build_security,
    "forms": apps.build_forms,
    "app-settings": apps.build_app_settings,
    "streams": apps.build_streams,
    "custom-oauth2": apps.build_custom_oauth2,
    "non-finite-defaults": apps.build_non_finite_defaults,
    # The other cross-check suites' apps: every request feature they test shows in the document too.
    "crosscheck-params": crosscheck_apps.build_params,
    "crosscheck-routing": crosscheck_apps.build_routing,
    "crosscheck-dependencies": crosscheck_deps_apps.build_dependencies,
    "crosscheck-forms": build_crosscheck_forms,
    "crosscheck-security": build_crosscheck_security,
    "crosscheck-security-forms": build_security_forms,
}

#: Apps whose types are plain Python types, Structs, dataclasses and TypedDicts only: no pydantic needed.
PLAIN_CORPUS = [
    "parameters",
    "param-examples",
    "metadata",
    "unique-ids",
    "root-path",
    "minimal",
    "empty",
    "dependencies",
    "security",
    "custom-oauth2",
    "crosscheck-params",
    "crosscheck-security",
]

#: Apps whose models are swapped: FastAPI gets pydantic models, fulmen the Struct / dataclass equivalents.
MODEL_APPS: dict[str, Callable[..., Any]] = {
    "bodies": apps.build_bodies,
    "responses": apps.build_responses,
    "routers": apps.build_routers,
    "callbacks": apps.build_callbacks,
    "plain-models": apps.build_plain_models,
    "form-models": apps.build_form_models,
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_document_equals_fastapi(name: str) -> None:
    build = CORPUS[name]
    assert_same(fastapi_document(build), fulmen_document(build))


@pytest.mark.parametrize("name", PLAIN_CORPUS)
def test_document_without_pydantic_equals_fastapi(name: str) -> None:
    """The pydantic-free backend gives the same document for apps that use no pydantic models."""
    build = CORPUS[name]
    assert_same(fastapi_document(build), fulmen_document(build, plain=True))


@pytest.mark.parametrize("plain", [False, True], ids=["pydantic", "plain"])
@pytest.mark.parametrize("name", list(MODEL_APPS))
def test_structs_document_as_equivalent_pydantic_models(name: str, plain: bool) -> None:
    build = MODEL_APPS[name]
    if plain and name == "callbacks":
        pytest.skip("the callbacks app declares pydantic models of its own")
    assert_same(fastapi_document(build, apps.PYDANTIC), fulmen_document(build, apps.STRUCTS, plain=plain))


@pytest.mark.parametrize("plain", [False, True], ids=["pydantic", "plain"])
@pytest.mark.parametrize("name", list(MODEL_APPS))
def test_dataclasses_document_as_in_fastapi(name: str, plain: bool) -> None:
    """FastAPI documents dataclasses itself: fulmen must give the same document for the same dataclasses.

    Except as form models: FastAPI fills only pydantic models from a form, fulmen also fills dataclasses, and
    documents them as the equivalent pydantic form models.
    """
    build = MODEL_APPS[name]
    if plain and name == "callbacks":
        pytest.skip("the callbacks app declares pydantic models of its own")
    expected_models = apps.PYDANTIC if name == "form-models" else apps.DATACLASSES
    assert_same(
        fastapi_document(build, expected_models), fulmen_document(build, apps.DATACLASSES, plain=plain)
    )


def test_callback_paths_as_fastapi_docs_write_them() -> None:
    assert_same(
        fastapi_document(apps.build_callbacks, apps.PYDANTIC, "{$callback_url}"),
        fulmen_document(apps.build_callbacks, apps.PYDANTIC, "{$callback_url}"),
    )


def test_router_level_unique_id_function() -> None:
    assert_same(fastapi_document(apps.build_router_unique_ids), fulmen_document(apps.build_router_unique_ids))


def test_document_is_json_text_as_fastapi_serves_it() -> None:
    """Byte equality of the text, not only of the parsed value (floats stay floats, nothing is reordered)."""
    expected = fastapi_document(apps.build_rich_models)
    actual = fulmen_document(apps.build_rich_models)
    assert json.dumps(actual, sort_keys=False) == json.dumps(expected, sort_keys=False)
    assert '"exclusiveMinimum": 0.0' in json.dumps(actual)  # FastAPI's float round trip, kept


def test_duplicate_operation_ids_warn_as_fastapi() -> None:
    def build(fw: Any) -> Any:
        app = fw.FastAPI()

        @app.get("/a", operation_id="same")
        def a() -> None: ...

        @app.get("/b", operation_id="same")
        def b() -> None: ...

        return app

    with pytest.warns(UserWarning) as expected:
        build(fastapi).openapi()
    with pytest.warns(UserWarning) as actual:
        build(fulmen).openapi()
    assert [str(w.message) for w in actual] == [str(w.message) for w in expected]
    assert "Duplicate Operation ID same for function b" in str(actual[0].message)


def test_webhooks_and_callbacks_are_not_routed() -> None:
    from fulmen.testclient import TestClient

    app = apps.build_callbacks(fulmen)
    with TestClient(app) as client:
        assert client.post("/new-subscription", json={}).status_code == 404
        assert client.post("/callbacks/invoices/1", json={}).status_code == 404


def test_deprecated_arguments_warn_as_in_fastapi() -> None:
    """``example=`` and ``regex=`` warn with FastAPI's category and words, pointing at the user's call."""
    import fastapi.exceptions

    def caught(fw: Any) -> list[tuple[str, str, str]]:
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            apps.build_param_examples(fw)
            fw.Query(regex="^a")
        return [(type(w.message).__name__, str(w.message), w.filename) for w in found]

    expected = caught(fastapi)
    got = caught(fulmen)
    assert [(kind, message) for kind, message, _ in got] == [(kind, message) for kind, message, _ in expected]
    assert [m for _, m, _ in got].count("`example` has been deprecated, please use `examples` instead") == 2
    assert {kind for kind, _, _ in got} == {"FastAPIDeprecationWarning"}
    assert issubclass(fulmen.exceptions.FastAPIDeprecationWarning, UserWarning)
    assert issubclass(fastapi.exceptions.FastAPIDeprecationWarning, UserWarning)
    # Each points at the marker call in the app's own code (FastAPI's Body() warning points one frame off).
    assert [file.rsplit("/", 1)[-1] for _, _, file in got] == ["apps.py", "apps.py", "test_documents.py"]


def test_example_parameter_is_documented() -> None:
    """``example=`` (deprecated in FastAPI, which warns) still lands in the document as FastAPI's does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = fulmen_document(apps.build_param_examples)
    assert doc["paths"]["/ex/"]["get"]["parameters"][0]["example"] == "an example"
    assert doc["paths"]["/ex-body/"]["post"]["requestBody"]["content"]["application/json"]["example"] == {
        "a": 1
    }


def test_non_finite_defaults_are_served(serve: Callable[..., Any]) -> None:
    """/openapi.json answers (a 500 before: JSON has no Infinity); the old '= ...' is required at run time."""
    client = serve(apps.build_non_finite_defaults(fulmen))
    r = client.get("/openapi.json")
    assert r.status_code == 200
    params = r.json()["paths"]["/items/"]["get"]["parameters"]
    assert [p["schema"].get("default") for p in params] == [None, None, 0.5]
    assert r.json()["components"]["schemas"]["Limits"]["properties"]["steps"]["default"] == [1.0, None]
    missing = client.get("/required-old-style/")
    assert missing.status_code == 422 and missing.json()["detail"][0]["type"] == "missing"
