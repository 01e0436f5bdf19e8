"""OpenAPI: the schema document (``fulmen.openapi.utils.get_openapi``) and the docs pages
(``fulmen.openapi.docs``), with FastAPI's module layout, names and output.

Nothing here is imported by ``import fulmen``: the document is generated on the first ``app.openapi()`` call
(usually the first request to ``/openapi.json``), and pydantic, when installed, is imported only then.
"""
