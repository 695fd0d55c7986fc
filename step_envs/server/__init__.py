"""The controller: the server that runs inside an environment (`step_envs.server.app`), the host's client of its
routes (`step_envs.server.client`), and the downloads both sides make (`step_envs.server.fetch`).

Only constants here: clients and providers import them without loading Flask.
"""

TOKEN_HEADER = "X-Step-Token"

SETTLE_MODES = ("damage", "grabs")
"""How ``/step/act`` knows the screen settled after an action: the X server reports drawing stopped (``damage``),
or two grabs a moment apart are identical (``grabs``); ``step_envs.server.screen`` has the details."""
