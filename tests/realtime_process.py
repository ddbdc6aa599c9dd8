"""One server process of the scale-out test: `python tests/realtime_process.py PORT`.

Configuration comes from the environment the test sets: CG_DYNAMODB_ENDPOINT,
CG_TABLE_PREFIX, CG_REDIS_URL (the shared broker), and the IAM device credential below.
"""

from __future__ import annotations

import os
import sys

import uvicorn

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from appsync.auth import AuthMode, AuthSettings  # noqa: E402
from appsync.auth.settings import IamCredential  # noqa: E402
from datasources.settings import Settings  # noqa: E402
from server import create_app  # noqa: E402

DEVICE_KEY, DEVICE_SECRET = "AKIDPOSDEVICE0000001", "pos-device-secret"


def main(port: int) -> None:
    auth = AuthSettings(
        default_mode=AuthMode.API_KEY,
        additional_modes=[AuthMode.AWS_IAM],
        iam_credentials={
            DEVICE_KEY: IamCredential(
                secret_access_key=DEVICE_SECRET,  # type: ignore[arg-type]
                user_arn="arn:aws:iam::000000000000:user/event-relay",
            )
        },
    )
    app = create_app(Settings(token_secret="test-secret"), auth_settings=auth)  # type: ignore[arg-type]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


if __name__ == "__main__":
    main(int(sys.argv[1]))
