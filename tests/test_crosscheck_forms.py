"""Cross-check forms and files: the same app built with FastAPI and with fulmen answers the same submissions.

The app is written once against a framework module (``build_forms(fw)``); FastAPI's answers are collected once
in-process, fulmen's come through every front door (``serve``). Compared: status, body bytes and the headers
the app sets. The form models are pydantic for FastAPI; fulmen also gets a msgspec Struct and a dataclass in
their place (FastAPI supports only pydantic form models), and must answer exactly as FastAPI does with the
pydantic one.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Optional, Union

import fastapi
import httpx
import msgspec
import pydantic
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, ask, assert_same_as_fastapi
from tests.test_crosscheck_fastapi import _reraise_only_unanswered as reraise_only_unanswered

Case = tuple[str, str, str, dict[str, Any]]


class Login(pydantic.BaseModel):
    model_config = {"extra": "forbid"}

    username: str
    password: str
    remember: bool = False


class LoginStruct(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    remember: bool = False


class Profile(pydantic.BaseModel):
    name: str
    age: int = 18
    tags: list[str] = []


@dataclasses.dataclass
class ProfileData:
    name: str
    age: int = 18
    tags: list[str] = dataclasses.field(default_factory=list)


class ProfileStruct(msgspec.Struct):
    name: str
    age: int = 18
    tags: list[str] = []


class Card(pydantic.BaseModel):
    kind: str
    number: int


class Transfer(pydantic.BaseModel):
    kind: str
    accounts: list[str] = []


def _is_fulmen(fw: Any) -> bool:
    return fw.__name__ == "fulmen"


def build_forms(fw: Any, variant: str = "pydantic") -> Any:
    """Form fields, files and form models; ``variant`` picks fulmen's form model classes."""
    app = fw.FastAPI()
    Form, File, UploadFile = fw.Form, fw.File, fw.UploadFile
    LoginT: Any = Login
    ProfileT: Any = Profile
    if _is_fulmen(fw) and variant == "struct":
        LoginT, ProfileT = LoginStruct, ProfileStruct
    elif _is_fulmen(fw) and variant == "dataclass":
        ProfileT = ProfileData

    async def describe(f: Any) -> dict[str, Any]:
        content = await f.read()
        return {
            "filename": f.filename,
            "content_type": f.content_type,
            "size": f.size,
            "headers": dict(f.headers),
            "content": content.decode("latin-1"),
        }

    # -- tutorial: Form Data --------------------------------------------------------------------------------
    @app.post("/login/")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form()]):
        return {"username": username, "password_length": len(password)}

    @app.post("/typed/")
    async def typed(
        n: Annotated[int, Form()],
        flag: Annotated[bool, Form()] = False,
        ratio: Annotated[Optional[float], Form()] = None,
        tags: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
        nums: Annotated[list[int], Form()] = [],  # noqa: B006
    ):
        return {"n": n, "flag": flag, "ratio": ratio, "tags": tags, "nums": nums}

    @app.post("/constrained/")
    async def constrained(
        name: Annotated[str, Form(min_length=3, max_length=8)],
        code: Annotated[str, Form(pattern="^[A-Z]+$")] = "ABC",
        level: Annotated[int, Form(ge=1, le=5)] = 1,
        user_name: Annotated[Optional[str], Form(alias="user-name")] = None,
    ):
        return {"name": name, "code": code, "level": level, "user_name": user_name}

    @app.post("/sync-form/")
    def sync_form(word: str = Form(...), times: int = Form(2)):
        return {"text": " ".join([word] * times)}

    # -- tutorial: Request Files ----------------------------------------------------------------------------
    @app.post("/files/")
    async def create_file(file: Annotated[bytes, File()]):
        return {"file_size": len(file), "head": file[:20].decode("latin-1")}

    @app.post("/uploadfile/")
    async def create_upload_file(file: UploadFile):
        return await describe(file)

    @app.post("/uploadfile-described/")
    async def described(file: Annotated[UploadFile, File(description="A file read as UploadFile")]):
        return {"filename": file.filename}

    @app.post("/optional-files/")
    async def optional_files(
        file: Annotated[Optional[bytes], File()] = None, upload: Optional[UploadFile] = None
    ):
        return {
            "file": None if file is None else len(file),
            "upload": None if upload is None else upload.filename,
        }

    @app.post("/multiple/")
    async def multiple(files: Annotated[list[bytes], File()], uploads: list[UploadFile]):
        return {
            "sizes": [len(f) for f in files],
            "uploads": [await describe(u) for u in uploads],
        }

    @app.post("/optional-list/")
    async def optional_list(uploads: Optional[list[UploadFile]] = None):
        return {"names": None if uploads is None else [u.filename for u in uploads]}

    # -- tutorial: Request Forms and Files ------------------------------------------------------------------
    @app.post("/mixed/")
    async def mixed(
        file: Annotated[bytes, File()],
        fileb: Annotated[UploadFile, File()],
        token: Annotated[str, Form()],
    ):
        return {"file_size": len(file), "token": token, "fileb_content_type": fileb.content_type}

    @app.post("/same-part/")
    async def same_part(
        raw: Annotated[bytes, File(alias="doc")], upload: Annotated[UploadFile, File(alias="doc")]
    ):
        return {"raw": raw.decode(), "upload": (await upload.read()).decode()}

    @app.post("/form-as-bytes/")
    async def form_as_bytes(data: Annotated[bytes, Form()]):
        return {"data": data.decode("latin-1")}

    # -- tutorial: Form Models ------------------------------------------------------------------------------
    @app.post("/model/")
    async def model(data: Annotated[LoginT, Form()]):  # type: ignore[valid-type]
        return {"username": data.username, "password": data.password, "remember": data.remember}

    @app.post("/profile/")
    async def profile(data: Annotated[ProfileT, Form()]):  # type: ignore[valid-type]
        return {"name": data.name, "age": data.age, "tags": data.tags}

    @app.post("/optional-profile/")
    async def optional_profile(data: Annotated[Optional[ProfileT], Form()] = None):  # type: ignore[valid-type]
        return None if data is None else {"name": data.name, "age": data.age}

    @app.post("/model-and-field/")
    async def model_and_field(data: Annotated[ProfileT, Form()], note: Annotated[str, Form()]):  # type: ignore[valid-type]
        return {"name": data.name, "note": note}

    @app.post("/model-and-file/")
    async def model_and_file(data: Annotated[ProfileT, Form()], file: UploadFile):  # type: ignore[valid-type]
        return {"name": data.name, "tags": data.tags, "file": file.filename}

    @app.post("/union/")
    async def union(data: Annotated[Union[Card, Transfer], Form()]):
        return {"type": type(data).__name__, "data": data.model_dump()}

    @app.post("/body-and-file/")
    async def body_and_file(item: Profile, file: UploadFile, count: Annotated[int, fw.Body()] = 1):
        return {"item": item.name, "file": file.filename, "count": count}

    return app


