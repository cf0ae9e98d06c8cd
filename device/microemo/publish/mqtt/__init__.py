"""The MQTT transport.

``sink.MqttSink`` (the ``Sink`` the daemon uses) hands events to a durable ``spool``;
``link`` runs the connection (a paho client made by ``client``), publishes and deletes on
PUBACK; ``topics`` builds every topic string; ``discovery`` and ``states`` make Home
Assistant's configs and the retained face states; ``watch`` is ``microemo events``, a
subscriber for debugging.
"""
