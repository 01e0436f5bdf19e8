"""Forms and uploaded files through every front door: FastAPI's tutorial examples, UploadFile, big files that
spool to disk, many files, limits, ``request.form()`` and closing the files after the response.

Exact error bodies against FastAPI are in ``test_crosscheck_forms.py``; this file checks fulmen's own
behaviour (what the handler sees, when files are closed, what is parsed how).
"""

import dataclasses
import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Optional

import httpx
import msgspec
import pydantic
import pytest

from fulmen import (
    BackgroundTasks,
    FastAPI,
    FastAPIError,
    File,
    Form,
    Request,
    RequestValidationError,
    UploadFile,
)
from fulmen.datastructures import FormData
from fulmen.datastructures import UploadFile as DatastructuresUploadFile
from fulmen.responses import JSONResponse

Serve = Callable[..., httpx.Client]


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# ------------------------------------------------------------------------------------------------------------
# Tutorial: Form Data
# ------------------------------------------------------------------------------------------------------------
def test_form_data_tutorial(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/login/")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form()]):
        return {"username": username}

    client = serve(app)
    r = client.post("/login/", data={"username": "johndoe", "password": "secret"})
    assert r.status_code == 200
    assert r.json() == {"username": "johndoe"}
    # The same fields as multipart parts are read the same way.
    r = client.post("/login/", files={"username": (None, "johndoe"), "password": (None, "secret")})
    assert r.json() == {"username": "johndoe"}
    r = client.post("/login/", data={"username": "johndoe"})
    assert r.status_code == 422
    assert r.json() == {
        "detail": [{"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": None}]
    }


def test_json_body_to_form_route_reports_missing_fields(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/login/")
    async def login(username: Annotated[str, Form()], password: str = Form()):
        return {"username": username}

    r = serve(app).post("/login/", json={"username": "johndoe", "password": "secret"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "username"], ["body", "password"]]


def test_form_values_are_converted_and_lists_repeat(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/typed/")
    def typed(
        n: Annotated[int, Form()],
        flag: Annotated[bool, Form()] = False,
        tags: Annotated[list[str], Form()] = [],  # noqa: B006
        note: Annotated[Optional[str], Form(alias="the-note")] = None,
    ):
        return {"n": n, "flag": flag, "tags": tags, "note": note}

    client = serve(app)
    r = client.post("/typed/", data={"n": "7", "flag": "on", "tags": ["a", "b"], "the-note": "hi"})
    assert r.json() == {"n": 7, "flag": True, "tags": ["a", "b"], "note": "hi"}
    # An empty value counts as not sent: the default applies.
    r = client.post("/typed/", data={"n": "1", "the-note": ""})
    assert r.json() == {"n": 1, "flag": False, "tags": [], "note": None}
    r = client.post(
        "/typed/",
        content=b"n=1&tags=x&tags=caf%C3%A9+cr%C3%A8me",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["tags"] == ["x", "café crème"]


def test_default_list_is_not_shared_between_requests(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/append/")
    async def append(tags: Annotated[list[str], Form()] = []):  # noqa: B006
        tags.append("added")
        return tags

    client = serve(app)
    assert client.post("/append/").json() == ["added"]
    assert client.post("/append/").json() == ["added"]


# ------------------------------------------------------------------------------------------------------------
# Tutorial: Form Models
# ------------------------------------------------------------------------------------------------------------
class LoginForm(pydantic.BaseModel):
    model_config = {"extra": "forbid"}

    username: str
    password: str


class LoginStruct(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


@dataclasses.dataclass
class LoginData:
    username: str
    password: str
    remember: bool = False


@pytest.mark.parametrize(
    "model", [LoginForm, LoginStruct, LoginData], ids=["pydantic", "struct", "dataclass"]
)
def test_form_models(serve: Serve, model: Any) -> None:
    app = FastAPI()

    @app.post("/login/")
    async def login(data: Annotated[model, Form()]):  # type: ignore[valid-type]
        return {"type": type(data).__name__, "username": data.username, "password": data.password}

    client = serve(app)
    r = client.post("/login/", data={"username": "ann", "password": "pw"})
    assert r.json() == {"type": model.__name__, "username": "ann", "password": "pw"}
    r = client.post("/login/", data={"username": "ann"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "type": "missing",
            "loc": ["body", "password"],
            "msg": "Field required",
            "input": {"username": "ann"},
        }
    ]
    r = client.post("/login/", data={"username": "ann", "password": "pw", "extra": "x"})
    if model is LoginData:  # a dataclass has no extra-field policy: extras are ignored
        assert r.status_code == 200
    else:
        assert r.status_code == 422
        assert r.json()["detail"] == [
            {
                "type": "extra_forbidden",
                "loc": ["body", "extra"],
                "msg": "Extra inputs are not permitted",
                "input": "x",
            }
        ]


# ------------------------------------------------------------------------------------------------------------
# Tutorial: Request Files
# ------------------------------------------------------------------------------------------------------------
def test_request_files_tutorial(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/files/")
    async def create_file(file: Annotated[bytes, File()]):
        return {"file_size": len(file)}

    @app.post("/uploadfile/")
    async def create_upload_file(file: UploadFile):
        content = await file.read()
        return {
            "filename": file.filename,
            "content_type": file.content_type,
            "size": file.size,
            "sha": hashlib.sha256(content).hexdigest(),
            "is_upload": isinstance(file, UploadFile),
        }

    client = serve(app)
    assert client.post("/files/", files={"file": ("a.txt", b"hello")}).json() == {"file_size": 5}
    data = b"\x00\x01binary\xff" * 100
    r = client.post("/uploadfile/", files={"file": ("data.bin", data, "application/x-thing")})
    assert r.json() == {
        "filename": "data.bin",
        "content_type": "application/x-thing",
        "size": len(data),
        "sha": hashlib.sha256(data).hexdigest(),
        "is_upload": True,
    }


def test_optional_and_multiple_files(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/optional/")
    async def optional(file: Annotated[Optional[bytes], File()] = None, upload: Optional[UploadFile] = None):
        return {"file": file is not None, "upload": None if upload is None else upload.filename}

    @app.post("/multiple/")
    async def multiple(files: Annotated[list[bytes], File()], uploads: list[UploadFile]):
        return {"sizes": [len(f) for f in files], "names": [u.filename for u in uploads]}

    client = serve(app)
    assert client.post("/optional/").json() == {"file": False, "upload": None}
    # A file input left empty in a browser: empty filename and no content means "not sent".
    assert client.post("/optional/", files={"file": ("", b""), "upload": ("", b"")}).json() == {
        "file": False,
        "upload": None,
    }
    assert client.post("/optional/", files={"upload": ("u.txt", b"u")}).json() == {
        "file": False,
        "upload": "u.txt",
    }
    r = client.post(
        "/multiple/",
        files=[
            ("files", ("a", b"1")),
            ("files", ("b", b"22")),
            ("uploads", ("c", b"")),
            ("uploads", ("d", b"4")),
        ],
    )
    assert r.json() == {"sizes": [1, 2], "names": ["c", "d"]}


def test_forms_and_files_mixed(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/files/")
    async def create_file(
        file: Annotated[bytes, File()], fileb: Annotated[UploadFile, File()], token: Annotated[str, Form()]
    ):
        return {"file_size": len(file), "token": token, "fileb_content_type": fileb.content_type}

    r = serve(app).post(
        "/files/", files={"file": ("a", b"abc"), "fileb": ("b.png", b"x", "image/png")}, data={"token": "t"}
    )
    assert r.json() == {"file_size": 3, "token": "t", "fileb_content_type": "image/png"}


def test_upload_file_api_in_async_and_sync_handlers(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/async/")
    async def async_handler(file: UploadFile):
        first = await file.read(4)
        rest = await file.read()
        await file.seek(0)
        again = await file.read()
        await file.write(b"+more")
        await file.seek(0)
        return {
            "first": first.decode(),
            "rest": rest.decode(),
            "again": again.decode(),
            "after_write": (await file.read()).decode(),
            "size": file.size,
            "headers": dict(file.headers),
        }

    @app.post("/sync/")
    def sync_handler(file: UploadFile):
        # ``def`` handlers use the plain Python file object.
        return {"content": file.file.read().decode(), "thread": threading.current_thread().name}

    client = serve(app)
    r = client.post("/async/", files={"file": ("t.txt", b"abcdefgh", "text/plain")})
    assert r.json() == {
        "first": "abcd",
        "rest": "efgh",
        "again": "abcdefgh",
        "after_write": "abcdefgh+more",
        "size": 13,
        "headers": {
            "content-disposition": 'form-data; name="file"; filename="t.txt"',
            "content-type": "text/plain",
        },
    }
    r = client.post("/sync/", files={"file": ("t.txt", b"sync")})
    assert r.json()["content"] == "sync"
    assert r.json()["thread"].startswith("fulmen-sync")


def test_bytes_and_upload_of_the_same_part(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/both/")
    async def both(
        raw: Annotated[bytes, File(alias="doc")], upload: Annotated[UploadFile, File(alias="doc")]
    ):
        # Reading the part into ``raw`` must not move the file under ``upload``.
        return {"raw": raw.decode(), "upload": (await upload.read()).decode()}

    r = serve(app).post("/both/", files={"doc": ("d.txt", b"shared")})
    assert r.json() == {"raw": "shared", "upload": "shared"}


def test_utf8_names_and_values(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/u/")
    async def u(file: UploadFile, title: Annotated[str, Form()]):
        return {"filename": file.filename, "title": title, "content": (await file.read()).decode()}

    r = serve(app).post("/u/", files={"file": ("résumé.txt", "naïve".encode())}, data={"title": "Ünïcödé ✓"})
    assert r.json() == {"filename": "résumé.txt", "title": "Ünïcödé ✓", "content": "naïve"}


# ------------------------------------------------------------------------------------------------------------
# Big and many files
# ------------------------------------------------------------------------------------------------------------
def test_big_file_spools_to_disk(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/big/")
    async def big(file: UploadFile, small: UploadFile):
        digest = hashlib.sha256()
        while chunk := await file.read(256 * 1024):
            digest.update(chunk)
        return {
            "size": file.size,
            "sha": digest.hexdigest(),
            "on_disk": file.file._rolled,  # type: ignore[attr-defined]
            "small_on_disk": small.file._rolled,  # type: ignore[attr-defined]
        }

    data = bytes(range(256)) * (6 * 4096)  # 6 MiB
    r = serve(app).post("/big/", files={"file": ("big.bin", data), "small": ("s.bin", b"x" * 1024)})
    assert r.status_code == 200
    assert r.json() == {
        "size": len(data),
        "sha": hashlib.sha256(data).hexdigest(),
        "on_disk": True,
        "small_on_disk": False,
    }


def test_many_files(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/many/")
    async def many(uploads: list[UploadFile]):
        return [[u.filename, (await u.read()).decode()] for u in uploads]

    files = [("uploads", (f"f{i}.txt", f"content {i}".encode())) for i in range(300)]
    r = serve(app).post("/many/", files=files)
    assert r.json() == [[f"f{i}.txt", f"content {i}"] for i in range(300)]


def test_engine_body_limit_applies_to_forms(serve: Serve, front_door: str) -> None:
    if front_door != "engine":
        pytest.skip("the body size limit (413) is the engine's; other servers have their own")
    app = FastAPI()

    @app.post("/up/")
    async def up(file: UploadFile):
        return {"size": file.size}

    r = serve(app).post("/up/", files={"file": ("huge.bin", b"x" * (17 * 1024 * 1024))})
    assert r.status_code == 413


# ------------------------------------------------------------------------------------------------------------
# Limits and malformed bodies
# ------------------------------------------------------------------------------------------------------------
def test_default_limits(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/f/")
    async def f(uploads: Annotated[Optional[list[UploadFile]], File()] = None, name: str = Form("x")):
        return {"n": 0 if uploads is None else len(uploads)}

    client = serve(app)
    ok = client.post("/f/", files=[("uploads", (f"{i}", b"x")) for i in range(1000)])
    assert ok.json() == {"n": 1000}
    r = client.post("/f/", files=[("uploads", (f"{i}", b"x")) for i in range(1001)])
    assert (r.status_code, r.json()) == (400, {"detail": "Too many files. Maximum number of files is 1000."})
    r = client.post("/f/", data={f"k{i}": "v" for i in range(1001)})
    assert (r.status_code, r.json()) == (
        400,
        {"detail": "Too many fields. Maximum number of fields is 1000."},
    )
    r = client.post("/f/", files={"name": (None, "n" * (1024 * 1024 + 1))})
    assert (r.status_code, r.json()) == (400, {"detail": "Part exceeded maximum size of 1024KB."})
    r = client.post("/f/", data={"name": "n" * (1024 * 1024)})
    assert (r.status_code, r.json()) == (400, {"detail": "Field exceeded maximum size of 1024KB."})
    # Files have no per-part limit (only the server's body limit).
    r = client.post("/f/", files={"uploads": ("big", b"y" * (2 * 1024 * 1024))})
    assert r.json() == {"n": 1}


def test_malformed_multipart_is_400(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/f/")
    async def f(name: str = Form()):
        return name

    client = serve(app)

    def post(body: bytes, content_type: str) -> httpx.Response:
        return client.post("/f/", content=body, headers={"content-type": content_type})

    assert post(b"x", "multipart/form-data").json() == {"detail": "Missing boundary in multipart."}
    r = post(b"not multipart\r\n--B--", "multipart/form-data; boundary=B")
    assert (r.status_code, r.json()) == (400, {"detail": "Invalid multipart data."})
    r = post(
        b'--B\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n--B--\r\n',
        "multipart/form-data; boundary=B",
    )
    assert r.json() == {"detail": 'The Content-Disposition header field "name" must be provided.'}
    r = post(
        b'--B\r\nContent-Disposition: form-data; name="name"\r\n\r\nok\r\n--B--\r\n',
        "multipart/form-data; boundary=B",
    )
    assert r.json() == "ok"


# ------------------------------------------------------------------------------------------------------------
# request.form()
# ------------------------------------------------------------------------------------------------------------
def test_request_form(serve: Serve) -> None:
    app = FastAPI()

    @app.post("/form/")
    async def read_form(request: Request):
        form = await request.form()
        again = await request.form()
        out: dict[str, Any] = {"cached": form is again, "type": type(form).__name__, "keys": list(form)}
        out["items"] = [[k, v.filename if isinstance(v, UploadFile) else v] for k, v in form.multi_items()]
        out["tags"] = form.getlist("tag")
        out["last_tag"] = form.get("tag")
        # A form read by hand is the handler's to close (as in Starlette), or use ``async with``.
        await form.close()
        return out

    client = serve(app)
    r = client.post("/form/", data={"tag": ["a", "b"], "x": "1"})
    assert r.json() == {
        "cached": True,
        "type": "FormData",
        "keys": ["tag", "x"],
        "items": [["tag", "a"], ["tag", "b"], ["x", "1"]],
        "tags": ["a", "b"],
        "last_tag": "b",
    }
    r = client.post("/form/", files={"doc": ("d.txt", b"d")}, data={"tag": "t"})
    assert r.json()["items"] == [["tag", "t"], ["doc", "d.txt"]]
    # Any other content type reads as an empty form.
    r = client.post("/form/", json={"tag": "t"})
    assert r.json()["items"] == []


def test_request_form_context_manager_and_limits(serve: Serve) -> None:
    app = FastAPI()
    seen: list[UploadFile] = []

    @app.post("/ctx/")
    async def ctx(request: Request):
        async with request.form() as form:
            upload = form["doc"]
            assert isinstance(upload, UploadFile)
            seen.append(upload)
            content = await upload.read()
        return {"content": content.decode(), "closed_after_block": upload.file.closed}

    @app.post("/limited/")
    async def limited(request: Request):
        async with request.form(max_files=1, max_fields=2, max_part_size=10) as form:
            return len(form)

    client = serve(app)
    assert client.post("/ctx/", files={"doc": ("d", b"data")}).json() == {
        "content": "data",
        "closed_after_block": True,
    }
    assert client.post("/limited/", files=[("a", ("1", b"1"))]).json() == 1
    r = client.post("/limited/", files=[("a", ("1", b"1")), ("b", ("2", b"2"))])
    assert r.json() == {"detail": "Too many files. Maximum number of files is 1."}
    r = client.post("/limited/", data={"a": "1", "b": "2", "c": "3"})
    assert r.json() == {"detail": "Too many fields. Maximum number of fields is 2."}
    r = client.post("/limited/", files={"a": (None, "01234567890")})
    assert r.json() == {"detail": "Part exceeded maximum size of 0KB."}


# ------------------------------------------------------------------------------------------------------------
# Closing files
# ------------------------------------------------------------------------------------------------------------
def test_files_are_closed_after_the_response(serve: Serve) -> None:
    app = FastAPI()
    kept: list[UploadFile] = []

    @app.post("/keep/")
    async def keep(file: UploadFile, big: UploadFile):
        kept.extend([file, big])
        return {"open": not file.file.closed and not big.file.closed}

    client = serve(app)
    r = client.post("/keep/", files={"file": ("a", b"a"), "big": ("b", b"b" * (2 * 1024 * 1024))})
    assert r.json() == {"open": True}
    assert _wait_for(lambda: all(f.file.closed for f in kept))


def test_files_are_closed_after_an_error(serve: Serve) -> None:
    app = FastAPI()
    kept: list[UploadFile] = []

    @app.post("/fail/")
    async def fail(file: UploadFile, n: Annotated[int, Form()]):
        kept.append(file)
        raise RuntimeError("boom")

    @app.post("/invalid/")
    async def invalid(file: UploadFile, n: Annotated[int, Form()]):
        return "unreachable"

    @app.exception_handler(RequestValidationError)
    async def keep_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # RequestValidationError.body is the parsed FormData, as in FastAPI.
        kept.extend(v for _, v in exc.body.multi_items() if isinstance(v, UploadFile))
        return JSONResponse({"body": type(exc.body).__name__}, status_code=422)

    client = serve(app)
    assert client.post("/fail/", files={"file": ("a", b"a")}, data={"n": "1"}).status_code == 500
    assert _wait_for(lambda: kept[0].file.closed)
    r = client.post("/invalid/", files={"file": ("b", b"b")}, data={"n": "x"})
    assert (r.status_code, r.json()) == (422, {"body": "FormData"})
    assert len(kept) == 2
    assert _wait_for(lambda: kept[1].file.closed)


def test_files_stay_open_for_background_tasks(serve: Serve) -> None:
    app = FastAPI()
    results: list[Any] = []
    done = threading.Event()

    async def store(upload: UploadFile) -> None:
        results.append((await upload.read()).decode())
        results.append(upload)
        done.set()

    @app.post("/later/")
    async def later(file: UploadFile, tasks: BackgroundTasks):
        tasks.add_task(store, file)
        return "queued"

    r = serve(app).post("/later/", files={"file": ("a", b"read in the background")})
    assert r.json() == "queued"
    assert done.wait(5)
    assert results[0] == "read in the background"
    assert _wait_for(lambda: results[1].file.closed)


# ------------------------------------------------------------------------------------------------------------
# Declarations
# ------------------------------------------------------------------------------------------------------------
def test_upload_file_is_exported() -> None:
    import fulmen

    assert fulmen.UploadFile is DatastructuresUploadFile is UploadFile
    assert "UploadFile" in fulmen.__all__


def test_form_data_is_an_immutable_multidict() -> None:
    form = FormData([("a", "1"), ("a", "2"), ("b", "3")])
    assert form["a"] == "2"
    assert form.getlist("a") == ["1", "2"]
    assert list(form) == ["a", "b"]
    assert len(form) == 2
    assert form == FormData([("b", "3"), ("a", "1"), ("a", "2")])
    assert form != FormData([("a", "1")])
    assert FormData({"x": "y"}, z="w").multi_items() == [("x", "y"), ("z", "w")]
    with pytest.raises(TypeError):
        form["c"] = "4"  # type: ignore[index]


def test_missing_python_multipart_fails_at_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "python_multipart", None)  # makes ``import python_multipart`` fail
    app = FastAPI()

    @app.post("/json/")
    async def json_route(data: dict[str, int]):  # no form field: registers fine
        return data

    for declare in (
        lambda: app.post("/a/")(lambda name=Form(): name),
        lambda: app.post("/b/")(lambda file=File(): file),
    ):
        with pytest.raises(FastAPIError, match=r'pip install "fulmen\[multipart\]"'):
            declare()

    def upload_only(file: UploadFile) -> None: ...

    with pytest.raises(FastAPIError, match=r"route POST '/c/'.*pip install \"fulmen\[multipart\]\""):
        app.post("/c/")(upload_only)


def test_routes_without_forms_do_not_load_the_parser() -> None:
    code = """
import sys
from fulmen import FastAPI
from fulmen.testclient import TestClient
app = FastAPI()
@app.post("/j")
async def j(data: dict[str, int]):
    return data
with TestClient(app) as c:
    assert c.post("/j", json={"a": 1}).json() == {"a": 1}
    assert c.post("/j", data={"a": "1"}).status_code == 422
assert "python_multipart" not in sys.modules, "the multipart parser was imported"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_unsupported_form_annotation_fails_at_registration() -> None:
    app = FastAPI()

    class NotValidatable:
        pass

    with pytest.raises(FastAPIError, match="parameter 'thing'"):

        @app.post("/x/")
        async def x(thing: Annotated[NotValidatable, Form()]):
            return None


def test_form_fields_in_a_dependency(serve: Serve) -> None:
    from fulmen import Depends

    class Credentials:
        def __init__(self, username: Annotated[str, Form()], file: Optional[UploadFile] = None) -> None:
            self.username = username
            self.filename = None if file is None else file.filename

    app = FastAPI()

    @app.post("/dep/")
    async def dep(creds: Annotated[Credentials, Depends()], note: Annotated[str, Form()] = ""):
        return {"username": creds.username, "file": creds.filename, "note": note}

    client = serve(app)
    r = client.post("/dep/", data={"username": "ann", "note": "n"}, files={"file": ("f.txt", b"f")})
    assert r.json() == {"username": "ann", "file": "f.txt", "note": "n"}
    r = client.post("/dep/", data={"note": "n"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": None}
    ]
