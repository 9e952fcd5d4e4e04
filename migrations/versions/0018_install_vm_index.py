"""index install.vm_id: a VM's latest install without scanning every install

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every VM representation carries its latest install (GET /vms, pages of 100 VMs): only
    # the partial index of active installs covered vm_id, so each page read all of `install`.
    op.create_index(op.f("ix_install_vm_id"), "install", ["vm_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_install_vm_id"), table_name="install")
