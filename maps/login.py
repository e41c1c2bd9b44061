"""The login form of the control center pages (a plain HTML form: works without JavaScript)."""

from __future__ import annotations

from html import escape

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sealwatch · log in</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f3f4f6; margin: 0; }}
form {{ max-width: 320px; margin: 12vh auto; background: #fff; padding: 24px 28px; border-radius: 8px;
       box-shadow: 0 1px 4px rgba(0,0,0,.15); }}
h1 {{ font-size: 1.2em; margin: 0 0 16px; }}
label {{ display: block; margin: 10px 0 4px; font-size: .9em; }}
input {{ width: 100%; box-sizing: border-box; padding: 7px; font-size: 1em; }}
button {{ margin-top: 16px; width: 100%; padding: 8px; font-size: 1em; }}
.error {{ color: #b91c1c; font-size: .9em; }}
</style>
</head>
<body>
<form id="sealwatch-login" method="post" action="/login">
<h1>sealwatch</h1>
{error}
<input type="hidden" name="next" value="{next}">
<label for="username">User</label>
<input id="username" name="username" autocomplete="username" required autofocus value="{username}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>
</body>
</html>
"""


def render_login(next_path: str = "/", error: str | None = None, username: str = "") -> str:
    """The login page; ``next_path`` must already be a safe local path."""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _PAGE.format(error=message, next=escape(next_path, quote=True), username=escape(username, quote=True))
