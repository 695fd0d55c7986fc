"""Android environments: android-env behind Gymnasium, AndroidWorld-style JSON actions and adb-checked tasks.

``gymnasium.make("step_envs/Android-v0", task="system-wifi", simulator="emulator" | "fake")``. Importing this
package does not import android_env; making an env does.
"""

from step_envs.android.actions import ACTION_TYPES, ActionError, AndroidAction, parse_action
from step_envs.android.env import AndroidEnv
from step_envs.android.tasks import ANDROID_TASKS, AndroidTask, android_tasks, make_task
from step_envs.providers.adb import (
           AdbError,
           AdbRunner,
           AndroidEnvAdbRunner,
           ReplayAdbRunner,
           SubprocessAdbRunner,
)
from step_envs.providers.emulator import EmulatorSettings

__all__ = ["ACTION_TYPES", "ANDROID_TASKS", "ActionError", "AdbError", "AdbRunner", "AndroidAction", "AndroidEnv",
           "AndroidEnvAdbRunner", "AndroidTask", "EmulatorSettings", "ReplayAdbRunner", "SubprocessAdbRunner",
           "android_tasks", "make_task", "parse_action"]
