"""The widget app: a small GTK 3 app (:mod:`step_envs.widgets.app`) that runs inside the desktop session and shows
one screen of widgets (click, type, tick, choose, drag, fill a form), reset by restarting the app rather than the
desktop, and the builder of those screens (:mod:`step_envs.widgets.form`: layout, the app's spec, the setup step
that starts it, the checker, the actions that operate each widget).

The widget suite's task templates, which build on the form, are :mod:`step_envs.tasks.templates.widgets`
(``widget_tasks()``, ``widget_task("widget-click-button/3")``, ``near_miss(task)``).
"""
