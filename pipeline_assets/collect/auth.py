"""Credentials are named in config by environment variable, never by value,
so configs can be committed and secrets stay in the deployment's env."""

from __future__ import annotations

import base64
import os
from typing import Mapping

from ..sources import AuthConfig, SourceConfigError


def auth_headers(source: str, auth: AuthConfig | None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    if auth is None:
        return {}
    env = os.environ if env is None else env

    def need(key: str, var: str | None) -> str:
        value = env.get(var or "")
        if not value:
            raise SourceConfigError(f"source {source}: auth.{key} names environment variable {var}, which is not set")
        return value

    if auth.type == "bearer":
        return {"Authorization": f"Bearer {need('token_env', auth.token_env)}"}
    if auth.type == "header":
        return {auth.header: need("token_env", auth.token_env)}
    user, pw = need("username_env", auth.username_env), need("password_env", auth.password_env)
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
