"""Agents: the built-in agents of the benchmark runner and their registry, and the protocol the pool drives
(`step_envs.pool.agent`), named here too."""

from step_envs.actions import ParsedReply, parse_reply
from step_envs.agents.registry import AGENTS, make_agent
from step_envs.pool.agent import Agent, AgentAction, Turn, as_action

__all__ = ["AGENTS", "Agent", "AgentAction", "ParsedReply", "Turn", "as_action", "make_agent", "parse_reply"]
