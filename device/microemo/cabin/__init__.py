"""Vehicle-cabin readings on the same per-face stream as the emotions: eyes (openness,
blinks, PERCLOS, microsleeps), yawns, head and gaze attention. ``stage.CabinStage`` returns
typed ``CabinStep``s and plain per-face state dicts, never payloads. See docs/cabin.md."""