_BIG_FIELD = "x" * (1024 * 1024 + 1)
_SPOOLED = b"0123456789abcdef" * (1024 * 128)  # 2 MiB: moves to disk

CASES: list[Case] = [
    # Form Data
    ("login-ok", "POST", "/login/", {"data": {"username": "ann", "password": "secret"}}),
    ("login-missing-one", "POST", "/login/", {"data": {"username": "ann"}}),
    ("login-missing-all", "POST", "/login/", {}),
    ("login-empty-string", "POST", "/login/", {"data": {"username": "", "password": "x"}}),
    ("login-json", "POST", "/login/", {"json": {"username": "ann", "password": "secret"}}),
    (
        "login-text",
        "POST",
        "/login/",
        {"content": b"username=ann", "headers": {"content-type": "text/plain"}},
    ),
    ("login-multipart", "POST", "/login/", {"files": {"username": (None, "ann"), "password": (None, "pw")}}),
    ("login-extra", "POST", "/login/", {"data": {"username": "a", "password": "b", "other": "c"}}),
    (
        "login-repeated",
        "POST",
        "/login/",
        {
            "content": b"username=a&username=b&password=p",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
    ),
    (
        "login-escapes",
        "POST",
        "/login/",
        {
            "content": b"username=caf%C3%A9+au+lait&password=%26%3D",
            "headers": {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        },
    ),
    (
        "login-file-for-str",
        "POST",
        "/login/",
        {"files": {"username": ("u.txt", b"x"), "password": (None, "y")}},
    ),
    (
        "typed-ok",
        "POST",
        "/typed/",
        {"data": {"n": "3", "flag": "yes", "ratio": "0.5", "tags": ["a", "b"], "nums": ["1", "2"]}},
    ),
    (
        "typed-invalid",
        "POST",
        "/typed/",
        {"data": {"n": "x", "flag": "maybe", "ratio": "r", "nums": ["1", "two"]}},
    ),
    ("typed-empty-optional", "POST", "/typed/", {"data": {"n": "1", "ratio": "", "tags": ["", "t"]}}),
    ("typed-no-content-type", "POST", "/typed/", {"content": b"n=1"}),
    (
        "constrained-ok",
        "POST",
        "/constrained/",
        {"data": {"name": "abcd", "code": "XY", "level": "5", "user-name": "bob"}},
    ),
    ("constrained-bad", "POST", "/constrained/", {"data": {"name": "ab", "code": "xy", "level": "9"}}),
    ("constrained-long", "POST", "/constrained/", {"data": {"name": "abcdefghij", "user_name": "no"}}),
    ("sync-form", "POST", "/sync-form/", {"data": {"word": "hi", "times": "3"}}),
    ("sync-form-default", "POST", "/sync-form/", {"data": {"word": "hi"}}),
    # Request Files
    ("files-ok", "POST", "/files/", {"files": {"file": ("a.txt", b"hello world")}}),
    ("files-string-field", "POST", "/files/", {"data": {"file": "plain text"}}),
    ("files-missing", "POST", "/files/", {"data": {"other": "1"}}),
    ("files-empty-input", "POST", "/files/", {"files": {"file": ("", b"")}}),
    ("files-empty-named", "POST", "/files/", {"files": {"file": ("empty.txt", b"")}}),
    ("files-json", "POST", "/files/", {"json": {"file": "x"}}),
    ("upload-ok", "POST", "/uploadfile/", {"files": {"file": ("notes.txt", b"some notes", "text/plain")}}),
    (
        "upload-no-type",
        "POST",
        "/uploadfile/",
        {
            "content": (
                b'--B\r\nContent-Disposition: form-data; name="file"; filename="raw.bin"\r\n'
                b"\r\nraw\r\n--B--\r\n"
            ),
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
    ),
    (
        "upload-extra-headers",
        "POST",
        "/uploadfile/",
        {
            "content": (
                b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
                b"Content-Type: text/csv\r\nX-Custom: yes\r\n\r\na,b\r\n--B--\r\n"
            ),
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
    ),
    ("upload-utf8-name", "POST", "/uploadfile/", {"files": {"file": ("résumé.txt", "été".encode())}}),
    ("upload-string", "POST", "/uploadfile/", {"data": {"file": "not a file"}}),
    ("upload-empty-input", "POST", "/uploadfile/", {"files": {"file": ("", b"")}}),
    ("upload-spooled", "POST", "/uploadfile/", {"files": {"file": ("big.bin", _SPOOLED)}}),
    ("upload-described", "POST", "/uploadfile-described/", {"files": {"file": ("d.txt", b"d")}}),
    ("optional-none", "POST", "/optional-files/", {}),
    (
        "optional-empty-inputs",
        "POST",
        "/optional-files/",
        {"files": {"file": ("", b""), "upload": ("", b"")}},
    ),
    (
        "optional-given",
        "POST",
        "/optional-files/",
        {"files": {"file": ("f", b"abc"), "upload": ("u.bin", b"")}},
    ),
    (
        "multiple-ok",
        "POST",
        "/multiple/",
        {
            "files": [
                ("files", ("a", b"1")),
                ("files", ("b", b"22")),
                ("uploads", ("c.txt", b"3", "text/plain")),
                ("uploads", ("d.txt", b"44")),
            ]
        },
    ),
    ("multiple-missing", "POST", "/multiple/", {"files": [("other", ("a", b"1"))]}),
    ("multiple-strings", "POST", "/multiple/", {"data": {"files": ["x", "yy"], "uploads": ["s"]}}),
    (
        "multiple-with-empty",
        "POST",
        "/multiple/",
        {
            "files": [
                ("files", ("", b"")),
                ("files", ("b", b"22")),
                ("uploads", ("", b"")),
                ("uploads", ("u", b"u")),
            ]
        },
    ),
    ("optional-list-none", "POST", "/optional-list/", {}),
    (
        "optional-list-given",
        "POST",
        "/optional-list/",
        {"files": [("uploads", ("a", b"1")), ("uploads", ("b", b"2"))]},
    ),
    # Request Forms and Files
    (
        "mixed-ok",
        "POST",
        "/mixed/",
        {"files": {"file": ("a", b"abc"), "fileb": ("b.png", b"x", "image/png")}, "data": {"token": "tok"}},
    ),
    ("mixed-missing", "POST", "/mixed/", {}),
    ("mixed-urlencoded", "POST", "/mixed/", {"data": {"file": "text", "fileb": "text", "token": "t"}}),
    ("same-part", "POST", "/same-part/", {"files": {"doc": ("doc.txt", b"shared content")}}),
    ("form-as-bytes-text", "POST", "/form-as-bytes/", {"data": {"data": "text"}}),
    ("form-as-bytes-file", "POST", "/form-as-bytes/", {"files": {"data": ("f.bin", b"bin")}}),
    # Form Models
    ("model-ok", "POST", "/model/", {"data": {"username": "ann", "password": "pw"}}),
    ("model-bool", "POST", "/model/", {"data": {"username": "ann", "password": "pw", "remember": "on"}}),
    ("model-extra", "POST", "/model/", {"data": {"username": "a", "password": "b", "extra": "x"}}),
    (
        "model-extra-repeated",
        "POST",
        "/model/",
        {"data": {"username": "a", "password": "b", "extra": ["x", "y"]}},
    ),
    ("model-missing", "POST", "/model/", {"data": {"username": "ann"}}),
    ("model-invalid", "POST", "/model/", {"data": {"username": "a", "password": "b", "remember": "perhaps"}}),
    ("model-json", "POST", "/model/", {"json": {"username": "ann", "password": "pw"}}),
    ("model-no-body", "POST", "/model/", {}),
    ("model-empty-value", "POST", "/model/", {"data": {"username": "", "password": "pw"}}),
    ("profile-ok", "POST", "/profile/", {"data": {"name": "n", "age": "30", "tags": ["a", "b"]}}),
    ("profile-one-tag", "POST", "/profile/", {"data": {"name": "n", "tags": "solo"}}),
    ("profile-extra-ignored", "POST", "/profile/", {"data": {"name": "n", "unknown": ["1", "2"]}}),
    ("profile-invalid", "POST", "/profile/", {"data": {"age": "old"}}),
    ("optional-profile-absent", "POST", "/optional-profile/", {}),
    ("optional-profile-other", "POST", "/optional-profile/", {"data": {"unrelated": "1"}}),
    ("optional-profile-given", "POST", "/optional-profile/", {"data": {"name": "n", "age": "2"}}),
    ("optional-profile-invalid", "POST", "/optional-profile/", {"data": {"age": "x"}}),
    ("model-and-field-ok", "POST", "/model-and-field/", {"data": {"name": "n", "note": "hello"}}),
    ("model-and-field-missing", "POST", "/model-and-field/", {"data": {"note": "hello"}}),
    (
        "model-and-file",
        "POST",
        "/model-and-file/",
        {"data": {"name": "n", "tags": ["t"]}, "files": {"file": ("m.txt", b"m")}},
    ),
    ("union-first", "POST", "/union/", {"data": {"kind": "card", "number": "42"}}),
    ("union-second", "POST", "/union/", {"data": {"kind": "t", "accounts": ["a", "b"]}}),
    ("union-second-one", "POST", "/union/", {"data": {"kind": "t", "accounts": "a"}}),
    ("union-invalid", "POST", "/union/", {"data": {"number": "x"}}),
    ("union-empty", "POST", "/union/", {}),
    (
        "body-and-file-string",
        "POST",
        "/body-and-file/",
        {"data": {"item": '{"name": "n"}', "count": "3"}, "files": {"file": ("b.txt", b"b")}},
    ),
    ("body-and-file-missing", "POST", "/body-and-file/", {"files": {"file": ("b.txt", b"b")}}),
    ("body-and-file-json", "POST", "/body-and-file/", {"json": {"item": {"name": "n"}}}),
    # Limits and malformed bodies
    ("too-many-fields", "POST", "/login/", {"data": {f"f{i}": "x" for i in range(1001)}}),
    (
        "too-many-files",
        "POST",
        "/multiple/",
        {"files": [("uploads", (f"{i}.txt", b"x")) for i in range(1001)]},
    ),
    ("big-urlencoded-field", "POST", "/login/", {"data": {"username": _BIG_FIELD, "password": "p"}}),
    (
        "big-multipart-field",
        "POST",
        "/login/",
        {"files": {"username": (None, _BIG_FIELD), "password": (None, "p")}},
    ),
    ("no-boundary", "POST", "/login/", {"content": b"x", "headers": {"content-type": "multipart/form-data"}}),
    (
        "garbage-multipart",
        "POST",
        "/login/",
        {"content": b"garbage\r\n--B--", "headers": {"content-type": "multipart/form-data; boundary=B"}},
    ),
    (
        "part-without-name",
        "POST",
        "/login/",
        {
            "content": (b'--B\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n--B--\r\n'),
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
    ),
    (
        "part-without-disposition",
        "POST",
        "/login/",
        {
            "content": b"--B\r\nX-A: b\r\n\r\nx\r\n--B--\r\n",
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
    ),
    (
        "truncated-multipart",
        "POST",
        "/login/",
        {
            "content": (
                b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\nann\r\n--B\r\n'
                b'Content-Disposition: form-data; name="password"\r\n\r\npw'
            ),
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
    ),
    (
        "latin1-charset",
        "POST",
        "/login/",
        {
            "content": (
                b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\ncaf\xe9\r\n--B\r\n'
                b'Content-Disposition: form-data; name="password"\r\n\r\npw\r\n--B--\r\n'
            ),
            "headers": {"content-type": "multipart/form-data; charset=latin-1; boundary=B"},
        },
    ),
    (
        "bad-utf8",
        "POST",
        "/login/",
        {
            "content": (
                b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\ncaf\xe9\r\n--B\r\n'
                b'Content-Disposition: form-data; name="password"\r\n\r\npw\r\n--B--\r\n'
            ),
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
    ),
]

VARIANTS = ["pydantic", "struct", "dataclass"]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    """FastAPI's answer to every case, collected once (in-process, through fulmen's TestClient)."""
    app = reraise_only_unanswered(build_forms(fastapi))
    with fulmen.testclient.TestClient(app, raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES}


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_answers(
    variant: str, serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    """Every submission is answered exactly as FastAPI answers it (status, body, headers)."""
    client = serve(build_forms(fulmen, variant))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def test_fastapi_answers_are_not_trivial(fastapi_answers: dict[str, Answer]) -> None:
    """The comparison covers successes, 422s and 400s (a broken app answering 500 everywhere would match)."""
    statuses = {a.status for a in fastapi_answers.values()}
    assert {200, 400, 422} <= statuses
    assert 500 not in statuses
