"""乡镇基层治理数据看板 — core package (never imports streamlit outside dashboard.ui)."""

__version__ = "0.1.0"
