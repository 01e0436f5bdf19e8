"""Batteries that plug services and protocols into a fulmen app (PostgreSQL, MCP, CPU offload ...).

Each lives in its own module and imports its optional library only when used.
"""
