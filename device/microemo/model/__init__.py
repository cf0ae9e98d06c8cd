"""The model wing: everything about the signed model bundle the device runs.

``bundle`` the format (manifest, signature, hashes: load and verify), ``runner`` the TFLite
interpreter that runs a bundle over one window, ``selftest`` a bundle's reference windows
through that runner, ``store`` the bundles on disk (install, switch, roll back), ``updates``
the field update channel: ``commands`` (parse, verify, replay guard), ``archive`` (download,
unpack) and ``chunks`` (archives sent over MQTT); ``cli``
``microemo model``. It imports no other layer but the per-frame feature names
(``vision.features``) and the AU calibration's digest (``vision.calibration``, for
``bundle.calibration_mismatch``); ``emotion`` runs what it provides.
"""
