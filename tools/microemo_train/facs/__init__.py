"""FACS benchmark and AU calibration: FACS-coded faces through the device's own stages.

adapters (``ckplus``, ``au_csv`` + ``disfa_bp4d``, ``manifest``) -> items (``FacsItem``:
frames, codes, neutral references) -> record (landmarker observations, cached) -> replay
(the device's normalizer and AU estimator) -> metrics / fit (the calibration file the device
reads) -> report (terminal, JSON, ``docs/aus.md``).
"""
