"""Streamlit's own English (file uploader, dialogs, menus, tooltips, date picker) in the UI's language.

Streamlit has no translations, and its uploader, "Page not found" dialog, toolbar and date picker
are drawn by its frontend. static/zh-ui.js rewrites exactly these strings in the page as they
appear; the words come from the catalogue (``streamlit.*``), keyed here by Streamlit's English.
"""
from __future__ import annotations

import functools
import json

import streamlit as st

from dashboard import i18n
from dashboard.ui import nav

# Streamlit 1.67's strings, whole (after trimming) → catalogue key
EXACT = {
    "Upload": "upload", "Upload directories": "upload_dirs", "Add files": "add_files",
    "Drag and drop a file here": "drop_here", "Drag and drop files here": "drop_here",
    "Drag and drop directories here": "drop_here",
    "File size is too small.": "file_too_small", "Only one file is allowed.": "one_file",
    "Page not found": "page_not_found",
    "The page that you have requested does not seem to exist. Running the app's main page.":
        "page_not_found_text",
    "Connection error": "connection_error", "Connecting": "connecting",
    "Is Streamlit still running? If you accidentally stopped Streamlit, just restart it in your terminal:":
        "connection_error_text",
    "Running...": "running", "Stop": "stop", "Rerun": "rerun", "Print": "print", "Settings": "settings",
    "About": "about", "Clear cache": "clear_cache", "Record a screencast": "screencast",
    "Main menu": "main_menu", "Skip to main content": "skip_to_main",
    "Fullscreen": "fullscreen", "Close fullscreen": "close_fullscreen", "Exit fullscreen": "close_fullscreen",
    "View fullscreen": "fullscreen",
    "Download as CSV": "download_csv", "Search": "search", "Show/hide columns": "columns",
    "Close": "close", "Clear all": "clear_all", "Select all": "select_all", "No results": "no_results",
    "Choose an option": "choose", "Collapse sidebar": "collapse_sidebar", "Expand sidebar": "expand_sidebar",
    "Show password": "show_password", "Hide password": "hide_password", "Copy to clipboard": "copy",
    "Sort ascending": "sort_asc", "Sort descending": "sort_desc", "Autosize": "autosize",
    "Pin column": "pin", "Unpin column": "unpin", "Hide column": "hide_column", "Format": "format",
    "Press Enter to apply": "enter_apply", "Press Enter to submit form": "enter_submit",
    "Sidebar": "sidebar", "App pages": "app_pages", "Link to heading": "heading_link", "Open": "open",
    "Increment": "increment", "Decrement": "decrement", "file upload": "upload",
    "Download plot as a PNG": "plot_png", "Download plot as a png": "plot_png", "Zoom": "zoom", "Pan": "pan",
    "Zoom in": "zoom_in", "Zoom out": "zoom_out", "Reset axes": "reset_axes", "Autoscale": "autoscale",
    "Box Select": "box_select", "Lasso Select": "lasso_select", "Reset view": "reset_axes",
    "Selected values": "selected", "Multiselect": "choose",
    "Su": "wd0", "Mo": "wd1", "Tu": "wd2", "We": "wd3", "Th": "wd4", "Fr": "wd5", "Sa": "wd6",
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
# regular expressions over the whole string → catalogue key (``$1`` marks the kept part)
PATTERNS = [
    (r"^(.+) per file$", "per_file"),
    (r"^File must be (.+) or smaller\.$", "file_too_large"),
    (r"^(.+) files are not allowed\.$", "type_not_allowed"),
    (r"^You have requested page /(.*), but no corresponding file was found in the app's pages/ "
     r"directory\. Running the app's main page\.$", "page_not_found_named"),
    (r"^Press (.+) to (apply|submit form)$", "enter_apply"),
    (r"^Help for (.+)$", "help_for"),
    (r"^Remove (.+)$", "remove"),
    (r"^Shortcut (.+)$", "shortcut"),
]


def table(lang: str = "zh") -> dict:
    """The translation table the page script receives: {exact: {en: text}, patterns: [[re, text]]}."""
    t = lambda k: i18n.t(f"streamlit.{k}", lang)  # noqa: E731
    exact = {en: t(k) for en, k in EXACT.items()}
    exact.update({m: i18n.t("streamlit.month", lang, n=i + 1) for i, m in enumerate(MONTHS)})
    pats = [[rx, t(k)] for rx, k in PATTERNS]
    for i, m in enumerate(MONTHS):     # the date picker's "December 2025"
        pats.append([rf"^{m} (\d{{4}})$", i18n.t("streamlit.month_year_n", lang, n=i + 1)])
    return {"exact": exact, "patterns": pats}


def install(lang: str) -> None:
    """Put the rewriting script in the page (Chinese UI only; English is Streamlit's own)."""
    if lang != "zh":
        return
    st.html(_snippet(lang), unsafe_allow_javascript=True)


@functools.lru_cache(maxsize=4)
def _snippet(lang: str) -> str:
    """The script and its table: the same bytes at every run (built once per process)."""
    js = (nav.ROOT / "static" / "zh-ui.js").read_text(encoding="utf-8")
    cfg = json.dumps(table(lang), ensure_ascii=False).replace("</", "<\\/")
    return (f'<div class="zh-ui"></div><script>window.__zhUiCfg = {cfg};\n{js}</script>'
            '<style>.stElementContainer:has(.zh-ui){display:none}</style>')
