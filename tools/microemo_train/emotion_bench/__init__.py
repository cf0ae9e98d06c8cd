"""``microemo-train emotion-bench``: how well the device reads emotions on labelled stills or
clips, measured through ``microemo analyze`` itself (``cli``); the inputs (``inputs``), the
figures (``score``) and their report (``report``)."""
