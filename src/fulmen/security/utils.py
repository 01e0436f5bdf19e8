"""Small helpers shared by the security schemes."""


def get_authorization_scheme_param(authorization_header_value: str | None) -> tuple[str, str]:
    """Split an ``Authorization`` header value into ``(scheme, parameter)``.

    ``"Bearer abc "`` gives ``("Bearer", "abc")``; a missing or empty value gives ``("", "")``.
    """
    if not authorization_header_value:
        return "", ""
    scheme, _, param = authorization_header_value.partition(" ")
    return scheme, param.strip()
