"""Expose the FFmpeg libraries bundled in PyAV's wheel under their standard names.

torchcodec links against FFmpeg's shared libraries by their sonames (libavcodec.so.62, ...).
A machine without system FFmpeg still has them inside PyAV's wheel (av.libs/, renamed by
auditwheel, e.g. libavcodec-5e6b81c2.so.62.28.102). This makes a folder of links with the
standard names; put it on LD_LIBRARY_PATH before starting Python.

    python benchmarks/gpu/ffmpeg_links.py /tmp/ffmpeg && export LD_LIBRARY_PATH=/tmp/ffmpeg
"""

import glob
import os
import re
import sys


def main(out: str) -> None:
    import av

    libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
    os.makedirs(out, exist_ok=True)
    made = []
    for path in sorted(glob.glob(os.path.join(libs, "lib*.so*"))):
        # libavcodec-5e6b81c2.so.62.28.102 -> libavcodec.so.62; the hashed name is linked too,
        # since the libraries find each other by it in the folder they were loaded from.
        m = re.match(r"(lib.+?)-[0-9a-f]{8}\.so\.(\d+)", os.path.basename(path))
        if not m:
            continue
        for name in (f"{m.group(1)}.so.{m.group(2)}", os.path.basename(path)):
            link = os.path.join(out, name)
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(path, link)
        made.append(f"{m.group(1)}.so.{m.group(2)}")
    print(
        f"{len(made)} FFmpeg libraries of PyAV {av.__version__} linked in {out}: {' '.join(made)}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ffmpeg")
