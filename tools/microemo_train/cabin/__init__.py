"""``microemo-train cabin-eval``: the cabin readings (eyes, yawns, attention) measured on
drives and talking faces generated with ``synth --cabin`` from the real clips."""
