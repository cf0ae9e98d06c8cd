"""FACS benchmark and AU calibration: FACS-coded faces through the device's own stages.

items (data set adapters) -> record (landmarker observations, cached) -> replay (the
device's normalizer and AU estimator) -> metrics / fit (the calibration file the device
reads) -> report (docs/aus.md).
"""
