"""The base class every security scheme derives from."""

from fulmen.security.models import SecuritySchemeModel


class SecurityBase:
    """A security scheme: a callable dependency that also describes itself to OpenAPI.

    ``model.to_openapi()`` is the ``components.securitySchemes`` entry, registered under ``scheme_name``.
    """

    model: SecuritySchemeModel
    scheme_name: str
