"""Who am I: lets a client check its token and role."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..auth import EVERYONE, current_principal, require

blp = Blueprint("meta", __name__, url_prefix="/api/v1", description="About the caller")


class WhoAmISchema(Schema):
    token_id = fields.Integer(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    customer_id = fields.Integer(allow_none=True, required=True)


@blp.route("/whoami")
class WhoAmI(MethodView):
    @blp.response(200, WhoAmISchema)
    @require(EVERYONE)
    def get(self) -> dict[str, Any]:
        """The token's id, name, role and customer."""
        p = current_principal()
        return {
            "token_id": p.token_id,
            "name": p.name,
            "role": p.role,
            "customer_id": p.customer_id,
        }
