"""Kubernetes Status bodies and the ApiError exception that carries them.

Every non-2xx answer kubesim gives is a metav1.Status built here, with the
message wording of apimachinery's pkg/api/errors.  Key order follows the
apiserver's own encoding: kind, apiVersion, metadata, status, message,
reason, details, code.
"""

REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(code, reason, message, details=None, metadata=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata if metadata is not None else {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success_body(details):
    """The body of an immediate DELETE (store.go finalizeDelete)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success", "details": details}


class ApiError(Exception):
    """An error answered to the client as a Status body."""

    def __init__(self, code, reason, message, details=None, headers=None,
                 metadata=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.metadata = metadata

    def body(self):
        return status_body(self.code, self.reason, self.message,
                           self.details, self.metadata)


def _details(group, kind, name, **extra):
    # Go's omitempty drops empty strings from StatusDetails.
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    d.update(extra)
    return d


def qualified(resource, group):
    """schema.GroupResource.String(): "plural.group", or "plural" for core."""
    return f"{resource}.{group}" if group else resource


def not_found(group, resource, name):
    return ApiError(404, "NotFound",
                    f'{qualified(resource, group)} "{name}" not found',
                    _details(group, resource, name))


def already_exists(group, resource, name):
    return ApiError(409, "AlreadyExists",
                    f'{qualified(resource, group)} "{name}" already exists',
                    _details(group, resource, name))


def generate_name_conflict(group, resource, name):
    return ApiError(409, "AlreadyExists",
                    f'{qualified(resource, group)} "{name}" already exists, the server '
                    "was not able to generate a unique name for the object",
                    _details(group, resource, name, retryAfterSeconds=1))


def conflict(group, resource, name, detail):
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource, group)} '
                    f'"{name}": {detail}',
                    _details(group, resource, name))


OPTIMISTIC_LOCK_MSG = ("the object has been modified; please apply your changes "
                       "to the latest version and try again")


def stale_update(group, resource, name):
    return conflict(group, resource, name, OPTIMISTIC_LOCK_MSG)


# field error types -> (StatusCause reason, message prefix), from
# apimachinery pkg/util/validation/field/errors.go
FIELD_ERRORS = {
    "invalid": ("FieldValueInvalid", "Invalid value"),
    "required": ("FieldValueRequired", "Required value"),
    "forbidden": ("FieldValueForbidden", "Forbidden"),
    "notsupported": ("FieldValueNotSupported", "Unsupported value"),
    "duplicate": ("FieldValueDuplicate", "Duplicate value"),
}


def field_error(kind, field, detail, value=None):
    """One field error: (reason, field, message-without-field)."""
    cause_reason, prefix = FIELD_ERRORS[kind]
    if value is not None:
        msg = f"{prefix}: {value}: {detail}" if detail else f"{prefix}: {value}"
    else:
        msg = f"{prefix}: {detail}" if detail else prefix
    return (cause_reason, field, msg)


def invalid(group, kind, name, errors):
    """422 Invalid (errors.go NewInvalid); errors from field_error()."""
    parts = [f"{field}: {msg}" for (_, field, msg) in errors]
    agg = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    gk = f"{kind}.{group}" if group else kind
    causes = [{"reason": r, "message": m, "field": f} for (r, f, m) in errors]
    return ApiError(422, "Invalid", f'{gk} "{name}" is invalid: {agg}',
                    _details(group, kind, name, causes=causes))


def forbidden(group, resource, name, detail):
    if not resource:
        msg = f"forbidden: {detail}"
    elif name:
        msg = f'{qualified(resource, group)} "{name}" is forbidden: {detail}'
    else:
        msg = f"{qualified(resource, group)} is forbidden: {detail}"
    return ApiError(403, "Forbidden", msg, _details(group, resource, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                    {})


def unknown_path():
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {})


def unsupported_media_type(ctype, accepted):
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media "
                    f"types include: {', '.join(accepted)}", {})


def expired(message, metadata=None):
    return ApiError(410, "Expired", message, metadata=metadata)


def too_large_rv(requested, current):
    return ApiError(504, "Timeout",
                    f"Too large resource version: {requested}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


def from_code(code, message, retry_after=None):
    """An injected or generic failure with the reason matching the code."""
    headers = {}
    details = None
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        details = {"retryAfterSeconds": int(retry_after)}
    return ApiError(code, REASON_BY_CODE.get(code, "InternalError"), message,
                    details, headers)
