"""The interactive docs pages: Swagger UI (``/docs``), ReDoc (``/redoc``) and Swagger UI's OAuth2 redirect.

Same functions, arguments, defaults and HTML as ``fastapi.openapi.docs``. The script, stylesheet and favicon
URLs are parameters, so the pages can load their assets from anywhere (a CDN by default, as in FastAPI).
"""

from __future__ import annotations

import json
import os
from typing import Any

from fulmen.encoders import jsonable_encoder
from fulmen.requests import Request
from fulmen.responses import FileResponse, HTMLResponse, Response

__all__ = [
    "DOCS_ASSETS",
    "docs_asset_response",
    "get_redoc_html",
    "get_swagger_ui_html",
    "get_swagger_ui_oauth2_redirect_html",
    "swagger_ui_default_parameters",
]

SWAGGER_JS_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS_URL = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
FAVICON_URL = "https://fastapi.tiangolo.com/img/favicon.png"

#: Swagger UI's configuration unless overridden by ``swagger_ui_parameters`` (a template to copy from).
swagger_ui_default_parameters: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
}


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<``, ``>`` or ``&`` can end or open a tag)."""
    text = json.dumps(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text


def get_swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    swagger_js_url: str = SWAGGER_JS_URL,
    swagger_css_url: str = SWAGGER_CSS_URL,
    swagger_favicon_url: str = FAVICON_URL,
    oauth2_redirect_url: str | None = None,
    init_oauth: dict[str, Any] | None = None,
    swagger_ui_parameters: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The Swagger UI page that loads ``openapi_url`` (what ``/docs`` serves)."""
    settings = {**swagger_ui_default_parameters, **(swagger_ui_parameters or {})}
    parts = [
        "\n    <!DOCTYPE html>\n    <html>\n    <head>\n"
        '    <meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f'    <link type="text/css" rel="stylesheet" href="{swagger_css_url}">\n'
        f'    <link rel="shortcut icon" href="{swagger_favicon_url}">\n'
        f"    <title>{title}</title>\n"
        "    </head>\n    <body>\n"
        '    <div id="swagger-ui">\n    </div>\n'
        f'    <script src="{swagger_js_url}"></script>\n'
        "    <!-- `SwaggerUIBundle` is now available on the page -->\n"
        "    <script>\n"
        "    const ui = SwaggerUIBundle({\n"
        f"        url: '{openapi_url}',\n    "
    ]
    parts.extend(
        f"{_script_json(key)}: {_script_json(jsonable_encoder(value))},\n" for key, value in settings.items()
    )
    if oauth2_redirect_url:
        parts.append(f"oauth2RedirectUrl: window.location.origin + '{oauth2_redirect_url}',")
    parts.append(
        "\n    presets: [\n        SwaggerUIBundle.presets.apis,\n"
        "        SwaggerUIBundle.SwaggerUIStandalonePreset\n        ],\n    })"
    )
    if init_oauth:
        parts.append(f"\n        ui.initOAuth({_script_json(jsonable_encoder(init_oauth))})\n        ")
    parts.append("\n    </script>\n    </body>\n    </html>\n    ")
    return HTMLResponse("".join(parts))


def get_redoc_html(
    *,
    openapi_url: str,
    title: str,
    redoc_js_url: str = REDOC_JS_URL,
    redoc_favicon_url: str = FAVICON_URL,
    with_google_fonts: bool = True,
) -> HTMLResponse:
    """The ReDoc page that renders ``openapi_url`` (what ``/redoc`` serves)."""
    fonts = (
        "\n    <link "
        'href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700" '
        'rel="stylesheet">\n    '
        if with_google_fonts
        else ""
    )
    html = (
        "\n    <!DOCTYPE html>\n    <html>\n    <head>\n"
        f"    <title>{title}</title>\n"
        "    <!-- needed for adaptive design -->\n"
        '    <meta charset="utf-8"/>\n'
        '    <meta name="viewport" content="width=device-width, initial-scale=1">\n    '
        f"{fonts}\n"
        f'    <link rel="shortcut icon" href="{redoc_favicon_url}">\n'
        "    <!--\n    ReDoc doesn't change outer page styles\n    -->\n"
        "    <style>\n      body {\n        margin: 0;\n        padding: 0;\n      }\n    </style>\n"
        "    </head>\n    <body>\n"
        "    <noscript>\n"
        "        ReDoc requires Javascript to function. Please enable it to browse the documentation.\n"
        "    </noscript>\n"
        f'    <redoc spec-url="{openapi_url}"></redoc>\n'
        f'    <script src="{redoc_js_url}"> </script>\n'
        "    </body>\n    </html>\n    "
    )
    return HTMLResponse(html)


