"""The controller server that runs inside an environment; see `step_envs.server.app`.

Only constants here: clients and providers import them without loading Flask.
"""

TOKEN_HEADER = "X-Step-Token"
