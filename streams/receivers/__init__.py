"""Private instances of real receivers (rsyslog, snmptrapd) on loopback ports, for the demo, the
tests and the benchmark: each runs with its own configuration and work directory, never touching
the system's daemons, and reads back what the receiver parsed."""