# Swagger UI's own oauth2-redirect.html (Apache-2.0, swagger-api/swagger-ui v4.14.0), as FastAPI serves it.
_OAUTH2_REDIRECT_SCRIPT = """
        'use strict';
        function run () {
            var oauth2 = window.opener.swaggerUIRedirectOauth2;
            var sentState = oauth2.state;
            var redirectUrl = oauth2.redirectUrl;
            var isValid, qp, arr;

            if (/code|token|error/.test(window.location.hash)) {
                qp = window.location.hash.substring(1).replace('?', '&');
            } else {
                qp = location.search.substring(1);
            }

            arr = qp.split("&");
            arr.forEach(function (v,i,_arr) { _arr[i] = '"' + v.replace('=', '":"') + '"';});
            qp = qp ? JSON.parse('{' + arr.join() + '}',
                    function (key, value) {
                        return key === "" ? value : decodeURIComponent(value);
                    }
            ) : {};

            isValid = qp.state === sentState;

            if ((
              oauth2.auth.schema.get("flow") === "accessCode" ||
              oauth2.auth.schema.get("flow") === "authorizationCode" ||
              oauth2.auth.schema.get("flow") === "authorization_code"
            ) && !oauth2.auth.code) {
                if (!isValid) {
                    oauth2.errCb({
                        authId: oauth2.auth.name,
                        source: "auth",
                        level: "warning",
                        message: "Authorization may be unsafe, passed state was changed in server. The passed state wasn't returned from auth server."
                    });
                }

                if (qp.code) {
                    delete oauth2.state;
                    oauth2.auth.code = qp.code;
                    oauth2.callback({auth: oauth2.auth, redirectUrl: redirectUrl});
                } else {
                    let oauthErrorMsg;
                    if (qp.error) {
                        oauthErrorMsg = "["+qp.error+"]: " +
                            (qp.error_description ? qp.error_description+ ". " : "no accessCode received from the server. ") +
                            (qp.error_uri ? "More info: "+qp.error_uri : "");
                    }

                    oauth2.errCb({
                        authId: oauth2.auth.name,
                        source: "auth",
                        level: "error",
                        message: oauthErrorMsg || "[Authorization failed]: no accessCode received from the server."
                    });
                }
            } else {
                oauth2.callback({auth: oauth2.auth, token: qp, isValid: isValid, redirectUrl: redirectUrl});
            }
            window.close();
        }

        if (document.readyState !== 'loading') {
            run();
        } else {
            document.addEventListener('DOMContentLoaded', function () {
                run();
            });
        }
    """  # noqa: E501


def get_swagger_ui_oauth2_redirect_html() -> HTMLResponse:
    """The page Swagger UI's OAuth2 login returns to (what ``/docs/oauth2-redirect`` serves)."""
    html = (
        '\n    <!doctype html>\n    <html lang="en-US">\n    <head>\n'
        "        <title>Swagger UI: OAuth2 Redirect</title>\n"
        "    </head>\n    <body>\n    <script>"
        f"{_OAUTH2_REDIRECT_SCRIPT}</script>\n    </body>\n    </html>\n        "
    )
    return HTMLResponse(content=html)


# -- offline assets ------------------------------------------------------------------------------------------
# Swagger UI and ReDoc builds shipped in the package (see static/NOTICE for versions and licences), which the
# app serves so /docs and /redoc need no network.
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: URL file name -> (path under ``STATIC_DIR``, media type) of each asset the docs pages load.
DOCS_ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": ("redoc/redoc.standalone.js", "text/javascript; charset=utf-8"),
}

#: Browsers may reuse an asset for a day without asking; after that an ``If-None-Match`` gets a 304.
DOCS_ASSET_CACHE_CONTROL = "public, max-age=86400"


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` (a list of tags, or ``*``) with the file's ETag."""
    tag = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def docs_asset_response(name: str, request: Request) -> Response:
    """One shipped docs asset (a key of ``DOCS_ASSETS``): the file with ETag, Last-Modified and
    Cache-Control, or a 304 when the request's ``If-None-Match`` holds its current ETag."""
    relative, media_type = DOCS_ASSETS[name]
    path = os.path.join(STATIC_DIR, relative)
    response = FileResponse(
        path,
        media_type=media_type,
        headers={"cache-control": DOCS_ASSET_CACHE_CONTROL},
        stat_result=os.stat(path),
    )
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        etag = next(v for k, v in response.raw_headers if k == b"etag").decode("latin-1")
        if _etag_matches(if_none_match, etag):
            return Response(
                status_code=304, headers={"etag": etag, "cache-control": DOCS_ASSET_CACHE_CONTROL}
            )
    return response
