"""Micro-expression ground truth and how well the device spots it.

``synth`` (``microemo-train synth``) warps AU episodes onto real face clips, with ``warp``
(the AU templates, ``au_templates.toml``, and the mesh warp). ``spot-eval`` (``cli``) makes a
set of such clips (``plan``), runs the device pipeline over them (``record``), scores the
spotted episodes the MEGC way (``score``) and writes the tables (``report``).
"""
