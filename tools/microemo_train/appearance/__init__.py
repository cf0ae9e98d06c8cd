"""``microemo-train appearance``: the appearance model (face crop -> core emotion) and its
fusion with the AU evidence, trained and calibrated on labelled stills; ``data`` the stills,
``extract`` the device's landmarker, AUs and crops on each, ``net`` and ``train`` the CNN,
``fuse`` the fusion and its calibration, ``write`` the model folder the device reads."""
