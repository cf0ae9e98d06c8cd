"""``microemo analyze``: recorded video in, per-frame AUs, episode events and a picture out.

``cli`` the command, ``run`` one input through the pipeline into CSV and JSONL, ``plot`` the
picture (only ``analyze`` draws; the daemon never imports matplotlib).
"""
