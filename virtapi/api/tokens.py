"""API tokens for admins: list, create (the token is shown once), revoke."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from ..auth import ADMIN, Principal, require
from ..db import get_session
from ..models import ROLES, ApiToken
from ..models.base import utcnow
from ..services import tokens as token_service
from ..services.errors import InvalidInput
from . import crud
from .fields import int64, ref_id, string, with_rule
from .filters import Filter

blp = Blueprint("tokens", __name__, url_prefix="/api/v1", description="API tokens (admins)")


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    customer_id = fields.Integer(required=True, allow_none=True)
    secrets = fields.Boolean(
        required=True, metadata={"description": "secrets scope: node documents carry Ceph keys"}
    )
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True, allow_none=True)
    revoked_at = fields.DateTime(required=True, allow_none=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)


class TokenCreatedSchema(TokenSchema):
    token = fields.String(
        required=True, metadata={"description": "the token; shown only in this response"}
    )


class TokenCreateSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    customer_id = with_rule(
        int64(1, allow_none=True, load_default=None, metadata={"description": "customers"}),
        "customer_id is required for role customer, and only for it",
    )
    name = string(128, load_default="")
    expires_at = with_rule(
        fields.AwareDateTime(allow_none=True, load_default=None), "expires_at is in the future"
    )
    secrets = with_rule(
        fields.Boolean(
            load_default=False,
            metadata={"description": "secrets scope: Ceph keys in node documents"},
        ),
        "secrets is refused for role customer",
    )


def _revoke(session: Session, principal: Principal, row: ApiToken) -> None:
    token_service.revoke(session, row.id, caller_token_id=principal.token_id)


TOKENS = crud.register(
    blp,
    crud.Resource(
        path="tokens",
        model=ApiToken,
        title="token",
        schema=TokenSchema,
        filters={
            "role": Filter(fields.String(validate=validate.OneOf(ROLES)), ApiToken.role),
            "customer_id": Filter(ref_id(), ApiToken.customer_id),
            "revoked": Filter(
                fields.Boolean(),
                lambda v: ApiToken.revoked_at.is_not(None) if v else ApiToken.revoked_at.is_(None),
            ),
        },
        read_roles=ADMIN,
        write_roles=ADMIN,
        delete=_revoke,
        description="Admins only. DELETE revokes (the row stays, with revoked_at). "
        "Filters: role, customer_id, revoked.",
    ),
)


@blp.route("/tokens", endpoint="tokens_create", tags=["tokens"])
class TokenCreate(MethodView):
    @require(ADMIN)
    @blp.arguments(TokenCreateSchema)
    @blp.alt_response(201, schema=TokenCreatedSchema, success=True, headers=crud.LOCATION_HEADER)
    @crud.document_errors(blp, 400, 401, 403)
    def post(self, data: dict[str, Any]) -> Response:
        """Create a token; the response holds the only copy of it"""
        session = get_session()
        expires = data["expires_at"]
        if expires is not None and expires <= utcnow():
            raise InvalidInput("expires_at is in the past", errors={"expires_at": ["in the past"]})
        row, plaintext = token_service.create_token(
            session,
            data["role"],
            customer_id=data["customer_id"],
            name=data["name"],
            expires_at=expires,
            secrets_scope=data["secrets"],
        )
        session.commit()
        body = {**TokenSchema().dump(row), "token": plaintext}
        location = url_for("tokens.tokens_item", id=row.id)
        return crud.json_response(body, 201, {"Location": location, "Cache-Control": "no-store"})
