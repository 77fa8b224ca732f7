"""What `streamlit run serve.py` serves: app.py behind the login gate (dashboard.web).

``st.App`` is Streamlit's supported way to add routes and middleware; the gate gives the
login its HttpOnly cookie, binds every WebSocket session to that login and refuses
uploads and media to clients without one. Running ``streamlit run app.py`` directly has
no gate: a browser can then not complete a login at all (the form's ticket has nowhere
to go), so the dashboard fails closed rather than open.
"""
import streamlit as st
from starlette.middleware import Middleware
from streamlit import config

from dashboard.web import LOGIN_HEADER, gate_for_dashboard

# Streamlit binds a session to these headers' values: a reconnect presenting the
# session id with another (or no) login gets a fresh session instead.
config.set_option("server.trustedUserHeaders", {LOGIN_HEADER: "dashboard_login"})

app = st.App("app.py", middleware=[
    Middleware(gate_for_dashboard, max_upload_mb=config.get_option("server.maxUploadSize"))])
