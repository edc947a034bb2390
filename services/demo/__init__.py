"""The investigator demo on the synthetic city and its report (may use the world; the runtime never does)."""
