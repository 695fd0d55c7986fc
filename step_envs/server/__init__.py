"""The controller: the server that runs inside an environment (`step_envs.server.app`), the host's client of its
routes (`step_envs.server.client`), and the downloads both sides make (`step_envs.server.fetch`).

Only constants here: clients and providers import them without loading Flask.
"""

TOKEN_HEADER = "X-Step-Token"

SETTLE_MODES = ("damage", "grabs")
"""How ``/step/act`` knows the screen settled after an action: the X server reports drawing stopped (``damage``),
or two grabs a moment apart are identical (``grabs``); ``step_envs.server.screen`` has the details."""

A11Y_SCOPES = ("all", "active")
"""What ``/accessibility`` walks: the whole desktop (``all``), or the active window only (``active``: its
application's element under the desktop's, the panels and the other windows left out; the whole tree when no window
is active). ``step_envs.server.a11y`` has the details."""
