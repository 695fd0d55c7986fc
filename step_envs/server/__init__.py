"""The controller: the server that runs inside an environment (`step_envs.server.app`), the host's client of its
routes (`step_envs.server.client`), and the downloads both sides make (`step_envs.server.fetch`).

Only constants here: clients and providers import them without loading Flask.
"""

TOKEN_HEADER = "X-Step-Token"
