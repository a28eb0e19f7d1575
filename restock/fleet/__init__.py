"""The fleet: one operator pool for many stores, a fleet service on PostgreSQL, and its sizing.

Pure logic (no rclpy, no sockets): :mod:`restock.fleet.queue` (what waiting costs, the order of the
open handoffs, the claim rules) and :mod:`restock.fleet.sizing` (the M/G/c simulation that drives
that queue, beside Erlang C). Around them: :mod:`restock.fleet.store` (psycopg 3 on PostgreSQL:
claims with ``SELECT ... FOR UPDATE SKIP LOCKED``, queue changes by LISTEN/NOTIFY) and
:mod:`restock.fleet.service` (aiohttp over HTTPS/WSS: robots connect out, operators claim). The
robot's side: :mod:`restock.fleet.link` and :mod:`restock.fleet.uplink`, which the teleop bridge
runs (restock.teleop.fleet_side); a fleet day is restock.day.fleet_day (`restock sim --fleet N`).
"""
