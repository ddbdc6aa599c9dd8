"""AWS_IAM: Signature Version 4 (service `appsync`) against credentials the server trusts.

The signature is recomputed with botocore's own `SigV4Auth` over the request as received:
method, raw path, raw query, exactly the headers named in `SignedHeaders` (with their
received values) and the raw body, at the request's `x-amz-date`. Then:

- `x-amz-date` within ±`iam_clock_skew_seconds` (AWS: 5 minutes) of our clock;
- the credential scope is `<that date>/<iam_region>/appsync/aws4_request`;
- `host` and `x-amz-date` are signed; `x-amz-security-token` matches the credential's
  session token when one is configured, and is refused when none is;
- an `x-amz-content-sha256` header must be the body's real hash: botocore would otherwise
  sign the header's claim instead of the body (`UNSIGNED-PAYLOAD` included), letting a
  tampered body through;
- signatures are compared in constant time.

Failures are what AWS's SigV4 front door answers, observed for AppSync IAM calls (403 with
`x-amzn-ErrorType: InvalidSignatureException`, amplify-js#2422, aws-mobile-appsync-sdk-js#344):
403 `InvalidSignatureException`, `IncompleteSignatureException` or
`UnrecognizedClientException`. They subclass `UnauthorizedError`, so the edge renders them
like every refusal. As on AWS, a signed request can be replayed within the skew window.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.client import HTTPMessage

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from appsync.auth.identity import IamIdentity
from appsync.auth.modes import SIGV4_PREFIX
from appsync.auth.settings import IamCredential
from appsync.errors import UnauthorizedError

__all__ = [
    "IncompleteSignatureError",
    "InvalidSignatureError",
    "SigV4Verifier",
    "UnrecognizedClientError",
]

SERVICE = "appsync"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your"
    " AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class InvalidSignatureError(UnauthorizedError):
    status_code = 403
    error_type = "InvalidSignatureException"
    default_message = _SIGNATURE_MISMATCH


class IncompleteSignatureError(UnauthorizedError):
    status_code = 403
    error_type = "IncompleteSignatureException"
    default_message = (
        "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."
    )


class UnrecognizedClientError(UnauthorizedError):
    status_code = 403
    error_type = "UnrecognizedClientException"
    default_message = "The security token included in the request is invalid."


class _ExactHeadersSigV4(SigV4Auth):
    """botocore's signer, restricted to the headers the client says it signed.

    botocore picks headers itself (it skips `user-agent`, `expect`, ...); a verifier must
    use the client's list or it would reject clients that sign other headers.
    """

    def __init__(self, credentials: Credentials, region: str, signed: list[str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPMessage:
        selected = HTTPHeaders()
        for name in self._signed:
            selected[name] = request.headers[name]
        return selected


class SigV4Verifier:
    def __init__(
        self,
        credentials: Mapping[str, IamCredential],
        *,
        region: str,
        clock_skew_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = dict(credentials)
        self._region = region
        self._skew = clock_skew_seconds
        self._clock = clock

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, method: str, path: str, query: str
    ) -> IamIdentity:
        """`headers` with lower-case names; `path` and `query` as on the wire (encoded)."""
        access_key, scope, signed, signature = _parse(headers.get("authorization", ""))
        amz_date = headers.get("x-amz-date", "")
        timestamp = self._check_date(amz_date)
        credential = self._credentials.get(access_key)
        if credential is None:
            raise UnrecognizedClientError()
        if scope != [amz_date[:8], self._region, SERVICE, "aws4_request"]:
            raise InvalidSignatureError(_scope_problem(scope, amz_date[:8], self._region))
        if "host" not in signed or "x-amz-date" not in signed:
            raise InvalidSignatureError(
                "'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization."
            )
        if any(name not in headers for name in signed):
            raise InvalidSignatureError()
        self._check_session_token(credential, headers.get("x-amz-security-token"))
        claimed_hash = headers.get("x-amz-content-sha256")
        if claimed_hash is not None and claimed_hash != hashlib.sha256(body).hexdigest():
            raise InvalidSignatureError(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        expected = _signature(
            access_key, credential, self._region, signed, headers, body,
            method=method, path=path, query=query, timestamp=timestamp,
        )  # fmt: skip
        # Bytes: compare_digest refuses non-ASCII str, and header values are attacker-chosen.
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise InvalidSignatureError()
        return IamIdentity(
            account_id=credential.account_id,
            user_arn=credential.user_arn,
            username=credential.principal_name,
        )

    def _check_date(self, amz_date: str) -> str:
        try:
            signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise IncompleteSignatureError(
                "Authorization header requires existence of a valid 'X-Amz-Date' header."
            ) from None
        now = self._clock()
        if signed_at < now - self._skew:
            raise InvalidSignatureError(
                f"Signature expired: {amz_date} is now earlier than"
                f" {_amz(now - self._skew)} ({_amz(now)} - {self._skew // 60} min.)"
            )
        if signed_at > now + self._skew:
            raise InvalidSignatureError(
                f"Signature not yet current: {amz_date} is still later than"
                f" {_amz(now + self._skew)} ({_amz(now)} + {self._skew // 60} min.)"
            )
        return amz_date

    @staticmethod
    def _check_session_token(credential: IamCredential, sent: str | None) -> None:
        expected = credential.session_token
        if expected is None and sent is None:
            return
        if (
            expected is None
            or sent is None
            or not hmac.compare_digest(expected.get_secret_value().encode(), sent.encode())
        ):
            raise UnrecognizedClientError()


def _parse(authorization: str) -> tuple[str, list[str], list[str], str]:
    """(access key id, scope after it, signed header names, signature)."""
    if not authorization.startswith(SIGV4_PREFIX + " "):
        raise IncompleteSignatureError()
    fields: dict[str, str] = {}
    for part in authorization[len(SIGV4_PREFIX) :].split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value.strip()
    credential, signed, signature = (
        fields.get("Credential", ""),
        fields.get("SignedHeaders", ""),
        fields.get("Signature", ""),
    )
    access_key, _, scope = credential.partition("/")
    if not access_key or not scope or not signed or not signature:
        raise IncompleteSignatureError()
    names = signed.split(";")
    if names != sorted(names) or any(not n or n != n.lower() for n in names):
        raise InvalidSignatureError()  # canonical form: lower-case, sorted
    return access_key, scope.split("/"), names, signature


def _scope_problem(scope: list[str], date: str, region: str) -> str:
    if len(scope) != 4 or scope[3] != "aws4_request":
        return "Credential should be scoped with a valid terminator: 'aws4_request'."
    if scope[0] != date:
        return (
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date"
            f" from HTTP: '{scope[0]}' != '{date}'."
        )
    if scope[1] != region:
        return f"Credential should be scoped to a valid region, not '{scope[1]}'."
    return f"Credential should be scoped to correct service: '{SERVICE}'."


def _signature(
    access_key: str,
    credential: IamCredential,
    region: str,
    signed: list[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    query: str,
    timestamp: str,
) -> str:
    url = f"https://{SERVICE}.invalid{path or '/'}" + (f"?{query}" if query else "")
    request = AWSRequest(
        method=method.upper(), url=url, headers={n: headers[n] for n in signed}, data=body
    )
    request.context["timestamp"] = timestamp
    signer = _ExactHeadersSigV4(
        Credentials(access_key, credential.secret_access_key.get_secret_value()), region, signed
    )
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def _amz(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(_AMZ_DATE)
