"""Batteries that plug a library or an OS facility into fulmen; each module is imported only when used."""
