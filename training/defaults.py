"""Fine-tuning's choices that the CLI and the window show before any training code loads.

Import-light on purpose (no numpy, no torch): `photosift` registers every command at start-up, and the
window builds its training dialog from these.
"""

METHODS = ("stage1", "2sft", "mcip", "mcip+realign")
DEFAULT_METHOD = "mcip"  # see docs/fine-tuning.md: re-alignment measured no gain on new photos

# A library's larger classes are sampled so that fine-tuning takes a bounded time and memory whatever the
# library's size: with the starter model on 2 CPU cores a run costs ~0.3 s per photo (docs/fine-tuning.md), so the
# ceiling is under an hour there, and the CPU feature bank stays within its budget.
MAX_PER_CLASS = 200
MAX_PHOTOS = 10_000

FEW_HELD_OUT = 30  # below this many held-out photos, before/after numbers are flagged as rough
RESULT_METRICS = ("i2i_map", "nn1_acc", "zeroshot_acc", "t2i_r1", "t2i_r5", "t2i_r10")  # before/after tables

# Below this, before/after numbers cannot show a gain: the app says so and recommends keeping the base model.
MIN_MEASURE_PHOTOS = 40  # photos in the albums (or tags) that train
MIN_MEASURE_ALBUMS = 3  # albums with MIN_PER_CLASS or more photos (the ones with photos held out to measure)
