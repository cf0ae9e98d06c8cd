"""The hub-side second opinion (``microemo-reason``): hard episodes to a language model, as
text only.

It runs beside the broker, never on a device and never on the frame path: it subscribes to
the devices' ``events``, picks the hard cases (``select``), writes each as text from an
allow-list of the event's fields (``case``: AUs, timing, the device's scores and rule; never
an image, crop, landmark or identifier), asks an OpenAI-compatible chat-completions endpoint
(``llm``) under a rate limit, a daily token budget, a circuit breaker and a cache
(``guard``), validates the answer (``answer``) and publishes ``refined`` beside the device's
events (``refined``, schema ``microemo.refined/1``), never changing them. ``service`` is the
MQTT side, ``replay`` the same over event files, ``cli`` the ``microemo-reason`` command.
No device package imports this one (``tests/test_layout.py``).
"""
