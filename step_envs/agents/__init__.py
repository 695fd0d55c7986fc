"""Agents: the protocol the pool drives, and the built-in agents of the benchmark runner."""

from step_envs.actions import ParsedReply, parse_reply
from step_envs.agents.base import Agent, AgentAction, Turn, as_action
from step_envs.agents.registry import AGENTS, make_agent

__all__ = ["AGENTS", "Agent", "AgentAction", "ParsedReply", "Turn", "as_action", "make_agent", "parse_reply"]
