"""What decides: the lost-sales planner (planner), robot timing (timing), lane state estimation
(lanes), the SQLite persistence (database), the planner node's logic without ROS (core), and the
evaluation harness with its store model and baseline policies (storemodel, policies, evaluate)."""
