"""Where episode steps become events and leave the device.

``events`` the payload (built once, from ``types.EpisodeStep``) and its JSON Schema,
``sequence`` per-device sequence numbers, ``sink`` the sink interface and fan-out, ``local``
JSON lines and the per-frame CSV, ``mqtt/`` the MQTT transport (sink, link, spool, topics,
discovery, face states, the ``microemo events`` watcher). It reads only the shared modules
(``types``, ``config``, ``secrets``), never ``vision``, ``emotion`` or ``model``.
"""
