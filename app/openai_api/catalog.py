"""Model ids the API answers to: "mimo-audio-instruct" and "mimo-audio-base" for the LMs
this server has configured, with the official repo names (and their last part) as aliases."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import ApiError, bad_request

INSTRUCT, BASE = "instruct", "base"
MODEL_IDS = {INSTRUCT: "mimo-audio-instruct", BASE: "mimo-audio-base"}
REPO_NAMES = {INSTRUCT: "XiaomiMiMo/MiMo-Audio-7B-Instruct", BASE: "XiaomiMiMo/MiMo-Audio-7B-Base"}
OWNER = "mimo-audio-studio"


@dataclass(frozen=True)
class Catalog:
    roles: tuple[str, ...]              # the configured LM roles
    created: int

    @classmethod
    def from_status(cls, status: dict) -> "Catalog":
        models = status.get("models", {})
        roles = tuple(r for r in (INSTRUCT, BASE) if models.get(r, {}).get("configured"))
        return cls(roles, int(time.time()))

    def role_of(self, model: object, *, needs: str, task: str) -> str:
        """Check the request's ``model``: 404 unknown, 400 when it cannot do ``task``."""
        if not isinstance(model, str) or not model:
            raise bad_request("model is required (see GET /v1/models)", param="model")
        role = next((r for r in MODEL_IDS if model.lower() in self._aliases(r)), None)
        if role is None or role not in self.roles:
            raise ApiError(404, f"the model {model!r} does not exist on this server; "
                           f"available: {', '.join(MODEL_IDS[r] for r in self.roles) or 'none'}",
                           param="model", code="model_not_found")
        if role != needs:
            raise bad_request(f"{MODEL_IDS[role]} cannot do {task}; use {MODEL_IDS[needs]}",
                              param="model", code="model_not_supported")
        return role

    @staticmethod
    def _aliases(role: str) -> tuple[str, ...]:
        repo = REPO_NAMES[role]
        return (MODEL_IDS[role], repo.lower(), repo.split("/")[-1].lower())

    def listing(self) -> dict:
        return {"object": "list",
                "data": [{"id": MODEL_IDS[r], "object": "model", "created": self.created, "owned_by": OWNER}
                         for r in self.roles]}
