"""Batteries that connect fulmen to other services; each module imports its library only when used."""
