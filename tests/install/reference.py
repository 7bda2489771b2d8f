"""Reference data for the install test, from the bundled example models.

  reference.py prepare MODELS_DIR OUT_DIR NAME...
      writes OUT_DIR/NAME.f32 (every sample of input.npy, raw float32) and
      OUT_DIR/NAME.expected.npy (PyTorch's output for them)
  reference.py check EXPECTED.npy OUTPUT.txt MIN_SAMPLES
      checks every "sample I: class K (score S)" line of an example's output
      against the argmax and max of row I of the expected output
"""
import re
import sys

import numpy as np

LINE = re.compile(r"^sample (\d+): class (\d+) \(score (\S+)\)$")


def prepare(models_dir, out_dir, names):
    for name in names:
        x = np.load(f"{models_dir}/{name}/input.npy")
        np.ascontiguousarray(x, dtype="<f4").tofile(f"{out_dir}/{name}.f32")
        y = np.load(f"{models_dir}/{name}/expected.npy")
        np.save(f"{out_dir}/{name}.expected.npy", y.reshape(len(y), -1))


def check(expected_path, output_path, min_samples):
    expected = np.load(expected_path)
    seen = set()
    with open(output_path) as output:
        for line in output:
            match = LINE.match(line.strip())
            if not match:
                continue
            i, top1, score = int(match[1]), int(match[2]), float(match[3])
            row = expected[i]
            if top1 != int(row.argmax()):
                sys.exit(f"{output_path}: sample {i}: class {top1}, "
                         f"PyTorch says {int(row.argmax())}")
            if abs(score - row.max()) > 1e-4 + 1e-4 * abs(row.max()):
                sys.exit(f"{output_path}: sample {i}: score {score}, "
                         f"PyTorch says {row.max()}")
            seen.add(i)
    if len(seen) < min_samples:
        sys.exit(f"{output_path}: {len(seen)} samples checked, expected "
                 f"at least {min_samples}")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
