"""登录 Log in: the login form; on the demo database also the demo accounts of each role."""
from dashboard.ui import auth as aui

aui.login_page()
