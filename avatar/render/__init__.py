"""The portrait renderer: a motion frame (avatar/motion.py) -> an RGB frame of one portrait.

A mesh warp of a single photo driven by head pose and blendshapes, with eyelids,
irises and the mouth interior painted in; numpy + OpenCV on one CPU thread, no
torch. See docs/renderer.md for the design and the round-trip numbers.

Modules (dependencies go down the list, never up):

- layers.py: the layered portrait (person matte, inpainted background plate, premultiplied
  foreground), made once per portrait, and the per-frame compose;
- mesh.py: the render mesh (landmarks + head, hair and background rings) and the backward warp;
- expression.py: hand-designed actuator displacement fields in face units;
- eyes.py: eyelid painting and gaze (irises moved inside the eye openings);
- mouth.py: the mouth interior (cavity, teeth, tongue) between the inner lips;
- calibration.py: the calibration table (commanded blendshapes -> actuator amplitudes,
  head-pose gains, readout model) and its loading from avatar/data/render_calibration.json;
- renderer.py: PortraitRenderer, which puts the above together;
- roundtrip.py: render a commanded track, re-measure it with the landmarker, compare;
- calibration_fit.py: fits the calibration table by rendering and re-measuring (imports
  the renderer; docs/renderer.md);
- portrait_calibration.py: a portrait's own table, fitted on it and cached on disk;
  `calibration_for(portrait)` is the table a caller hands to PortraitRenderer (the
  renderer never imports this module or the fitter).
"""

from avatar.render.calibration import CALIBRATION_PATH, Calibration, load_calibration
from avatar.render.renderer import PortraitRenderer

__all__ = [
    "CALIBRATION_PATH",
    "Calibration",
    "PortraitRenderer",
    "load_calibration",
]
