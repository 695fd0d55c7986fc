"""Agents: the protocol the pool drives, and the built-in agents of the benchmark runner."""

from step_envs.agents.base import Agent, AgentAction, Turn, as_action

__all__ = ["Agent", "AgentAction", "Turn", "as_action"]
