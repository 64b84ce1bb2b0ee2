"""/api/v1/users/…/mail-preferences: how a person receives each kind of mail (issue 14)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from certdesk.core.mail_kinds import Kind, Mode
from certdesk.web.deps import ActorDep, ServicesDep
from certdesk.web.problems import AUTHENTICATED, problems

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=AUTHENTICATED)

Login = Annotated[str, Path(min_length=1, max_length=64, description="Login ID, e.g. jdoe.")]


class PreferenceOut(BaseModel):
    kind: Kind
    label: str = Field(description="What the kind of mail is about, in words.")
    mode: Mode
    safety: bool = Field(description="A safety notice: it can go to the digest, never off.")


class PreferencesIn(BaseModel):
    choices: dict[Kind, Mode] = Field(
        min_length=1,
        max_length=len(Kind),
        examples=[{"submitted": "digest", "waiting": "off"}],
        description="Kind → immediate, digest (the daily digest) or off; applied together.",
    )


@router.get("/me/mail-preferences", response_model=list[PreferenceOut], responses=problems(403))
def my_mail_preferences(svc: ServicesDep, who: ActorDep) -> list[dict[str, object]]:
    """The signed-in person's mail preferences (every kind; immediate where none chosen)."""
    return [p.as_dict() for p in svc.mail_preferences.show(who)]


@router.put(
    "/me/mail-preferences", response_model=list[PreferenceOut], responses=problems(403, 422)
)
def set_my_mail_preferences(
    body: PreferencesIn, svc: ServicesDep, who: ActorDep
) -> list[dict[str, object]]:
    """Change some of the signed-in person's preferences; safety notices cannot be off."""
    wanted = {str(k): str(m) for k, m in body.choices.items()}
    return [p.as_dict() for p in svc.mail_preferences.set(who, wanted)]


@router.get(
    "/{login}/mail-preferences",
    response_model=list[PreferenceOut],
    responses=problems(403, 404, 422),
)
def user_mail_preferences(login: Login, svc: ServicesDep, who: ActorDep) -> list[dict[str, object]]:
    """A person's mail preferences (cert services; a delegated administrator its people)."""
    return [p.as_dict() for p in svc.mail_preferences.show(who, login)]


@router.put(
    "/{login}/mail-preferences",
    response_model=list[PreferenceOut],
    responses=problems(403, 404, 422),
)
def set_user_mail_preferences(
    login: Login, body: PreferencesIn, svc: ServicesDep, who: ActorDep
) -> list[dict[str, object]]:
    """Change a person's preferences (cert services; a delegated administrator its people)."""
    wanted = {str(k): str(m) for k, m in body.choices.items()}
    return [p.as_dict() for p in svc.mail_preferences.set(who, wanted, login)]
