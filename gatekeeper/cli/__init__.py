"""The command line: serve, worker, check (the local gate and its report formats), demo,
doctor, replay, the offline advisory mirror."""
