"""Models shipped with Vigil (open_clip local-dir folders) and their architecture configs."""
