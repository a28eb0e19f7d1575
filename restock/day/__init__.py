"""The store day: the whole graph brought up as processes, run for N days and reported on.

- day: ``restock sim`` (the graph on a confined DDS, the day monitor, the summary table)
- chaos: faults injected into a running day (node kills, dropped links)
- daystats: what a day counts (sales, lost sales, moves, tasks) and the planner's forecast
- report: the PNG plots and the HTML report of a run
- memory: each process's resident memory over the days
- operator_stand_in: a scripted operator that speaks the real bridge protocol

Besides restock/nodes, the only room that imports rclpy (the day monitor and chaos subscribe to
the graph); the simulator itself is restock/sim.
"""
