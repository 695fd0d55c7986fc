"""The `step-envs` command line: `main` builds the parser (`step_envs.cli.main`) from the command groups here:
tasks and ids (`main`), `bench` / `demo` (`bench`), `image` / `docker` (`docker`), `emulator` (`emulator`), and the
console they print to (`console`). ``python -m step_envs.cli`` is the same command.
"""
