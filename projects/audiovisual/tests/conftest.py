import os
import sys

# The project's package lives beside its tests, outside the installed slowvid.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
