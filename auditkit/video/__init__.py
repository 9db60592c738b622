"""Video releases: clips -> people -> tracks -> per-track cues -> scored attacks (issue 4, 5).

Modules: ``clips`` (one clip -> people, tracks and per-track features, cached), ``gallery``
(gallery clips and person crops -> appearance and gait samples), ``fusion`` (cross-validated
scores and the weights of the fused attack), ``audit`` (:func:`~auditkit.video.audit.audit_videos`).

:func:`audit_videos` turns the clips of a release and of a gallery into
:class:`~auditkit.result.AttackResult` objects (not yet risk-assessed), a JSON-ready ``video``
section for results.json, and the trajectory audit of the release tracks.

Video manifest convention
-------------------------
``manifest.csv`` rows whose ``path`` is a clip (``.mp4 .avi .mov .mkv``) come in two kinds:

- **box rows**: ``path=clip, frame=<0-based decode index>, x, y, w, h`` (pixels of the
  original frame), optional ``track`` (a label, unique within the clip), ``subject`` (ground
  truth), ``camera``, ``timestamp`` (ISO 8601 wall-clock time *of that frame*). When a clip has
  box rows they are the people (no detector runs); with ``track`` labels they are the tracks,
  without, the boxes are linked by the tracker. A track's ground truth is the majority
  ``subject`` over its boxes.
- **clip rows** (no ``frame``, no box): ``subject`` (everyone tracked in the clip is this
  person: a single-person clip), ``camera``, ``timestamp`` (ISO 8601 time of the clip's first
  frame). When a clip also has box rows but detection is forced (``boxes="detect"``), detected
  tracks take the majority subject of the manifest boxes they overlap (IoU >= 0.5).

The camera is the manifest's ``camera`` (majority over the clip's rows), else the clip's
folder name, else its file stem. Times are the manifest's timestamps when given, else seconds
from the clip's first frame (then trajectories of different clips are not aligned in time, and
the notes say so).

Gallery rule
------------
``gallery/<identity>/`` may hold **clips** and **images**. In a clip, people are detected
(background subtraction by default) and tracked; the **longest track is the identity** and the
other tracks are ignored (counted in the notes). It gives appearance samples (chunk means of
crop descriptors) and, when long and dense enough, gait samples (GEIs of ``gait_frames``-frame
chunks). An **image** taller than wide by 1.5x or more is a full-body person crop and gives an
appearance sample; other images are face photos, used only by the face cue (the face gallery the
caller extracted).

The attacker compares like with like: the release's person-wide de-identification (declared,
or estimated on release person boxes with :mod:`auditkit.obfuscation.estimate`, the default
``gallery_obfuscation="auto"``) is re-applied to every gallery person crop before the appearance
descriptor. On PETS 2009 with whole bodies blurred this took appearance rank-1 from 14% to 48%.

Attacks
-------
``appearance`` (LOMO+LAB descriptors, XQDA learned on the gallery), ``gait`` (GEI, PCA+LDA
learned on the gallery), ``face.video`` (faces leaked in release tracks vs the face gallery),
``fused`` (per-cue row z-scores, each multiplied by a weight learned by logistic regression on
*gallery* cross-validation scores only, summed over the cues a track has), plus the trajectory
singling-out attacks of :func:`auditkit.tables.trajectories.trajectory_audit`.
"""

