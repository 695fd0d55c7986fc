"""OSWorld compatibility beyond its task files: the setup steps that reach past the controller (downloads into a
host cache, Chrome tabs through DevTools), in :mod:`step_envs.osworld.steps`."""
