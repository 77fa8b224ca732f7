"""The only Streamlit-aware part of the core: cached facade, filters, page furniture."""
