"""Network installs: iPXE scripts and installimage configs (render), machine endpoints (views)."""
