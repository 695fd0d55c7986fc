"""Docker, below the providers that use it: the engine client (`step_envs.docker.engine`), the desktop image
(`step_envs.docker.image`: build context, cached builds, tags) and the step-gym containers on an engine
(`step_envs.docker.containers`: their labels, listing them, removing those whose owner is gone).

The Docker provider itself, one desktop per container, is `step_envs.providers.docker`; the process that runs
inside the container is `step_envs.providers.container`.
"""
