"""Where events leave the pipeline: schema, sinks, writers, MQTT."""
