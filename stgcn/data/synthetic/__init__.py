"""A synthetic Something-Something v2 dataset, written in the official layout.

``generate(out_dir, num_videos, seed)`` renders short videos of a skin-coloured hand moving
coloured, textured objects over textured backgrounds, with distractor objects, camera jitter,
appearance jitter and noise, and writes them exactly as the real SSv2 + Something-Else release lays
them out::

    out_dir/labels/something-something-v2-labels.json          {"Moving something up": "5", ...}
    out_dir/labels/something-something-v2-{train,validation}.json
    out_dir/labels/something-something-v2-test.json             [{"id": ...}]
    out_dir/20bn-something-something-v2/<id>.webm                VP9, 12 fps
    out_dir/bounding_box_smthsmth_part{1..4}.json                 Something-Else boxes
    out_dir/README.md                                             classes and how each is rendered
    out_dir/synthetic_manifest.json                               written last: the "complete" mark

The class of a video is carried only by the motion of the hand and the placeholder objects and by
their relations over time. Object colours, shapes, names and sizes, the background, the video
length, the distractors and the jitter are drawn from the same distributions for every class. The
second class of each temporal-reversal pair is rendered as the first class's video played backwards
(the same random draws, the frame order and the boxes reversed), so no single frame tells the two
apart.

Run it from the command line with ``python -m stgcn.data.synthetic --out DIR --videos N --seed S``.

The package, by idea (each module's docstring says more):

- :mod:`.classes`: the class catalogue (``CLASSES``, ``label_index``, ``class_groups``);
- :mod:`.scene`: shapes, colours, names and the geometry the motion scripts share;
- :mod:`.motion`: the motion script of each class (hand and object paths);
- :mod:`.render`: ``render_video``, a spec to frames and boxes;
- :mod:`.webm`: ``encode_webm``, the reproducible VP9/WebM writer;
- :mod:`.layout`: ids, splits, classes and lengths of the videos; box and label entries;
- :mod:`.writer`: ``generate``, the files, their reuse (``GENERATOR_SOURCE``: which modules it
  hashes) and the README, from ``README.template.md``;
- :mod:`.cli`: the command line.
"""

from stgcn.data.synthetic.classes import (
    CLASSES,
    SyntheticClass,
    class_groups,
    label_index,
)
from stgcn.data.synthetic.cli import main
from stgcn.data.synthetic.layout import BOX_FILES, LABELS_DIR, MANIFEST, SPLITS, VIDEOS_DIR
from stgcn.data.synthetic.render import RenderedVideo, VideoSpec, render_video
from stgcn.data.synthetic.webm import FPS, encode_webm
from stgcn.data.synthetic.writer import GENERATOR_SOURCE, GENERATOR_VERSION, generate

__all__ = [
    "BOX_FILES",
    "CLASSES",
    "FPS",
    "GENERATOR_SOURCE",
    "GENERATOR_VERSION",
    "LABELS_DIR",
    "MANIFEST",
    "SPLITS",
    "VIDEOS_DIR",
    "RenderedVideo",
    "SyntheticClass",
    "VideoSpec",
    "class_groups",
    "encode_webm",
    "generate",
    "label_index",
    "main",
    "render_video",
]
