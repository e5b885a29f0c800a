"""Put this checkout's rfpipe first on sys.path, so rule jobs run the same code as the Snakefile."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
